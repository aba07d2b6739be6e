"""/api/v1/mail: a user's mailbox (private unless shared), .eml/.mbox import, search,
attachments, SMTP settings and sending."""

import uuid
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Depends, File, Query, UploadFile, status
from fastapi.responses import StreamingResponse

from orchestrator_service.deps import (
    ActorDep,
    FilesDep,
    MailerDep,
    Paging,
    SessionDep,
    TenantPrincipal,
    require,
)
from orchestrator_service.mail import service
from orchestrator_service.mail.schemas import (
    AccountIn,
    AccountOut,
    AccountState,
    AttachmentOut,
    EmailHit,
    EmailOut,
    EmailUpdate,
    ImportResult,
    SendRequest,
)
from orchestrator_service.pagination import Page, page_of
from orchestrator_service.schemas import NO_NUL_PATTERN

router = APIRouter(prefix="/mail", tags=["mail"])
Reader = Annotated[TenantPrincipal, Depends(require("mail:read"))]
Writer = Annotated[TenantPrincipal, Depends(require("mail:write"))]
Upload = Annotated[UploadFile, File(description="The file")]


@router.post("/import/eml", status_code=status.HTTP_201_CREATED)
async def import_eml(
    file: Upload, principal: Writer, actor: ActorDep, session: SessionDep, files: FilesDep
) -> ImportResult:
    """Store one message (.eml) in the caller's mailbox, its attachments as files."""
    data = await file.read(service.MAX_EML_BYTES + 1)
    return await service.import_messages(
        session,
        files,
        tenant_id=principal.tenant_id,
        user_id=principal.user_id,
        data=data,
        mbox=False,
        actor=actor,
    )


@router.post("/import/mbox", status_code=status.HTTP_201_CREATED)
async def import_mbox(
    file: Upload, principal: Writer, actor: ActorDep, session: SessionDep, files: FilesDep
) -> ImportResult:
    """Store every message of an .mbox file (unreadable ones are skipped with the reason)."""
    data = await file.read(service.MAX_MBOX_BYTES + 1)
    return await service.import_messages(
        session,
        files,
        tenant_id=principal.tenant_id,
        user_id=principal.user_id,
        data=data,
        mbox=True,
        actor=actor,
    )


@router.get("/messages")
async def list_messages(
    principal: Reader,
    session: SessionDep,
    page: Paging,
    thread_key: Annotated[
        str | None, Query(min_length=1, max_length=998, pattern=NO_NUL_PATTERN)
    ] = None,
    label: Annotated[
        str | None, Query(min_length=1, max_length=100, pattern=NO_NUL_PATTERN)
    ] = None,
    is_read: bool | None = None,
) -> Page[EmailOut]:
    """The caller's messages (and those shared with the tenant), newest first."""
    emails, cursor = await service.list_emails(
        session,
        tenant_id=principal.tenant_id,
        user_id=principal.user_id,
        page=page,
        thread_key=thread_key,
        label=label,
        is_read=is_read,
    )
    return page_of(EmailOut, emails, cursor)


@router.get("/search")
async def search_messages(
    principal: Reader,
    session: SessionDep,
    q: Annotated[
        str, Query(min_length=1, max_length=service.MAX_QUERY_CHARS, pattern=NO_NUL_PATTERN)
    ],
    limit: Annotated[int, Query(ge=1, le=50)] = 20,
) -> list[EmailHit]:
    """Full-text search (Spanish and English) over subject, sender and body, best first."""
    return await service.search_emails(
        session, tenant_id=principal.tenant_id, user_id=principal.user_id, query=q, limit=limit
    )


@router.get("/messages/{email_id}")
async def get_message(email_id: uuid.UUID, principal: Reader, session: SessionDep) -> EmailOut:
    """One message the caller may read."""
    email = await service.get_email(
        session, tenant_id=principal.tenant_id, user_id=principal.user_id, email_id=email_id
    )
    return EmailOut.model_validate(email)


