"""RAG documents of a tenant: upload (deduplicated), list, show, collections."""

import asyncio
import hashlib
import uuid
from collections.abc import Callable
from pathlib import PurePath
from typing import BinaryIO

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from orchestrator_service.audit.service import Actor, record
from orchestrator_service.db.tenancy import get_scoped, scoped
from orchestrator_service.errors import OrchestratorError
from orchestrator_service.jobs.queue import enqueue_ingest
from orchestrator_service.pagination import PageParams, paginate
from orchestrator_service.rag.models import RagDocument
from orchestrator_service.rag.schemas import DEFAULT_COLLECTIONS, CollectionOut, DocumentStatus
from orchestrator_service.rag.storage import chunks_of, document_key
from orchestrator_service.storage import ObjectStore
from orchestrator_service.tenants.quotas import Quotas


class UploadTooLarge(OrchestratorError):
    """The upload is over the configured limit."""

    status_code = 413
    code = "upload_too_large"


def _clean_filename(filename: str | None) -> str:
    """The client's file name for display only: no directories, bounded length."""
    name = PurePath((filename or "").replace("\\", "/")).name.strip() or "upload"
    return name[:255]


async def _digest(source: BinaryIO, max_bytes: int) -> tuple[str, int]:
    """The SHA-256 and size of an upload, read a chunk at a time; over `max_bytes` is refused."""
    hasher, size = hashlib.sha256(), 0
    async for chunk in chunks_of(source):
        size += len(chunk)
        if size > max_bytes:
            raise UploadTooLarge(
                f"The file is over the limit of {max_bytes} bytes",
                details={"max_bytes": max_bytes},
            )
        hasher.update(chunk)
    return hasher.hexdigest(), size


async def upload(
    session: AsyncSession,
    files: ObjectStore,
    *,
    max_bytes: int,
    quotas: Quotas,
    tenant_id: int,
    filename: str | None,
    source: BinaryIO,
    collection: str,
    metadata: dict,
    replace: bool,
    actor: Actor,
) -> tuple[RagDocument, bool]:
    """Store an upload and queue its ingestion; return (document, whether it is new).

    The same bytes in the same tenant and collection return the existing document; with
    `replace` it is re-ingested, its ready copy staying searchable until the new one is. A new
    document must fit the tenant's documents and stored-bytes quotas (`QuotaExceeded`).

    `source` (a seekable file) is read twice, a chunk at a time: once for its hash, once into
    storage. When storage is unreachable (`StorageUnavailable`, 503) the caller's transaction
    rolls back, so no document is left without its file.
    """
    digest, size = await _digest(source, max_bytes)
    existing = await session.scalar(
        scoped(RagDocument, tenant_id).where(
            RagDocument.collection == collection,
            RagDocument.content_hash == digest,
            RagDocument.status.not_in(("failed", "deleting")),
        )
    )
    if existing is not None:
        if replace:
            existing.attempts = 0  # a new request: ORCH_INGEST_MAX_ATTEMPTS counts afresh
            await enqueue_ingest(session, existing.id)
            await record(
                session,
                actor,
                action="reingest",
                resource_type="rag_document",
                resource_id=existing.id,
            )
        return existing, False
    await quotas.lock_uploads(session, tenant_id=tenant_id)
    documents, stored_bytes = (
        await session.execute(
            select(func.count(), func.sum(RagDocument.size_bytes)).where(
                RagDocument.tenant_id == tenant_id, RagDocument.status != "deleting"
            )
        )
    ).one()
    await quotas.check_upload(
        session, documents=documents, stored_bytes=int(stored_bytes or 0), adding=size
    )
    name = _clean_filename(filename)
    document = RagDocument(
        id=str(uuid.uuid4()),
        tenant_id=tenant_id,
        filename=name,
        collection=collection,
        file_type=PurePath(name).suffix.lstrip(".").lower()[:50] or "unknown",
        status="queued",
        content_hash=digest,
        size_bytes=size,
        meta=metadata,
    )
    key = document_key(tenant_id, document.id)
    document.file_path = f"{files.url}/{key}"
    session.add(document)
    await session.flush()
    await files.put(key, chunks_of(source), sha256=digest)
    await enqueue_ingest(session, document.id)
    await record(
        session,
        actor,
        action="create",
        resource_type="rag_document",
        resource_id=document.id,
        new={"filename": name, "collection": collection, "size_bytes": size},
    )
    await session.refresh(document)
    return document, True


async def list_documents(
    session: AsyncSession,
    *,
    tenant_id: int,
    page: PageParams,
    collection: str | None = None,
    status: DocumentStatus | None = None,
) -> tuple[list[RagDocument], str | None]:
    """The tenant's documents, newest first."""
    stmt = scoped(RagDocument, tenant_id)
    if collection is not None:
        stmt = stmt.where(RagDocument.collection == collection)
    if status is not None:
        stmt = stmt.where(RagDocument.status == status)
    return await paginate(session, stmt, RagDocument, page)


async def get_document(session: AsyncSession, *, tenant_id: int, document_id: str) -> RagDocument:
    """One document of the tenant, or 404."""
    return await get_scoped(session, RagDocument, tenant_id, document_id, what="Document")


async def list_collections(session: AsyncSession, *, tenant_id: int) -> list[CollectionOut]:
    """The seed's three collections and every other one the tenant uses, with counts."""
    rows = await session.execute(
        select(RagDocument.collection, func.count())
        .where(RagDocument.tenant_id == tenant_id, RagDocument.status != "deleting")
        .group_by(RagDocument.collection)
    )
    counts = {name: count for name, count in rows}
    names = list(DEFAULT_COLLECTIONS) + sorted(set(counts) - set(DEFAULT_COLLECTIONS))
    return [CollectionOut(name=n, documents=counts.get(n, 0)) for n in names]


async def wait_for(
    sessionmaker: async_sessionmaker[AsyncSession],
    document_ids: list[str],
    *,
    progress: Callable[[int, int], None],
    poll_seconds: float = 0.5,
) -> list[RagDocument]:
    """Wait until every document is ready or failed, reporting progress; return them."""
    while True:
        async with sessionmaker() as session:
            documents = list(
                await session.scalars(select(RagDocument).where(RagDocument.id.in_(document_ids)))
            )
        done = sum(1 for d in documents if d.status in ("ready", "failed"))
        progress(done, len(document_ids))
        if done == len(documents):
            return documents
        await asyncio.sleep(poll_seconds)


async def ready_documents(
    sessionmaker: async_sessionmaker[AsyncSession], *, tenant_id: int, collection: str | None
) -> list[str]:
    """Ids of the tenant's ready documents (in one collection, if given)."""
    stmt = select(RagDocument.id).where(
        RagDocument.tenant_id == tenant_id, RagDocument.status == "ready"
    )
    if collection is not None:
        stmt = stmt.where(RagDocument.collection == collection)
    async with sessionmaker() as session:
        return list(await session.scalars(stmt.order_by(RagDocument.created_at)))
