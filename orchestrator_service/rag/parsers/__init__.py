"""Turn an upload's bytes into a ParsedDocument, choosing the parser by content.

Binary formats are recognised by their signature (`filetype`): PDF, and zip archives, which
are either a Word document (`word/document.xml`) or a WhatsApp export (a `.txt` chat file).
Anything else must decode as text; text is then told apart by what it contains: WhatsApp
chat lines, HTML markup, a consistent CSV table, Markdown markers, else plain text. The
file name's extension is only a hint that relaxes the HTML, CSV and Markdown checks.

One module per format: pdf, word (.docx), archive (zip), whatsapp, webpage (HTML), tabular
(CSV), text (Markdown and plain text); sniff holds what they share. The names keep clear of
`docx`, `html` and `csv`, the libraries those modules import.

Every failure is a ParseError whose message tells a person what to do about it; an upload
that would expand past a ParseLimits cap fails naming the setting it went over. This code runs
only in the ingestion worker processes (rag/sandbox), under their memory and time limits.
"""

from pathlib import PurePath

import filetype

from orchestrator_service.rag.documents import ParsedDocument, ParseError
from orchestrator_service.rag.limits import ParseLimits, over_limit
from orchestrator_service.rag.parsers.archive import parse_zip
from orchestrator_service.rag.parsers.pdf import parse_pdf
from orchestrator_service.rag.parsers.sniff import decode
from orchestrator_service.rag.parsers.tabular import csv_dialect, parse_csv
from orchestrator_service.rag.parsers.text import parse_plain
from orchestrator_service.rag.parsers.webpage import looks_like_html, parse_html
from orchestrator_service.rag.parsers.whatsapp import looks_like_chat, parse_chat

SUPPORTED = (
    "PDF, Word (.docx), plain text, Markdown, HTML, CSV and WhatsApp chat exports (.txt or .zip)"
)

_OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # legacy .doc/.xls/.ppt, and encrypted Office files
_DEFAULT_LIMITS = ParseLimits()


def parse(data: bytes, filename: str, limits: ParseLimits = _DEFAULT_LIMITS) -> ParsedDocument:
    """Parse an upload by what its bytes are; the name's extension is only a hint."""
    guess = filetype.guess(data)
    detected = guess.extension if guess else None
    if detected == "pdf":
        return parse_pdf(data, limits)
    if detected in ("zip", "docx"):
        return parse_zip(data, "Word document" if detected == "docx" else "zip archive", limits)
    if data.startswith(_OLE2):
        raise ParseError(
            "This is a legacy Office file (.doc, .xls, .ppt) or a password-protected Office "
            "document. Save it as an unprotected .docx or PDF and upload that."
        )
    # Signatures of two bytes ("MZ", "BM") also start ordinary sentences: text wins.
    decoded = decode(data)
    if decoded is None:
        raise _unsupported(guess)
    text, encoding = decoded
    if len(text) > limits.max_characters:
        raise over_limit("The file has", f"{limits.max_characters:,} characters", "max_characters")
    document = _parse_text(text, PurePath(filename).suffix.lower(), limits)
    document.metadata["encoding"] = encoding
    return document


def _unsupported(guess: filetype.Type | None) -> ParseError:
    what = (
        f"{guess.extension.upper()} ({guess.mime})" if guess else "binary data of an unknown type"
    )
    return ParseError(
        f"This file is {what}, which cannot be indexed. Supported: {SUPPORTED}.",
        details={"detected": guess.mime if guess else None},
    )


def _parse_text(text: str, suffix: str, limits: ParseLimits) -> ParsedDocument:
    if not text.strip():
        raise ParseError("The file is empty: there is no text to index.")
    if looks_like_chat(text):
        chat = parse_chat(text, limits.max_chat_messages)
        if chat.turns:
            return chat
    if looks_like_html(text, suffix):
        return parse_html(text)
    dialect = csv_dialect(text, suffix)
    if dialect is not None:
        return parse_csv(text, dialect)
    return parse_plain(text, suffix)
