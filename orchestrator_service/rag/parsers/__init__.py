"""Turn an upload's bytes into a ParsedDocument, choosing the parser by content.

Binary formats are recognised by their signature (`filetype`): PDF, and zip archives, which
are either a Word document (`word/document.xml`) or a WhatsApp export (a `.txt` chat file).
Anything else must decode as text; text is then told apart by what it contains: WhatsApp
chat lines, HTML markup, a consistent CSV table, Markdown markers, else plain text. The
file name's extension is only a hint that relaxes the HTML, CSV and Markdown checks.

Every failure is a ParseError whose message tells a person what to do about it.
"""

import codecs
import csv
import io
import re
import unicodedata
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from html.parser import HTMLParser
from itertools import pairwise
from pathlib import PurePath

import docx
import filetype
import pypdf
from docx.table import Table

from orchestrator_service.rag.documents import ParsedDocument, ParseError, Turn

SUPPORTED = (
    "PDF, Word (.docx), plain text, Markdown, HTML, CSV and WhatsApp chat exports (.txt or .zip)"
)

_SNIFF = 8192  # characters looked at to recognise a text format
_MAX_UNZIPPED = 512 * 1024 * 1024  # a zip that claims to expand further is refused (zip bomb)
_OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # legacy .doc/.xls/.ppt, and encrypted Office files
_HTML_SUFFIXES = (".html", ".htm", ".xhtml")
_CSV_SUFFIXES = (".csv", ".tsv")
_MARKDOWN_SUFFIXES = (".md", ".markdown")


def parse(data: bytes, filename: str) -> ParsedDocument:
    """Parse an upload by what its bytes are; the name's extension is only a hint."""
    guess = filetype.guess(data)
    detected = guess.extension if guess else None
    if detected == "pdf":
        return _parse_pdf(data)
    if detected in ("zip", "docx"):
        return _parse_zip(data, "Word document" if detected == "docx" else "zip archive")
    if data.startswith(_OLE2):
        raise ParseError(
            "This is a legacy Office file (.doc, .xls, .ppt) or a password-protected Office "
            "document. Save it as an unprotected .docx or PDF and upload that."
        )
    # Signatures of two bytes ("MZ", "BM") also start ordinary sentences: text wins.
    decoded = _decode(data)
    if decoded is None:
        raise _unsupported(guess)
    text, encoding = decoded
    document = _parse_text(text, PurePath(filename).suffix.lower())
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


@contextmanager
def _reading(label: str) -> Iterator[None]:
    """Report any failure of a third-party reader as a damaged file."""
    try:
        yield
    except ParseError:
        raise
    except Exception as error:  # readers raise many unrelated types on malformed input
        raise ParseError(
            f"The {label} is damaged and cannot be read. Open it, save or export it again, "
            "and upload the new copy."
        ) from error


