"""A user's mailbox: import (.eml, .mbox) with attachments kept in the object store, listing
by thread and label, flags, ranked bilingual search with highlights, and SMTP settings."""

import hashlib
import urllib.parse
import uuid
from collections.abc import AsyncIterator
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from orchestrator_service.audit.service import Actor
from orchestrator_service.db.fulltext import bilingual_query, headline, rank, safe_highlight
from orchestrator_service.db.personal import PersonalRepository
from orchestrator_service.errors import InvalidInput, NotFound
from orchestrator_service.mail.models import Email, EmailAttachment, MailAccount
from orchestrator_service.mail.parsing import ParsedMessage, parse_message, split_mbox
from orchestrator_service.mail.schemas import (
    AccountIn,
    EmailHit,
    EmailOut,
    EmailUpdate,
    ImportResult,
)
from orchestrator_service.pagination import PageParams
from orchestrator_service.rag.service import UploadTooLarge
from orchestrator_service.storage import ObjectMissing, ObjectStore, StoredObject

MAX_EML_BYTES = 25 * 1024 * 1024
MAX_MBOX_BYTES = 50 * 1024 * 1024
MAX_QUERY_CHARS = 500


class Emails(PersonalRepository[Email]):
    """The messages a user may read."""

    model = Email
    resource_type = "email"
    what = "Email"
    # Never the subject or labels: admins read the audit log, and the message may be private.
    audited = ("is_read", "is_important", "visibility")


class Accounts(PersonalRepository[MailAccount]):
    """A user's SMTP settings."""

    model = MailAccount
    resource_type = "mail_account"
    what = "Mail account"
    audited = ("smtp_host", "smtp_port", "security", "username", "credential_name")


def attachment_key(tenant_id: int, email_id: uuid.UUID, attachment_id: uuid.UUID) -> str:
    """Where an attachment's bytes live in the object store."""
    return f"mail/{tenant_id}/{email_id}/{attachment_id}"


async def _chunks(data: bytes) -> AsyncIterator[bytes]:
    yield data


def disposition(filename: str) -> str:
    """A download's Content-Disposition, the name percent-encoded (RFC 6266/5987): no quote,
    semicolon or line break of the name reaches the header."""
    return f"attachment; filename*=UTF-8''{urllib.parse.quote(filename, safe='')}"


def check_size(data: bytes, limit: int) -> None:
    """Refuse a file over `limit` bytes (413)."""
    if len(data) > limit:
        raise UploadTooLarge(f"The file is larger than {limit} bytes")


def email_row(
    parsed: ParsedMessage, *, tenant_id: int, user_id: uuid.UUID | None, **extra: Any
) -> Email:
    """The row of a parsed message."""
    return Email(
        id=uuid.uuid4(),
        tenant_id=tenant_id,
        owner_user_id=user_id,
        thread_key=parsed.thread_key,
        message_id=parsed.message_id,
        in_reply_to=parsed.in_reply_to,
        subject=parsed.subject,
        body_text=parsed.body_text,
        body_html=parsed.body_html,
        from_address=parsed.from_address,
        from_name=parsed.from_name,
        to_addresses=parsed.to_addresses,
        cc_addresses=parsed.cc_addresses,
        bcc_addresses=parsed.bcc_addresses,
        sent_at=parsed.sent_at,
        size_bytes=parsed.size_bytes,
        has_attachments=bool(parsed.attachments),
        **extra,
    )


async def store_message(
    session: AsyncSession,
    files: ObjectStore,
    parsed: ParsedMessage,
    *,
    tenant_id: int,
    user_id: uuid.UUID | None,
    actor: Any,
    **extra: Any,
) -> Email:
    """Insert a message and its attachments (bytes first, in the object store)."""
    email = email_row(parsed, tenant_id=tenant_id, user_id=user_id, **extra)
    stored: list[str] = []
    try:
        for attachment in parsed.attachments:
            attachment_id = uuid.uuid4()
            key = attachment_key(tenant_id, email.id, attachment_id)
            digest = hashlib.sha256(attachment.data).hexdigest()
            await files.put(key, _chunks(attachment.data), sha256=digest)
            stored.append(key)
            session.add(
                EmailAttachment(
                    id=attachment_id,
                    tenant_id=tenant_id,
                    email_id=email.id,
                    filename=attachment.filename,
                    content_type=attachment.content_type,
                    size_bytes=len(attachment.data),
                    sha256=digest,
                    storage_key=key,
                    content_id=attachment.content_id,
                    is_inline=attachment.is_inline,
                )
            )
        await Emails(session, tenant_id=tenant_id, user_id=user_id).create(email, actor=actor)
    except BaseException:
        for key in stored:
            await files.delete(key)
        raise
    return email