@router.patch("/messages/{email_id}")
async def update_message(
    email_id: uuid.UUID, data: EmailUpdate, principal: Writer, actor: ActorDep, session: SessionDep
) -> EmailOut:
    """Set read/important flags or labels on one of the caller's messages."""
    email = await service.update_email(
        session,
        tenant_id=principal.tenant_id,
        user_id=principal.user_id,
        email_id=email_id,
        data=data,
        actor=actor,
    )
    return EmailOut.model_validate(email)


@router.delete("/messages/{email_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_message(
    email_id: uuid.UUID,
    principal: Writer,
    actor: ActorDep,
    session: SessionDep,
    files: FilesDep,
    background: BackgroundTasks,
) -> None:
    """Delete one of the caller's messages and its attachments."""
    keys = await service.delete_email(
        session,
        tenant_id=principal.tenant_id,
        user_id=principal.user_id,
        email_id=email_id,
        actor=actor,
    )
    background.add_task(service.delete_files, files, keys)


@router.get("/messages/{email_id}/attachments")
async def list_attachments(
    email_id: uuid.UUID, principal: Reader, session: SessionDep
) -> list[AttachmentOut]:
    """The attachments of a message the caller may read."""
    rows = await service.list_attachments(
        session, tenant_id=principal.tenant_id, user_id=principal.user_id, email_id=email_id
    )
    return [AttachmentOut.model_validate(r) for r in rows]


@router.get(
    "/messages/{email_id}/attachments/{attachment_id}",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/octet-stream": {}}, "description": "The file"}},
)
async def download_attachment(
    email_id: uuid.UUID,
    attachment_id: uuid.UUID,
    principal: Reader,
    session: SessionDep,
    files: FilesDep,
) -> StreamingResponse:
    """An attachment's bytes, always as a download (never rendered inline)."""
    attachment, stored = await service.open_attachment(
        session,
        files,
        tenant_id=principal.tenant_id,
        user_id=principal.user_id,
        email_id=email_id,
        attachment_id=attachment_id,
    )

    async def body() -> AsyncIterator[bytes]:
        async for chunk in stored.chunks:
            yield chunk

    return StreamingResponse(
        body(),
        media_type="application/octet-stream",
        headers={
            "Content-Disposition": service.disposition(attachment.filename),
            "X-Content-Type-Options": "nosniff",
        },
    )


@router.get("/account")
async def get_account(principal: Reader, session: SessionDep) -> AccountState:
    """The caller's SMTP settings, if any."""
    account = await service.find_account(
        session, tenant_id=principal.tenant_id, user_id=principal.user_id
    )
    return AccountState(
        configured=account is not None,
        account=None if account is None else AccountOut.model_validate(account),
    )


@router.put("/account")
async def put_account(
    data: AccountIn, principal: Writer, actor: ActorDep, session: SessionDep
) -> AccountOut:
    """Set the caller's SMTP settings (the password stays in the vault, by name)."""
    account = await service.put_account(
        session, tenant_id=principal.tenant_id, user_id=principal.user_id, data=data, actor=actor
    )
    return AccountOut.model_validate(account)


@router.delete("/account", status_code=status.HTTP_204_NO_CONTENT)
async def delete_account(principal: Writer, actor: ActorDep, session: SessionDep) -> None:
    """Remove the caller's SMTP settings."""
    await service.delete_account(
        session, tenant_id=principal.tenant_id, user_id=principal.user_id, actor=actor
    )


@router.post("/send", status_code=status.HTTP_201_CREATED)
async def send_message(
    data: SendRequest, principal: Writer, actor: ActorDep, mailer: MailerDep
) -> EmailOut:
    """Send a message through the caller's SMTP account; the sent message is stored."""
    email = await mailer.send(
        tenant_id=principal.tenant_id, user_id=principal.user_id, request=data, actor=actor
    )
    return EmailOut.model_validate(email)
