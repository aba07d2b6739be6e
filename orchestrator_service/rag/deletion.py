"""The dual delete: mark `deleting` (search hides it at once) -> delete the vectors
(idempotent) -> delete the metadata -> delete the file (best effort: with object storage
unreachable the file stays, an object without metadata that the reconciler removes). A step
that cannot finish now is finished by the reconciler; nothing is ever left half-deleted and
visible."""

import logging

from sqlalchemy import delete, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from orchestrator_service.audit.service import Actor, record
from orchestrator_service.db.tenancy import get_scoped
from orchestrator_service.rag.models import RagDocument
from orchestrator_service.rag.storage import document_key
from orchestrator_service.rag.vector_store import VectorStore, VectorStoreError
from orchestrator_service.storage import ObjectStore, StorageUnavailable

log = logging.getLogger(__name__)


class DocumentDeleter:
    """Deletes documents from both stores and the file store, in that order."""

    def __init__(
        self,
        *,
        sessionmaker: async_sessionmaker[AsyncSession],
        vector_store: VectorStore | None,
        files: ObjectStore,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._store = vector_store
        self._files = files

    async def delete(self, *, tenant_id: int, document_id: str, actor: Actor) -> bool:
        """Delete a document; True when done, False when the vector store was down (pending)."""
        async with self._sessionmaker.begin() as session:
            document = await get_scoped(
                session, RagDocument, tenant_id, document_id, what="Document"
            )
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
            await self.finish(tenant_id=tenant_id, document_id=document_id)
        except VectorStoreError as exc:
            log.warning("delete of %s pending: %s", document_id, exc.message)
            return False
        return True

    async def finish(self, *, tenant_id: int, document_id: str) -> None:
        """Vectors, then metadata, then file, for a document marked `deleting`."""
        if self._store is not None:
            await self._store.delete_source(tenant_id, document_id)
        async with self._sessionmaker.begin() as session:
            await session.execute(
                delete(RagDocument).where(
                    RagDocument.id == document_id, RagDocument.status == "deleting"
                )
            )
        try:
            key = document_key(tenant_id, document_id)
        except ValueError:  # a seed-era id that no upload of this service ever stored
            return
        try:
            await self._files.delete(key)
        except StorageUnavailable as exc:
            log.warning("file of deleted document %s left to the reconciler: %s", document_id, exc)

    async def mark_failed(self, document_id: str, reason: str) -> None:
        """Give up on an ingestion (its lease expired and no job will retry it)."""
        async with self._sessionmaker.begin() as session:
            await session.execute(
                update(RagDocument)
                .where(
                    RagDocument.id == document_id,
                    RagDocument.status.in_(("queued", "processing")),
                )
                .values(status="failed", error=reason)
            )