async def import_messages(
    session: AsyncSession,
    files: ObjectStore,
    *,
    tenant_id: int,
    user_id: uuid.UUID | None,
    data: bytes,
    mbox: bool,
    actor: Any,
) -> ImportResult:
    """Store an .eml message or every message of an .mbox file in the user's mailbox; a
    message already stored (same Message-ID, or same bytes) is counted, not stored again."""
    check_size(data, MAX_MBOX_BYTES if mbox else MAX_EML_BYTES)
    raw_messages = split_mbox(data) if mbox else [data]
    imported: list[uuid.UUID] = []
    skipped: list[dict] = []
    duplicates = 0
    for index, raw in enumerate(raw_messages):
        try:
            parsed = parse_message(raw)
        except InvalidInput as exc:
            if not mbox:
                raise
            skipped.append({"index": index, "reason": exc.message})
            continue
        external_id = (parsed.message_id or "")[:255] if parsed.message_id else parsed.digest
        if len(parsed.message_id or "") > 255:
            external_id = parsed.digest
        exists = await session.scalar(
            select(Email.id).where(
                Email.tenant_id == tenant_id,
                Email.owner_user_id == user_id,
                Email.provider == "import",
                Email.external_id == external_id,
            )
        )
        if exists is not None:
            duplicates += 1
            continue
        email = await store_message(
            session,
            files,
            parsed,
            tenant_id=tenant_id,
            user_id=user_id,
            actor=actor,
            provider="import",
            external_id=external_id,
            labels=["INBOX"],
            # A key acting for no user keeps what it imports tenant-wide (readable by it).
            visibility="private" if user_id else "tenant",
        )
        imported.append(email.id)
    return ImportResult(imported=imported, duplicates=duplicates, skipped=skipped[:100])


async def list_emails(
    session: AsyncSession,
    *,
    tenant_id: int,
    user_id: uuid.UUID | None,
    page: PageParams,
    thread_key: str | None = None,
    label: str | None = None,
    is_read: bool | None = None,
) -> tuple[list[Email], str | None]:
    """The messages the user may read, newest first, filtered by thread, label or flag."""
    emails = Emails(session, tenant_id=tenant_id, user_id=user_id)
    stmt = emails.select()
    if thread_key is not None:
        stmt = stmt.where(Email.thread_key == thread_key)
    if label is not None:
        stmt = stmt.where(Email.labels.contains([label]))
    if is_read is not None:
        stmt = stmt.where(Email.is_read.is_(is_read))
    return await emails.page(page, stmt)


async def get_email(
    session: AsyncSession, *, tenant_id: int, user_id: uuid.UUID | None, email_id: uuid.UUID
) -> Email:
    """One message the user may read, or 404."""
    return await Emails(session, tenant_id=tenant_id, user_id=user_id).get(email_id)


async def update_email(
    session: AsyncSession,
    *,
    tenant_id: int,
    user_id: uuid.UUID | None,
    email_id: uuid.UUID,
    data: EmailUpdate,
    actor: Actor,
) -> Email:
    """Set flags or labels on one of the user's messages."""
    emails = Emails(session, tenant_id=tenant_id, user_id=user_id)
    email = await emails.get_own(email_id)
    changes = data.model_dump(exclude_unset=True)
    if "labels" in changes:
        changes["labels"] = list(dict.fromkeys(changes["labels"]))
    return await emails.update(email, changes, actor=actor)


async def delete_email(
    session: AsyncSession,
    *,
    tenant_id: int,
    user_id: uuid.UUID | None,
    email_id: uuid.UUID,
    actor: Actor,
) -> list[str]:
    """Delete one of the user's messages; returns the object-store keys of its attachments,
    to delete once the transaction committed (`delete_files`)."""
    emails = Emails(session, tenant_id=tenant_id, user_id=user_id)
    email = await emails.get_own(email_id)
    keys = [
        key
        for key in await session.scalars(
            select(EmailAttachment.storage_key).where(
                EmailAttachment.email_id == email.id, EmailAttachment.storage_key.is_not(None)
            )
        )
        if key is not None
    ]
    await emails.delete(email, actor=actor)
    return keys


async def delete_files(files: ObjectStore, keys: list[str]) -> None:
    """Delete attachments' bytes after their rows are gone (best effort: a file left behind
    is named by no row)."""
    for key in keys:
        await files.delete(key)


