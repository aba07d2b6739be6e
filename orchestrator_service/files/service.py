"""Attachments: stored in the object store under keys the service chooses, type sniffed,
size bounded, hash recorded and checked; read through their conversation (whoever can read
it can read its files, nobody else); sent to RAG ingestion on request."""

import asyncio
import hashlib
import tempfile
import uuid
from pathlib import PurePath
from typing import BinaryIO, cast

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from orchestrator_service.audit.service import Actor
from orchestrator_service.conversations import service as conversations
from orchestrator_service.conversations.models import ChatMessage
from orchestrator_service.db.tenancy import scoped
from orchestrator_service.errors import Conflict, InvalidInput, NotFound
from orchestrator_service.files.models import File
from orchestrator_service.files.sniff import HEAD_BYTES, sniff
from orchestrator_service.rag import service as rag
from orchestrator_service.rag.models import RagDocument
from orchestrator_service.rag.service import UploadTooLarge
from orchestrator_service.rag.storage import chunks_of
from orchestrator_service.storage import CHUNK_BYTES, ObjectMissing, ObjectStore, StoredObject
from orchestrator_service.tasks.models import Task
from orchestrator_service.tasks.service import track_ingestion
from orchestrator_service.tenants.quotas import Quotas
from orchestrator_service.webhooks.events import publish


def file_key(tenant_id: int, file_id: uuid.UUID) -> str:
    """The object key of an attachment: `files/<tenant id>/<file id>` (outside the documents'
    `<tenant>/<document>` keys, which the reconciler sweeps)."""
    return f"files/{tenant_id}/{file_id}"


def _display_name(filename: str | None) -> str:
    name = PurePath((filename or "").replace("\\", "/")).name.strip() or "attachment"
    return name[:255]


async def _measure(source: BinaryIO, max_bytes: int) -> tuple[str, int, bytes]:
    """SHA-256, size and first bytes of an upload, read a chunk at a time; over `max_bytes`
    is refused as soon as it is passed."""
    hasher, size, head = hashlib.sha256(), 0, b""
    async for chunk in chunks_of(source):
        size += len(chunk)
        if size > max_bytes:
            raise UploadTooLarge(
                f"The file is over the limit of {max_bytes} bytes", details={"max_bytes": max_bytes}
            )
        if len(head) < HEAD_BYTES:
            head += chunk[: HEAD_BYTES - len(head)]
        hasher.update(chunk)
    if size == 0:
        raise InvalidInput("The file is empty")
    return hasher.hexdigest(), size, head


async def attach(
    session: AsyncSession,
    store: ObjectStore,
    *,
    tenant_id: int,
    conversation_id: uuid.UUID,
    message_id: uuid.UUID | None,
    filename: str | None,
    source: BinaryIO,
    max_bytes: int,
    actor: Actor,
) -> File:
    """Attach a file to a conversation (and one of its messages). When the object store is
    unreachable (503) the caller's transaction rolls back: no row without its object."""
    conversation = await conversations.get_conversation(
        session, tenant_id=tenant_id, user_id=actor.user_id, conversation_id=conversation_id
    )
    if message_id is not None:
        found = await session.scalar(
            select(ChatMessage.id).where(
                ChatMessage.id == message_id, ChatMessage.conversation_id == conversation.id
            )
        )
        if found is None:
            raise NotFound("Message not found in this conversation")
    digest, size, head = await _measure(source, max_bytes)
    attached = File(
        id=uuid.uuid4(),
        tenant_id=tenant_id,
        conversation_id=conversation.id,
        message_id=message_id,
        original_filename=_display_name(filename),
        file_size=size,
        mime_type=sniff(head),
        file_hash=digest,
        uploaded_by=actor.user_id,
    )
    attached.filename = file_key(tenant_id, attached.id)
    attached.file_path = f"{store.url}/{attached.filename}"
    session.add(attached)
    await session.flush()
    await store.put(attached.filename, chunks_of(source), sha256=digest)
    await actor.record_change(
        session,
        action="create",
        resource_type="file",
        resource_id=attached.id,
        new={
            "conversation_id": str(conversation.id),
            "size": size,
            "mime_type": attached.mime_type,
        },
        tenant_id=tenant_id,
    )
    await publish(
        session,
        tenant_id=tenant_id,
        event="file.uploaded",
        data={
            "file_id": str(attached.id),
            "conversation_id": str(conversation.id),
            "mime_type": attached.mime_type,
            "size": size,
        },
    )
    await session.refresh(attached)
    return attached


