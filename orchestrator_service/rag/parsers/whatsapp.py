"""WhatsApp chat exports (Android and iOS, English and Spanish): messages as Turns."""

import unicodedata
import zipfile
from dataclasses import dataclass, field
from datetime import datetime
from itertools import pairwise
from pathlib import PurePath

from orchestrator_service.patterns import compile_pattern
from orchestrator_service.rag.documents import ParsedDocument, ParseError, Turn
from orchestrator_service.rag.limits import ParseLimits, over_limit
from orchestrator_service.rag.parsers.sniff import SNIFF, decode, reading

# Direction marks WhatsApp puts around iOS lines, media notices and phone numbers.
_BIDI = "\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\ufeff"
_STAMP = compile_pattern(
    r"\[?(?P<date>\d{1,4}[./-]\d{1,2}[./-]\d{1,4}),?\s+"
    r"(?P<time>\d{1,2}[:.]\d{2}(?:[:.]\d{2})?)"
    r"(?:\s*(?P<meridiem>[ap])\.?\s*m\.?)?"  # AM, p. m., a.m. (any space, U+202F included)
    r"(?P<close>\]\s*|\s+[-\u2013]\s+)(?P<rest>.*)",
    ignore_case=True,
)
_MEDIA_ONLY = compile_pattern(
    r"<?(?:media omitted|multimedia omitido|medios omitidos|archivo omitido"
    r"|(?:image|video|audio|sticker|gif|document|contact card) omitted"
    r"|(?:imagen|v[ií]deo|audio|sticker|gif|documento) omitid[oa]|tarjeta de contacto omitida)>?",
    ignore_case=True,
)
_ATTACHMENT = compile_pattern(
    r"<(?:attached|adjunto|archivo adjunto):\s*[^>]+>"
    r"|\S+\.\w{2,4} \((?:file attached|archivo adjunto)\)",
    ignore_case=True,
)
_EDITED = compile_pattern(
    r"[\s\u200e]*<(?:this message was edited|se editó este mensaje\.?)>(\n?)$", ignore_case=True
)


def without_edited_marker(text: str) -> str:
    """`text` without WhatsApp's trailing "edited" marker; a final newline after it stays, as
    with `re`, whose `$` also matches before one (RE2's matches only at the end)."""
    return _EDITED.sub(r"\1", text)


_DELETED = compile_pattern(
    r"(?:this message was deleted|you deleted this message|se eliminó este mensaje"
    r"|eliminaste este mensaje|este mensaje fue eliminado)\.?",
    ignore_case=True,
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


def looks_like_chat(text: str) -> bool:
    """The first line, and at least a second one if there is one, carry a chat timestamp."""
    lines = [line for line in text[: SNIFF * 4].split("\n") if line.strip()][:200]
    stamped = [_message(line) is not None for line in lines]
    return bool(stamped) and stamped[0] and sum(stamped) >= min(2, len(stamped))


def chat_member(members: list[zipfile.ZipInfo]) -> zipfile.ZipInfo | None:
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


def parse_chat_file(
    archive: zipfile.ZipFile, member: zipfile.ZipInfo, limits: ParseLimits
) -> ParsedDocument:
    """The chat in `member` of an exported zip; refuses a file that is not a chat."""
    # A character takes at most 4 bytes: a larger file surely has too many, unread.
    if member.file_size > 4 * limits.max_characters:
        raise _too_long(limits)
    with reading("zip archive"):
        if member.flag_bits & 0x1:  # the zip's own encryption
            raise ParseError("The zip archive is password-protected. Upload an unprotected export.")
        raw = archive.read(member)
    decoded = decode(raw)
    if decoded is not None and len(decoded[0]) > limits.max_characters:
        raise _too_long(limits)
    if decoded is None or not looks_like_chat(decoded[0]):
        raise ParseError(
            f"'{member.filename}' in the zip archive is not a WhatsApp chat export. Upload "
            "the zip exactly as WhatsApp's 'Export chat' produced it."
        )
    document = parse_chat(decoded[0], limits.max_chat_messages)
    if not document.turns:
        raise ParseError("The WhatsApp export has no messages, only system notices.")
    document.metadata["chat_file"] = member.filename
    return document


def _too_long(limits: ParseLimits) -> ParseError:
    return over_limit(
        "The chat export has", f"{limits.max_characters:,} characters", "max_characters"
    )


def parse_chat(text: str, max_messages: int) -> ParsedDocument:
    """The chat's messages as Turns, with participants, platform and date order."""
    messages = _chat_messages(text, max_messages)
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


def _chat_messages(text: str, max_messages: int) -> list[_Message]:
    """Timestamped lines; lines without a timestamp continue the message before them."""
    messages: list[_Message] = []
    for line in text.split("\n"):
        message = _message(line)
        if message is not None:
            if len(messages) == max_messages:
                raise over_limit(
                    "The chat export has", f"{max_messages:,} messages", "max_chat_messages"
                )
            messages.append(message)
        elif messages:
            messages[-1].lines.append(line)
    return messages


def _message(line: str) -> _Message | None:
    """The message a line starts, or None when it carries no chat timestamp."""
    match = _STAMP.fullmatch(line.lstrip(_BIDI))
    if match is None:
        return None
    try:
        first, middle, last = _numbers(match["date"], "./-")
        hour, minute, *second = _numbers(match["time"], ":.")
    except ValueError:  # digits of a newer Unicode than Python's: `re` did not match them
        return None
    if match["meridiem"]:
        hour = hour % 12 + (12 if match["meridiem"].lower() == "p" else 0)
    author, separator, text = match["rest"].partition(": ")
    author = author.strip(_BIDI + " ")
    if not separator or not author or len(author) > _MAX_AUTHOR:
        author, text = None, match["rest"]
    return _Message(
        fields=(first, middle, last),
        clock=(hour, minute, second[0] if second else 0),
        author=author,
        lines=[text],
        ios=match["close"].startswith("]"),
    )


def _numbers(field: str, separators: str) -> list[int]:
    """The numbers of a date or time written with any of `separators` between them."""
    for separator in separators[1:]:
        field = field.replace(separator, separators[0])
    return [int(part) for part in field.split(separators[0])]


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
    text = without_edited_marker(raw).strip(_BIDI + " \n")
    without_media = _ATTACHMENT.sub("", text).strip(_BIDI + " \n")
    media = without_media != text or bool(_MEDIA_ONLY.fullmatch(without_media))
    if media:
        text = "" if _MEDIA_ONLY.fullmatch(without_media) else without_media
    # iOS marks its notices ("Messages and calls are end-to-end encrypted") with U+200E.
    elif raw.startswith("\u200e") or _DELETED.fullmatch(text) or not text:
        return None
    author = unicodedata.normalize("NFC", message.author)
    return Turn(author=author, text=text, timestamp=_timestamp(message, order), media=media)
