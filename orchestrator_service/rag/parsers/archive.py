"""Zip archives: a Word document, or a WhatsApp export holding a chat file."""

import io
import zipfile

from orchestrator_service.rag.documents import ParsedDocument, ParseError
from orchestrator_service.rag.limits import ParseLimits, over_limit
from orchestrator_service.rag.parsers.sniff import reading
from orchestrator_service.rag.parsers.whatsapp import chat_member, parse_chat_file
from orchestrator_service.rag.parsers.word import parse_docx


def parse_zip(data: bytes, label: str, limits: ParseLimits) -> ParsedDocument:
    """A zip by what it holds: `word/document.xml` is Word, else look for a WhatsApp chat.

    Sizes are the ones the archive declares: `zipfile` never expands a member past its
    declared size (it stops there, and the CRC check fails), so they bound what is read.
    """
    with reading(label):
        archive = zipfile.ZipFile(io.BytesIO(data))
    with archive:
        members = archive.infolist()
        if sum(member.file_size for member in members) > limits.max_expanded_mb << 20:
            raise over_limit(
                f"The {label} expands to", f"{limits.max_expanded_mb:,} MiB", "max_expanded_mb"
            )
        body = next((m for m in members if m.filename == "word/document.xml"), None)
        if body is not None:
            if body.file_size > limits.max_docx_xml_mb << 20:
                raise over_limit(
                    "The Word document's text and markup (word/document.xml) take",
                    f"{limits.max_docx_xml_mb:,} MiB",
                    "max_docx_xml_mb",
                )
            return parse_docx(data, limits)
        chat = chat_member(members)
        if chat is None:
            raise ParseError(
                "The zip archive holds neither a Word document nor a WhatsApp chat (.txt). "
                "Upload the document itself, or the zip that WhatsApp's 'Export chat' produces."
            )
        return parse_chat_file(archive, chat, limits)