def _decode(data: bytes) -> tuple[str, str] | None:
    """The text and its encoding, or None when the bytes are not text."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        text, encoding = data.decode("utf-16", errors="replace"), "utf-16"
    else:
        text, encoding = _decode_8bit(data)
    sample = text[:_SNIFF]
    controls = sum(
        1 for char in sample if unicodedata.category(char) == "Cc" and char not in "\t\n\r\f\v"
    )
    if controls * 20 > len(sample):  # binary data decoded as latin-1 is ~25% control codes
        return None
    return text.replace("\r\n", "\n").replace("\r", "\n"), encoding


def _decode_8bit(data: bytes) -> tuple[str, str]:
    # cp1252 before latin-1: Windows files are the usual non-UTF-8 text, and latin-1 would
    # turn their curly quotes and euro signs into control characters.
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            return data.decode(encoding), encoding.removesuffix("-sig")
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1"), "latin-1"


def _parse_text(text: str, suffix: str) -> ParsedDocument:
    if not text.strip():
        raise ParseError("The file is empty: there is no text to index.")
    if _looks_like_chat(text):
        chat = _parse_chat(text)
        if chat.turns:
            return chat
    if _looks_like_html(text, suffix):
        return _parse_html(text)
    dialect = _csv_dialect(text, suffix)
    if dialect is not None:
        return _parse_csv(text, dialect)
    kind = "md" if _looks_like_markdown(text, suffix) else "txt"
    return ParsedDocument(kind=kind, text=text.strip())


# PDF ---------------------------------------------------------------------------------------


def _parse_pdf(data: bytes) -> ParsedDocument:
    with _reading("PDF"):
        reader = pypdf.PdfReader(io.BytesIO(data))
        # An owner password alone (empty user password) still lets anyone read the text.
        if reader.is_encrypted and not reader.decrypt(""):
            raise ParseError(
                "The PDF is password-protected. Upload an unprotected copy (remove the "
                "password, or print it to a new PDF)."
            )
        pages = [(page.extract_text() or "").strip() for page in reader.pages]
        title = (reader.metadata or {}).get("/Title")
    if not any(pages):
        raise ParseError(
            "The PDF has no text layer (it looks scanned, or made of images). Run OCR on it "
            "first and upload the searchable PDF."
        )
    offsets, position = [], 0
    for page in pages:
        offsets.append(position)
        position += len(page) + 2
    metadata = {"pages": len(pages), "page_offsets": offsets}
    if title:
        metadata["title"] = str(title)
    return ParsedDocument(kind="pdf", text="\n\n".join(pages), metadata=metadata)


# Zip: Word documents and WhatsApp exports ---------------------------------------------------


def _parse_zip(data: bytes, label: str) -> ParsedDocument:
    with _reading(label):
        archive = zipfile.ZipFile(io.BytesIO(data))
    with archive:
        members = archive.infolist()
        if sum(member.file_size for member in members) > _MAX_UNZIPPED:
            raise ParseError(
                f"The {label} expands to more than {_MAX_UNZIPPED >> 20} MiB; it cannot be indexed."
            )
        if any(member.filename == "word/document.xml" for member in members):
            return _parse_docx(data)
        chat = _chat_member(members)
        if chat is None:
            raise ParseError(
                "The zip archive holds neither a Word document nor a WhatsApp chat (.txt). "
                "Upload the document itself, or the zip that WhatsApp's 'Export chat' produces."
            )
        return _parse_chat_file(archive, chat)


def _chat_member(members: list[zipfile.ZipInfo]) -> zipfile.ZipInfo | None:
    """The chat file of a WhatsApp export: `_chat.txt` (iOS) or `WhatsApp Chat with X.txt`."""
    texts = [
        member
        for member in members
        if member.filename.lower().endswith(".txt") and not member.filename.startswith("__MACOSX")
    ]

    def rank(member: zipfile.ZipInfo) -> tuple[bool, bool, int]:
        name = PurePath(member.filename).name.lower()
        named = name.startswith(("whatsapp chat", "chat de whatsapp"))
        return name == "_chat.txt", named, member.file_size

    return max(texts, key=rank, default=None)


def _parse_chat_file(archive: zipfile.ZipFile, member: zipfile.ZipInfo) -> ParsedDocument:
    with _reading("zip archive"):
        if member.flag_bits & 0x1:  # the zip's own encryption
            raise ParseError("The zip archive is password-protected. Upload an unprotected export.")
        raw = archive.read(member)
    decoded = _decode(raw)
    if decoded is None or not _looks_like_chat(decoded[0]):
        raise ParseError(
            f"'{member.filename}' in the zip archive is not a WhatsApp chat export. Upload "
            "the zip exactly as WhatsApp's 'Export chat' produced it."
        )
    document = _parse_chat(decoded[0])
    if not document.turns:
        raise ParseError("The WhatsApp export has no messages, only system notices.")
    document.metadata["chat_file"] = member.filename
    return document


def _parse_docx(data: bytes) -> ParsedDocument:
    with _reading("Word document"):
        document = docx.Document(io.BytesIO(data))
        items = list(document.iter_inner_content())
        blocks = [
            _table_text(item) if isinstance(item, Table) else item.text.strip() for item in items
        ]
        title = document.core_properties.title
    text = "\n\n".join(block for block in blocks if block)
    if not text:
        raise ParseError("The Word document has no text to index.")
    tables = sum(1 for item in items if isinstance(item, Table))
    metadata: dict = {"paragraphs": len(items) - tables, "tables": tables}
    if title:
        metadata["title"] = title
    return ParsedDocument(kind="docx", text=text, metadata=metadata)


def _table_text(table: Table) -> str:
    """One line per row, cells joined by " | " (a merged cell is listed once)."""
    lines = []
    for row in table.rows:
        cells: list[str] = []
        for cell in row.cells:
            text = " ".join(cell.text.split())
            if text and (not cells or cells[-1] != text):
                cells.append(text)
        if cells:
            lines.append(" | ".join(cells))
    return "\n".join(lines)


# HTML --------------------------------------------------------------------------------------

_HTML_ROOT = re.compile(r"<(?:!doctype\s+html|html|head|body)[\s>]", re.IGNORECASE)
_TAG = re.compile(r"</?[a-z][a-z0-9]*[\s/>]", re.IGNORECASE)


def _looks_like_html(text: str, suffix: str) -> bool:
    sample = text[:_SNIFF]
    if suffix in _HTML_SUFFIXES:
        return bool(_TAG.search(sample))
    return sample.lstrip().startswith("<") and bool(_HTML_ROOT.search(sample))


class _HTMLText(HTMLParser):
    """Collects visible text, with line breaks at block elements, and the page title."""

    _HIDDEN = frozenset({"script", "style", "noscript", "template", "svg"})
    _PARAGRAPHS = frozenset(
        {"address", "article", "aside", "blockquote", "div", "dl", "figcaption", "footer"}
        | {"form", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "main", "nav", "ol"}
        | {"p", "pre", "section", "table", "title", "ul"}
    )
    # What starts an element: a blank line for blocks, a line break for items, a space for cells.
    _BREAKS = (
        dict.fromkeys(_PARAGRAPHS, "\n\n")
        | dict.fromkeys(("br", "dd", "dt", "li", "tr"), "\n")
        | {"td": " ", "th": " "}
    )

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.title: list[str] = []
        self._hidden = 0
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self._hidden += tag in self._HIDDEN
        self._in_title = self._in_title or tag == "title"
        self.parts.append(self._BREAKS.get(tag, ""))

    def handle_endtag(self, tag: str) -> None:
        if tag in self._HIDDEN:
            self._hidden = max(0, self._hidden - 1)
        self._in_title = self._in_title and tag != "title"
        if tag in self._PARAGRAPHS:
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self.parts.append(data)
            if self._in_title:
                self.title.append(data)


def _parse_html(text: str) -> ParsedDocument:
    extractor = _HTMLText()
    extractor.feed(text)
    extractor.close()
    body = _tidy("".join(extractor.parts))
    if not body:
        raise ParseError("The HTML page has no visible text to index.")
    title = " ".join("".join(extractor.title).split())
    return ParsedDocument(kind="html", text=body, metadata={"title": title} if title else {})


def _tidy(text: str) -> str:
    """Collapse spaces inside lines and keep at most one blank line between blocks."""
    lines = [" ".join(line.split()) for line in text.split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


# CSV ---------------------------------------------------------------------------------------


def _csv_dialect(text: str, suffix: str) -> type[csv.Dialect] | None:
    """The CSV dialect when the text is a table: a named header and rows of its width."""
    sample = text[:_SNIFF] if len(text) <= _SNIFF else text[:_SNIFF].rsplit("\n", 1)[0]
    try:
        dialect = csv.Sniffer().sniff(sample, delimiters=",;\t|")
        rows = [row for row in csv.reader(io.StringIO(sample), dialect) if row]
    except csv.Error:
        return None
    if suffix in _CSV_SUFFIXES:
        return dialect
    header = rows[0] if rows else []
    tabular = (
        len(rows) >= 3
        and len(header) >= 2
        and all(len(row) == len(header) for row in rows)
        and all(0 < len(cell.strip()) <= 64 for cell in header)
    )
    return dialect if tabular else None


def _parse_csv(text: str, dialect: type[csv.Dialect]) -> ParsedDocument:
    try:
        rows = [
            row
            for row in csv.reader(io.StringIO(text), dialect)
            if any(cell.strip() for cell in row)
        ]
    except csv.Error as error:
        raise ParseError(f"The CSV file cannot be read ({error}). Check its quoting.") from error
    header = [cell.strip() or f"column {i}" for i, cell in enumerate(rows[0], 1)]
    records = [record for row in rows[1:] if (record := _csv_record(header, row))]
    if not records:
        raise ParseError("The CSV file has a header but no rows to index.")
    metadata = {"columns": header, "rows": len(records), "delimiter": dialect.delimiter}
    return ParsedDocument(kind="csv", text="\n\n".join(records), metadata=metadata)


def _csv_record(header: list[str], row: list[str]) -> str:
    """A row as "header: value" lines; cells beyond the header get "column N"."""
    names = header + [f"column {i}" for i in range(len(header) + 1, len(row) + 1)]
    return "\n".join(
        f"{name}: {cell.strip()}" for name, cell in zip(names, row, strict=False) if cell.strip()
    )


# Markdown ----------------------------------------------------------------------------------

_MARKDOWN = re.compile(
    r"^#{1,6}\s+\S|^```|^\s*\|?\s*:?-{3,}:?\s*\||\[[^\]\n]+\]\([^)\s]+\)|\*\*[^*\n]+\*\*",
    re.MULTILINE,
)


def _looks_like_markdown(text: str, suffix: str) -> bool:
    return suffix in _MARKDOWN_SUFFIXES or len(_MARKDOWN.findall(text[:_SNIFF])) >= 2


# WhatsApp ----------------------------------------------------------------------------------

# Direction marks WhatsApp puts around iOS lines, media notices and phone numbers.
_BIDI = "\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\ufeff"
_STAMP = re.compile(
    r"\[?(?P<date>\d{1,4}[./-]\d{1,2}[./-]\d{1,4}),?\s+"
    r"(?P<time>\d{1,2}[:.]\d{2}(?:[:.]\d{2})?)"
    r"(?:\s*(?P<meridiem>[ap])\.?\s*m\.?)?"  # AM, p. m., a.m. (any space, U+202F included)
    r"(?P<close>\]\s*|\s+[-\u2013]\s+)(?P<rest>.*)",
    re.IGNORECASE,
)
_MEDIA_ONLY = re.compile(
    r"<?(?:media omitted|multimedia omitido|medios omitidos|archivo omitido"
    r"|(?:image|video|audio|sticker|gif|document|contact card) omitted"
    r"|(?:imagen|v[ií]deo|audio|sticker|gif|documento) omitid[oa]|tarjeta de contacto omitida)>?",
    re.IGNORECASE,
)
_ATTACHMENT = re.compile(
    r"<(?:attached|adjunto|archivo adjunto):\s*[^>]+>"
    r"|\S+\.\w{2,4} \((?:file attached|archivo adjunto)\)",
    re.IGNORECASE,
)
_EDITED = re.compile(
    r"[\s\u200e]*<(?:this message was edited|se editó este mensaje\.?)>$", re.IGNORECASE
)
_DELETED = re.compile(
    r"(?:this message was deleted|you deleted this message|se eliminó este mensaje"
    r"|eliminaste este mensaje|este mensaje fue eliminado)\.?",
    re.IGNORECASE,
)
_MAX_AUTHOR = 80  # longer "authors" are system notices that happen to contain ": "


@dataclass
class _Message:
    """A timestamped line of a chat export and its continuation lines."""

    fields: tuple[int, int, int]  # the date's numbers in written order
    clock: tuple[int, int, int]  # hour (24 h), minute, second
    author: str | None  # None for a system notice
    lines: list[str] = field(default_factory=list)
    ios: bool = False


def _looks_like_chat(text: str) -> bool:
    """The first line, and at least a second one if there is one, carry a chat timestamp."""
    lines = [line for line in text[: _SNIFF * 4].split("\n") if line.strip()][:200]
    stamped = [bool(_STAMP.fullmatch(line.lstrip(_BIDI))) for line in lines]
    return bool(stamped) and stamped[0] and sum(stamped) >= min(2, len(stamped))


def _parse_chat(text: str) -> ParsedDocument:
    messages = _chat_messages(text)
    order = _date_order(messages)
    turns = [turn for message in messages if (turn := _turn(message, order))]
    participants = list(dict.fromkeys(turn.author for turn in turns))
    stamps = [turn.timestamp for turn in turns if turn.timestamp]
    metadata = {
        "participants": participants,
        "messages": len(turns),
        "media": sum(turn.media for turn in turns),
        "platform": "ios" if any(message.ios for message in messages) else "android",
        "date_order": order,
        "first_timestamp": stamps[0].isoformat() if stamps else None,
        "last_timestamp": stamps[-1].isoformat() if stamps else None,
    }
    return ParsedDocument(kind="whatsapp", turns=turns, metadata=metadata)


def _chat_messages(text: str) -> list[_Message]:
    """Timestamped lines; lines without a timestamp continue the message before them."""
    messages: list[_Message] = []
    for line in text.split("\n"):
        match = _STAMP.fullmatch(line.lstrip(_BIDI))
        if match:
            messages.append(_message(match))
        elif messages:
            messages[-1].lines.append(line)
    return messages


def _message(match: re.Match) -> _Message:
    fields = tuple(int(part) for part in re.split(r"[./-]", match["date"]))
    hour, minute, *second = (int(part) for part in re.split(r"[:.]", match["time"]))
    if match["meridiem"]:
        hour = hour % 12 + (12 if match["meridiem"].lower() == "p" else 0)
    author, separator, text = match["rest"].partition(": ")
    author = author.strip(_BIDI + " ")
    if not separator or not author or len(author) > _MAX_AUTHOR:
        author, text = None, match["rest"]
    return _Message(
        fields=fields,
        clock=(hour, minute, second[0] if second else 0),
        author=author,
        lines=[text],
        ios=match["close"].startswith("]"),
    )


def _date_order(messages: list[_Message]) -> str:
    """The file's date order (ymd, dmy or mdy): a field above 12 decides, else chronology."""
    if any(message.fields[0] > 31 for message in messages):
        return "ymd"
    if any(message.fields[0] > 12 for message in messages):
        return "dmy"
    if any(message.fields[1] > 12 for message in messages):
        return "mdy"
    return "mdy" if _inversions(messages, "mdy") < _inversions(messages, "dmy") else "dmy"


