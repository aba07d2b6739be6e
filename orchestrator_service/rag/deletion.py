"""The dual delete: mark `deleting` (search hides it at once) -> delete the vectors
(idempotent) -> delete the metadata -> delete the file (best effort). A step that cannot
finish now is finished by the reconciler; nothing is ever left half-deleted and visible."""

import logging
from pathlib import Path

from sqlalchemy import delete, update

from orchestrator_service.audit.service import Actor, record
from orchestrator_service.db.runtime import Runtime
from orchestrator_service.db.tenancy import get_scoped
from orchestrator_service.rag import storage
from orchestrator_service.rag.models import RagDocument
from orchestrator_service.rag.vector_store import VectorStoreError

log = logging.getLogger(__name__)


async def delete_document(
    runtime: Runtime, *, tenant_id: int, document_id: str, actor: Actor
) -> bool:
    """Delete a document; True when done, False when the vector store was down (pending)."""
    async with runtime.sessionmaker.begin() as session:
        document = await get_scoped(session, RagDocument, tenant_id, document_id, what="Document")
        document.status = "deleting"
        await record(
            session,
            actor,
            action="delete",
            resource_type="rag_document",
            resource_id=document_id,
            old={"filename": document.filename, "collection": document.collection},
        )
    try:
        await finish_delete(runtime, tenant_id=tenant_id, document_id=document_id)
    except VectorStoreError as exc:
        log.warning("delete of %s pending: %s", document_id, exc.message)
        return False
    return True


async def finish_delete(runtime: Runtime, *, tenant_id: int, document_id: str) -> None:
    """Vectors, then metadata, then file, for a document marked `deleting`."""
    if runtime.vector_store is not None:
        await runtime.vector_store.delete_source(tenant_id, document_id)
    async with runtime.sessionmaker.begin() as session:
        path = await session.scalar(
            delete(RagDocument)
            .where(RagDocument.id == document_id, RagDocument.status == "deleting")
            .returning(RagDocument.file_path)
        )
    storage.remove(
        Path(path) if path else storage.upload_path(runtime.settings, tenant_id, document_id)
    )


async def mark_failed(runtime: Runtime, document_id: str, reason: str) -> None:
    """Give up on an ingestion (its lease expired and no job will retry it)."""
    async with runtime.sessionmaker.begin() as session:
        await session.execute(
            update(RagDocument)
            .where(RagDocument.id == document_id, RagDocument.status.in_(("queued", "processing")))
            .values(status="failed", error=reason)
        )
