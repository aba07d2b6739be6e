"""The ingestion pipeline: parse -> chunk -> embed -> write vectors -> publish -> mark ready.

Vectors are written under a fresh generation, which is published to the vector store's
visibility table (the generation it displaces staying visible beside it); the document switches
to it in one metadata update, and only then are older generations deleted. A failed or
interrupted attempt leaves no searchable chunk: its generation is never switched to (search
checks its hits against the metadata), and is deleted on failure (or by the next attempt and
the reconciler, if the worker died).
"""

import asyncio
import logging
import uuid
from dataclasses import dataclass

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from orchestrator_service.errors import OrchestratorError
from orchestrator_service.metrics import INGESTED_CHUNKS, INGESTION_JOBS
from orchestrator_service.rag.chunking import chunk
from orchestrator_service.rag.documents import Chunk, ParseError
from orchestrator_service.rag.embedders import Embedder, EmbedderName, Embedders
from orchestrator_service.rag.models import RagDocument
from orchestrator_service.rag.parsers import parse
from orchestrator_service.rag.storage import FileStore
from orchestrator_service.rag.vector_store import VectorRecord, VectorStore

log = logging.getLogger(__name__)

# Chunks embedded per call. The whole document is sorted by token count first, so each call
# pads as little as the embedder alone would, writes overlap the next call, and progress moves
# every batch.
BATCH = 64
_NO_STORE = "No vector store is configured on this service"


class Ingestor:
    """Runs the ingestion of one document at a time, each step in a transaction of its own."""

    def __init__(
        self,
        *,
        sessionmaker: async_sessionmaker[AsyncSession],
        vector_store: VectorStore | None,
        embedders: Embedders,
        files: FileStore,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._store = vector_store
        self._embedders = embedders
        self._files = files

    async def ingest(self, document_id: str, *, embedder_name: EmbedderName | None = None) -> None:
        """Ingest one document; on failure the document says why, and nothing half-written
        stays.

        A ready document is re-ingested (replace, or reindex into `embedder_name`) while its
        ready copy stays searchable; the new copy replaces it in one metadata update.
        """
        async with self._sessionmaker.begin() as session:
            doc = await session.get(RagDocument, document_id, with_for_update=True)
            if doc is None or doc.status in ("deleting", "failed"):
                return
            doc.attempts += 1
            if doc.status != "ready":  # a replace keeps the ready copy searchable meanwhile
                doc.status = "processing"
            doc.chunks_done, doc.error = 0, None
            tenant_id, previous = doc.tenant_id, doc.generation
            collection, filename = doc.collection, doc.filename
            participant = (doc.meta or {}).get("participant")
        generation = uuid.uuid4().hex
        store = self._store
        if store is None:
            await self._fail(document_id, tenant_id, previous, _NO_STORE)
            return
        try:
            async with self._embedders.open(tenant_id, embedder_name) as embedder:
                data = await self._files.load(self._files.path(tenant_id, document_id))
                parsed = await asyncio.to_thread(parse, data, filename)
                chunks = await asyncio.to_thread(
                    chunk, parsed, max_tokens=embedder.max_tokens, participant=participant
                )
                await self._set(document_id, chunks_total=len(chunks), file_type=parsed.kind)
                target = _Target(tenant_id, document_id, collection, generation)
                await self._embed_and_write(store, embedder, target, chunks)
                model_id = embedder.model_id
            # Published before the switch, the previous generation staying a candidate: search
            # keeps whichever of the two the metadata names, so the document never drops out.
            await store.publish(tenant_id, document_id, generation)
            async with self._sessionmaker.begin() as session:
                doc = await session.get(RagDocument, document_id, with_for_update=True)
                if doc is None or doc.status == "deleting":
                    await store.delete_source(tenant_id, document_id, keep_generation=None)
                    return
                doc.status, doc.generation = "ready", generation
                doc.chunk_count = doc.chunks_done = len(chunks)
                doc.embedding_model = model_id
            await store.delete_source(tenant_id, document_id, keep_generation=generation)
            INGESTION_JOBS.labels("ready").inc()
            INGESTED_CHUNKS.inc(len(chunks))
        except (ParseError, FileNotFoundError) as exc:
            reason = exc.message if isinstance(exc, ParseError) else "The uploaded file is missing"
            await self._fail(document_id, tenant_id, previous, reason)
        except Exception as exc:
            log.exception("ingestion of %s failed", document_id)
            await self._fail(document_id, tenant_id, previous, _describe(exc))

    async def _embed_and_write(
        self, store: VectorStore, embedder: Embedder, target: "_Target", chunks: list[Chunk]
    ) -> None:
        """Embed batch n+1 while batch n is written, so writing costs (almost) no extra time."""
        writing: asyncio.Task | None = None
        ordered = sorted(chunks, key=lambda c: c.tokens)
        for start in range(0, len(ordered), BATCH):
            batch = ordered[start : start + BATCH]
            vectors = await embedder.embed([c.content for c in batch])
            records = [
                VectorRecord(
                    tenant_id=target.tenant_id,
                    source_id=target.document_id,
                    collection=target.collection,
                    chunk_index=c.index,
                    content=c.content,
                    embedding=vector,
                    embedding_model=embedder.model_id,
                    generation=target.generation,
                    metadata=c.metadata,
                )
                for c, vector in zip(batch, vectors, strict=True)
            ]
            if writing is not None:
                await writing
            writing = asyncio.create_task(
                self._write(store, target.document_id, records, done=start + len(batch))
            )
        if writing is not None:
            await writing

    async def _write(
        self, store: VectorStore, document_id: str, records: list[VectorRecord], *, done: int
    ) -> None:
        await store.add(records)
        await self._set(document_id, chunks_done=done)

    async def _set(self, document_id: str, **values: object) -> None:
        async with self._sessionmaker.begin() as session:
            await session.execute(
                update(RagDocument).where(RagDocument.id == document_id).values(**values)
            )

    async def _fail(
        self, document_id: str, tenant_id: int, previous: str | None, reason: str
    ) -> None:
        """Delete the attempt's vectors and record why; a replace keeps the ready copy."""
        INGESTION_JOBS.labels("failed").inc()
        try:
            if self._store is not None:
                await self._store.delete_source(tenant_id, document_id, keep_generation=previous)
        except Exception:  # the reconciler removes what could not be deleted now
            log.warning("could not delete the vectors of failed ingestion %s", document_id)
        async with self._sessionmaker.begin() as session:
            doc = await session.get(RagDocument, document_id, with_for_update=True)
            if doc is None:
                return
            doc.error = reason
            if doc.generation is None:
                doc.status = "failed"


@dataclass(frozen=True)
class _Target:
    """Where one attempt's vectors go."""

    tenant_id: int
    document_id: str
    collection: str
    generation: str


def _describe(exc: BaseException) -> str:
    """What the tenant is told: a domain error's message, else only the class of the error (a
    library's text can quote what it was handling, an outbound request and its key included)."""
    if isinstance(exc, OrchestratorError):
        return f"Ingestion failed: {exc.message}"
    return f"Ingestion failed: an unexpected error ({type(exc).__name__})"