def _inversions(messages: list[_Message], order: str) -> int:
    """How often the next message would be older than the previous one under `order`."""
    stamps = [_timestamp(message, order) for message in messages]
    return sum(1 for a, b in pairwise(stamps) if a and b and b < a)


def _timestamp(message: _Message, order: str) -> datetime | None:
    a, b, c = message.fields
    year, month, day = {"ymd": (a, b, c), "dmy": (c, b, a), "mdy": (c, a, b)}[order]
    try:
        return datetime(year + 2000 if year < 100 else year, month, day, *message.clock)
    except ValueError:
        return None


def _turn(message: _Message, order: str) -> Turn | None:
    """A message as a Turn; None for system notices and deleted messages."""
    if message.author is None:
        return None
    raw = "\n".join(message.lines).strip(" \n")
    text = _EDITED.sub("", raw).strip(_BIDI + " \n")
    without_media = _ATTACHMENT.sub("", text).strip(_BIDI + " \n")
    media = without_media != text or bool(_MEDIA_ONLY.fullmatch(without_media))
    if media:
        text = "" if _MEDIA_ONLY.fullmatch(without_media) else without_media
    # iOS marks its notices ("Messages and calls are end-to-end encrypted") with U+200E.
    elif raw.startswith("\u200e") or _DELETED.fullmatch(text) or not text:
        return None
    author = unicodedata.normalize("NFC", message.author)
    return Turn(author=author, text=text, timestamp=_timestamp(message, order), media=media)
