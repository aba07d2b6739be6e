"""Parsing stored mail (.eml, .mbox) with the standard library's parser (policy.default),
bounded: message size, parts, nesting, addresses and header lengths. A header the parser
cannot read is kept as its raw text; a message whose structure is beyond the bounds is
refused with the reason."""

import hashlib
import mailbox
import os
import tempfile
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import policy
from email.header import decode_header, make_header
from email.message import EmailMessage, Message
from email.parser import BytesParser
from email.utils import getaddresses, parseaddr, parsedate_to_datetime

from orchestrator_service.errors import InvalidInput
from orchestrator_service.notes.text import html_text

MAX_PARTS = 200
MAX_DEPTH = 20
MAX_ADDRESSES = 500
MAX_MBOX_MESSAGES = 1000
SUBJECT_CHARS = 998
ID_CHARS = 998
_CONTROL = {c: None for c in range(32) if c not in (9, 10, 13)} | {127: None}


@dataclass
class ParsedAttachment:
    """One attached file."""

    filename: str
    content_type: str
    data: bytes
    content_id: str | None
    is_inline: bool


@dataclass
class ParsedMessage:
    """What is stored of one message."""

    message_id: str | None
    in_reply_to: str | None
    thread_key: str
    subject: str
    from_address: str
    from_name: str | None
    to_addresses: list[str]
    cc_addresses: list[str]
    bcc_addresses: list[str]
    sent_at: datetime | None
    body_text: str | None
    body_html: str | None
    size_bytes: int
    digest: str
    attachments: list[ParsedAttachment] = field(default_factory=list)


def clean(text: str, limit: int) -> str:
    """Text without control characters (NUL included), at most `limit` characters."""
    return text.translate(_CONTROL)[:limit]


def _raw(message: Message, name: str) -> str | None:
    """A header's raw value (the first one), decoded as far as it can be."""
    for key, value in message.raw_items():
        if key.lower() == name.lower():
            try:
                return str(make_header(decode_header(str(value))))
            except (ValueError, LookupError, UnicodeError, TypeError):
                return str(value)
    return None


def _header(message: Message, name: str) -> str | None:
    try:
        value = message.get(name)
        return None if value is None else str(value)
    except Exception:  # the parser's header classes raise many kinds
        return _raw(message, name)


def _addresses(message: Message, name: str) -> list[str]:
    value = _header(message, name)
    if not value:
        return []
    found = [clean(address, 320) for _, address in getaddresses([value]) if "@" in address]
    return found[:MAX_ADDRESSES]


def _first_id(value: str | None) -> str | None:
    """The first <message-id> in a header value."""
    if not value:
        return None
    start = value.find("<")
    end = value.find(">", start + 1)
    token = value[start : end + 1] if start >= 0 and end > start else value.split()[0]
    return clean(token.strip(), ID_CHARS) or None


def _decoded(part: Message) -> str | None:
    try:
        content = part.get_content()  # type: ignore[attr-defined]
        return content if isinstance(content, str) else None
    except (LookupError, ValueError, UnicodeError, AttributeError, TypeError, KeyError):
        payload = part.get_payload(decode=True)
        return payload.decode("utf-8", "replace") if isinstance(payload, bytes) else None


def _leaves(message: Message) -> list[tuple[Message, int]]:
    """Every non-multipart part with its depth, or 422 past the bounds (walked without
    recursion: a deeply nested message cannot exhaust the stack)."""
    found: list[tuple[Message, int]] = []
    stack: list[tuple[Message, int]] = [(message, 0)]
    seen = 0
    while stack:
        part, depth = stack.pop()
        seen += 1
        if seen > MAX_PARTS:
            raise InvalidInput(f"The message has more than {MAX_PARTS} parts")
        if depth > MAX_DEPTH:
            raise InvalidInput(f"The message nests parts more than {MAX_DEPTH} levels deep")
        if part.is_multipart():
            payload = part.get_payload()
            children = (
                [c for c in payload if isinstance(c, Message)] if isinstance(payload, list) else []
            )
            stack.extend((child, depth + 1) for child in reversed(children))
        else:
            found.append((part, depth))
    return found