async def list_attachments(
    session: AsyncSession, *, tenant_id: int, user_id: uuid.UUID | None, email_id: uuid.UUID
) -> list[EmailAttachment]:
    """The attachments of a message the user may read."""
    email = await get_email(session, tenant_id=tenant_id, user_id=user_id, email_id=email_id)
    rows = await session.scalars(
        select(EmailAttachment)
        .where(EmailAttachment.email_id == email.id, EmailAttachment.tenant_id == tenant_id)
        .order_by(EmailAttachment.created_at, EmailAttachment.id)
    )
    return list(rows)


async def open_attachment(
    session: AsyncSession,
    files: ObjectStore,
    *,
    tenant_id: int,
    user_id: uuid.UUID | None,
    email_id: uuid.UUID,
    attachment_id: uuid.UUID,
) -> tuple[EmailAttachment, StoredObject]:
    """An attachment of a message the user may read, and its bytes."""
    for attachment in await list_attachments(
        session, tenant_id=tenant_id, user_id=user_id, email_id=email_id
    ):
        if attachment.id == attachment_id and attachment.storage_key is not None:
            try:
                return attachment, await files.open(attachment.storage_key)
            except ObjectMissing:
                raise NotFound("The attachment's file is no longer stored") from None
    raise NotFound("Attachment not found")


async def search_emails(
    session: AsyncSession,
    *,
    tenant_id: int,
    user_id: uuid.UUID | None,
    query: str,
    limit: int = 20,
) -> list[EmailHit]:
    """The messages the user may read whose subject, sender or body match `query` (web-search
    syntax), best first, each with a highlight."""
    query = query.strip()
    if not query:
        raise InvalidInput("The search query is empty", details={"field": "q"})
    if "\x00" in query:
        raise InvalidInput("The search query may not hold NUL characters", details={"field": "q"})
    if len(query) > MAX_QUERY_CHARS:
        raise InvalidInput(f"The search query is longer than {MAX_QUERY_CHARS} characters")
    tsquery = bilingual_query(query)
    score = rank(Email.search_vector, tsquery).label("rank")
    matches = (
        Emails(session, tenant_id=tenant_id, user_id=user_id)
        .select()
        .where(Email.search_vector.op("@@")(tsquery))
    )
    best = matches.add_columns(score).order_by(score.desc(), Email.id).limit(limit).subquery()
    text = func.concat_ws("\n", best.c.subject, best.c.from_address, best.c.body_text)
    stmt = select(best, headline(text, query).label("highlight")).order_by(
        best.c.rank.desc(), best.c.id
    )
    return [
        EmailHit(
            **EmailOut.model_validate(row, from_attributes=True).model_dump(),
            rank=float(row.rank),
            highlight=safe_highlight(row.highlight),
        )
        for row in (await session.execute(stmt)).all()
    ]


async def find_account(
    session: AsyncSession, *, tenant_id: int, user_id: uuid.UUID | None
) -> MailAccount | None:
    """The user's SMTP settings, if any (a key acting for no user has none)."""
    if user_id is None:
        return None
    return await session.scalar(
        select(MailAccount).where(
            MailAccount.tenant_id == tenant_id, MailAccount.owner_user_id == user_id
        )
    )


async def get_account(
    session: AsyncSession, *, tenant_id: int, user_id: uuid.UUID | None
) -> MailAccount:
    """The user's SMTP settings, or 404."""
    account = await find_account(session, tenant_id=tenant_id, user_id=user_id)
    if account is None:
        raise NotFound("No mail account is set up for this user: PUT /mail/account first")
    return account


async def put_account(
    session: AsyncSession,
    *,
    tenant_id: int,
    user_id: uuid.UUID | None,
    data: AccountIn,
    actor: Actor,
) -> MailAccount:
    """Set the user's SMTP settings."""
    if user_id is None:
        raise InvalidInput("A mail account belongs to a user: use a key acting for one")
    values = data.model_dump()
    values["credential_name"] = values.pop("credential")
    values["from_address"] = str(values["from_address"])
    accounts = Accounts(session, tenant_id=tenant_id, user_id=user_id)
    try:
        account = await get_account(session, tenant_id=tenant_id, user_id=user_id)
    except NotFound:
        return await accounts.create(
            MailAccount(tenant_id=tenant_id, owner_user_id=user_id, **values), actor=actor
        )
    return await accounts.update(account, values, actor=actor)


async def delete_account(
    session: AsyncSession, *, tenant_id: int, user_id: uuid.UUID | None, actor: Actor
) -> None:
    """Remove the user's SMTP settings (none set: nothing to do)."""
    account = await find_account(session, tenant_id=tenant_id, user_id=user_id)
    if account is None:
        return
    await Accounts(session, tenant_id=tenant_id, user_id=user_id).delete(account, actor=actor)