async def list_files(
    session: AsyncSession, *, tenant_id: int, user_id: uuid.UUID | None, conversation_id: uuid.UUID
) -> list[File]:
    """The files of a conversation the caller can read, oldest first."""
    conversation = await conversations.get_conversation(
        session, tenant_id=tenant_id, user_id=user_id, conversation_id=conversation_id
    )
    rows = await session.scalars(
        scoped(File, tenant_id)
        .where(File.conversation_id == conversation.id)
        .order_by(File.created_at, File.id)
    )
    return list(rows)


async def get_file(
    session: AsyncSession, *, tenant_id: int, user_id: uuid.UUID | None, file_id: uuid.UUID
) -> File:
    """One file, if the caller can read its conversation; 404 otherwise."""
    attached = await session.scalar(scoped(File, tenant_id).where(File.id == file_id))
    if attached is None:
        raise NotFound("File not found")
    try:
        await conversations.get_conversation(
            session, tenant_id=tenant_id, user_id=user_id, conversation_id=attached.conversation_id
        )
    except NotFound:
        raise NotFound("File not found") from None
    return attached


async def open_file(
    session: AsyncSession,
    store: ObjectStore,
    *,
    tenant_id: int,
    user_id: uuid.UUID | None,
    file_id: uuid.UUID,
) -> tuple[File, StoredObject]:
    """A file and its bytes, refused when the stored object is not the one uploaded."""
    attached = await get_file(session, tenant_id=tenant_id, user_id=user_id, file_id=file_id)
    try:
        stored = await store.open(attached.filename)
    except ObjectMissing:
        raise Conflict("The file's stored bytes are missing; upload it again") from None
    if stored.sha256 is not None and stored.sha256 != attached.file_hash:
        await stored.chunks.aclose()
        raise Conflict("The stored file does not match the hash recorded at upload")
    return attached, stored


async def delete_file(
    session: AsyncSession, store: ObjectStore, *, tenant_id: int, file_id: uuid.UUID, actor: Actor
) -> None:
    """Delete a file and its stored bytes (a RAG document made from it stays)."""
    attached = await get_file(session, tenant_id=tenant_id, user_id=actor.user_id, file_id=file_id)
    await session.delete(attached)
    await session.flush()
    await actor.record_change(
        session, action="delete", resource_type="file", resource_id=attached.id, tenant_id=tenant_id
    )
    await store.delete(attached.filename)


async def ingest(
    session: AsyncSession,
    store: ObjectStore,
    *,
    quotas: Quotas,
    max_upload_bytes: int,
    tenant_id: int,
    file_id: uuid.UUID,
    collection: str,
    actor: Actor,
) -> tuple[File, RagDocument, Task]:
    """Send a file to RAG ingestion as a document of `collection` (the same bytes already
    there give the existing document), followed by an ingestion task."""
    attached, stored = await open_file(
        session, store, tenant_id=tenant_id, user_id=actor.user_id, file_id=file_id
    )
    if attached.file_size > max_upload_bytes:
        await stored.chunks.aclose()
        raise UploadTooLarge(
            f"The file is over the document upload limit of {max_upload_bytes} bytes",
            details={"max_bytes": max_upload_bytes},
        )
    with tempfile.SpooledTemporaryFile(max_size=8 * CHUNK_BYTES) as spool:
        async for chunk in stored.chunks:
            await asyncio.to_thread(spool.write, chunk)
        document, _ = await rag.upload(
            session,
            store,
            max_bytes=max_upload_bytes,
            quotas=quotas,
            tenant_id=tenant_id,
            filename=attached.original_filename,
            source=cast(BinaryIO, spool),
            collection=collection,
            metadata={
                "file_id": str(attached.id),
                "conversation_id": str(attached.conversation_id),
            },
            replace=False,
            actor=actor,
        )
    attached.document_id = document.id
    task = await track_ingestion(
        session,
        tenant_id=tenant_id,
        document_id=document.id,
        title=f"Ingest {attached.original_filename}",
        conversation_id=attached.conversation_id,
        actor=actor,
    )
    attached.task_id = task.id
    await session.flush()
    return attached, document, task