def _filename(part: Message) -> str | None:
    try:
        name = part.get_filename()
    except Exception:
        name = None
    if not name:
        return None
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    return clean(base, 255) or None


def parse_message(data: bytes) -> ParsedMessage:
    """One message (RFC 5322 bytes), or 422 saying why it cannot be stored."""
    try:
        message = BytesParser(policy=policy.default).parsebytes(data)
    except (ValueError, LookupError, UnicodeError, IndexError, TypeError):
        raise InvalidInput("The file is not an email message") from None
    if not message.keys():
        raise InvalidInput("The file is not an email message: it has no headers")
    leaves = _leaves(message)
    body_text = body_html = None
    attachments: list[ParsedAttachment] = []
    for part, _ in leaves:
        ctype = part.get_content_type()
        filename = _filename(part)
        disposition = (part.get_content_disposition() or "").lower()
        if (
            ctype == "text/plain"
            and body_text is None
            and not filename
            and disposition != "attachment"
        ):
            body_text = _decoded(part)
        elif (
            ctype == "text/html"
            and body_html is None
            and not filename
            and disposition != "attachment"
        ):
            body_html = _decoded(part)
        else:
            payload = part.get_payload(decode=True)
            if not isinstance(payload, bytes):
                continue
            attachments.append(
                ParsedAttachment(
                    filename=filename or f"attachment-{len(attachments) + 1}",
                    content_type=clean(ctype, 255),
                    data=payload,
                    content_id=(_first_id(_header(part, "content-id")) or "")[:255] or None,
                    is_inline=disposition == "inline",
                )
            )
    if body_text is None and body_html is not None:
        body_text = html_text(body_html)  # what search reads of an HTML-only message
    sender = _header(message, "from") or ""
    from_name, from_address = parseaddr(sender)
    message_id = _first_id(_header(message, "message-id"))
    in_reply_to = _first_id(_header(message, "in-reply-to"))
    references = _first_id(_header(message, "references"))
    digest = hashlib.sha256(data).hexdigest()
    try:
        sent_at = parsedate_to_datetime(_header(message, "date") or "")
        if sent_at.tzinfo is None:
            sent_at = sent_at.replace(tzinfo=UTC)
    except (TypeError, ValueError, IndexError, OverflowError):
        sent_at = None
    return ParsedMessage(
        message_id=message_id,
        in_reply_to=in_reply_to,
        thread_key=references or in_reply_to or message_id or f"<{digest}>",
        subject=clean(_header(message, "subject") or "", SUBJECT_CHARS),
        from_address=clean(from_address or sender, 320),
        from_name=clean(from_name, 255) or None,
        to_addresses=_addresses(message, "to"),
        cc_addresses=_addresses(message, "cc"),
        bcc_addresses=_addresses(message, "bcc"),
        sent_at=sent_at,
        body_text=None if body_text is None else body_text.replace("\x00", ""),
        body_html=None if body_html is None else body_html.replace("\x00", ""),
        size_bytes=len(data),
        digest=digest,
        attachments=attachments,
    )


def split_mbox(data: bytes) -> list[bytes]:
    """The messages of an mbox file (From_-line separated), at most MAX_MBOX_MESSAGES."""
    if not data.startswith(b"From "):
        raise InvalidInput("The file is not an mbox file: it must start with a 'From ' line")
    handle, path = tempfile.mkstemp(suffix=".mbox")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        box = mailbox.mbox(path, create=False)
        try:
            messages = []
            for key in box.iterkeys():
                if len(messages) >= MAX_MBOX_MESSAGES:
                    raise InvalidInput(f"The mbox holds more than {MAX_MBOX_MESSAGES} messages")
                messages.append(box.get_bytes(key))
            return messages
        finally:
            box.close()
    finally:
        os.unlink(path)


def compose_id(domain: str) -> str:
    """A new Message-ID."""
    return f"<{uuid.uuid4().hex}@{domain}>"


__all__ = ["EmailMessage", "ParsedAttachment", "ParsedMessage", "compose_id", "parse_message"]
