"""Zip archives: a Word document, or a WhatsApp export holding a chat file."""

import io
import zipfile

from orchestrator_service.rag.documents import ParsedDocument, ParseError
from orchestrator_service.rag.parsers.sniff import reading
from orchestrator_service.rag.parsers.whatsapp import chat_member, parse_chat_file
from orchestrator_service.rag.parsers.word import parse_docx

_MAX_UNZIPPED = 512 * 1024 * 1024  # a zip that claims to expand further is refused (zip bomb)


def parse_zip(data: bytes, label: str) -> ParsedDocument:
    """A zip by what it holds: `word/document.xml` is Word, else look for a WhatsApp chat."""
    with reading(label):
        archive = zipfile.ZipFile(io.BytesIO(data))
    with archive:
        members = archive.infolist()
        if sum(member.file_size for member in members) > _MAX_UNZIPPED:
            raise ParseError(
                f"The {label} expands to more than {_MAX_UNZIPPED >> 20} MiB; it cannot be indexed."
            )
        if any(member.filename == "word/document.xml" for member in members):
            return parse_docx(data)
        chat = chat_member(members)
        if chat is None:
            raise ParseError(
                "The zip archive holds neither a Word document nor a WhatsApp chat (.txt). "
                "Upload the document itself, or the zip that WhatsApp's 'Export chat' produces."
            )
        return parse_chat_file(archive, chat)
