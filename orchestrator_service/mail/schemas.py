"""Request and response bodies of /mail."""

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import EmailStr, Field, StringConstraints

from orchestrator_service.schemas import Input, Output, Patch

Label = Annotated[str, StringConstraints(min_length=1, max_length=100)]
Recipients = Annotated[list[EmailStr], Field(max_length=50)]
MAX_BODY_CHARS = 1_000_000
OneLine = Annotated[str, StringConstraints(max_length=255, pattern=r"^[^\r\n]*$")]


class EmailOut(Output):
    """A stored message. `body_html` is as received and never rendered by the service: a
    client must sanitize it before showing it."""

    id: uuid.UUID
    thread_key: str
    message_id: str | None
    direction: str
    subject: str
    from_address: str
    from_name: str | None
    to_addresses: list[str]
    cc_addresses: list[str]
    body_text: str | None
    body_html: str | None
    is_read: bool
    is_important: bool
    has_attachments: bool
    labels: list[str]
    provider: str
    visibility: str
    owner_user_id: uuid.UUID | None
    sent_at: datetime | None
    received_at: datetime | None
    created_at: datetime | None


class EmailHit(EmailOut):
    """A message found by a search: rank and an HTML highlight (text escaped, matches in
    <mark>)."""

    rank: float
    highlight: str | None


class EmailUpdate(Patch):
    """Flags and labels of a message."""

    is_read: bool | None = None
    is_important: bool | None = None
    labels: Annotated[list[Label], Field(max_length=50)] | None = None


class AttachmentOut(Output):
    """An attachment's metadata (its bytes: GET .../attachments/{attachment_id})."""

    id: uuid.UUID
    filename: str
    content_type: str
    size_bytes: int
    sha256: str | None
    content_id: str | None
    is_inline: bool


class ImportResult(Output):
    """What an import did: messages stored, duplicates of stored ones, and those skipped."""

    imported: list[uuid.UUID]
    duplicates: int
    skipped: list[dict]


class AccountIn(Input):
    """The caller's SMTP settings; `credential` names the vault credential holding the
    password (its allowed hosts must include `smtp_host`)."""

    smtp_host: Annotated[
        str, StringConstraints(min_length=1, max_length=253, pattern=r"^[A-Za-z0-9.:\[\]-]+$")
    ]
    smtp_port: Annotated[int, Field(ge=1, le=65535)] = 587
    security: Literal["starttls", "tls", "none"] = "starttls"
    username: Annotated[str, StringConstraints(min_length=1, max_length=320)]
    credential: Annotated[str, StringConstraints(min_length=1, max_length=255)]
    from_address: EmailStr
    from_name: OneLine | None = None


class AccountOut(Output):
    """The caller's SMTP settings (never the password)."""

    smtp_host: str
    smtp_port: int
    security: str
    username: str
    credential_name: str
    from_address: str
    from_name: str | None


class AccountState(Output):
    """Whether the caller has SMTP settings, and which."""

    configured: bool
    account: AccountOut | None


class SendRequest(Input):
    """A message to send from the caller's account; it is stored once the server took it."""

    to: Annotated[list[EmailStr], Field(min_length=1, max_length=50)]
    cc: Recipients = []
    bcc: Recipients = []
    subject: Annotated[str, StringConstraints(max_length=998, pattern=r"^[^\r\n]*$")] = ""
    body_text: Annotated[str, StringConstraints(max_length=MAX_BODY_CHARS)] = ""
    in_reply_to: uuid.UUID | None = None
