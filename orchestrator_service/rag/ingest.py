"""The ingestion pipeline: parse -> chunk -> embed -> write vectors -> publish -> mark ready.

Parsing, chunking and local embedding run in a worker process (rag/sandbox), which streams
batches of embedded chunks back; this process writes them. Vectors are written under a fresh
generation, which is published to the vector store's visibility table (the generation it
displaces staying visible beside it); the document switches to it in one metadata update, and
only then are older generations deleted. A failed or interrupted attempt leaves no searchable
chunk: its generation is never switched to (search checks its hits against the metadata), and
is deleted on failure (or by the next attempt and the reconciler, if the worker died). A
document whose ingestion was started `max_attempts` times without finishing (each time its
service process died or froze) fails instead of being handed to yet another replica.

The stored file is copied from the object store to a scratch file for the worker process, which
checks its hash before parsing. Object storage unreachable defers the job (`IngestionDeferred`,
a backoff that doubles with each attempt) while attempts remain, then fails the document.
"""

import asyncio
import logging
import random
import tempfile
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from orchestrator_service.credentials.scrub import Scrubber
from orchestrator_service.errors import OrchestratorError
from orchestrator_service.metrics import INGESTED_CHUNKS, INGESTION_JOBS
from orchestrator_service.rag.documents import ParseError
from orchestrator_service.rag.embedders import (
    EMBEDDER_NAMES,
    Embedder,
    EmbedderName,
    Embedders,
)
from orchestrator_service.rag.embedders.fused import FusedEmbedder
from orchestrator_service.rag.embedders.local import LocalEmbedder
from orchestrator_service.rag.embedders.multilingual import MultilingualEmbedder
from orchestrator_service.rag.embedders.use import UseEmbedder
from orchestrator_service.rag.models import RagDocument
from orchestrator_service.rag.outcomes import announce_failed, announce_ready
from orchestrator_service.rag.sandbox import Batch, IngestPool, Parsed, Request
from orchestrator_service.rag.storage import document_key, fetch
from orchestrator_service.rag.vector_store import VectorRecord, VectorStore
from orchestrator_service.storage import ObjectMissing, ObjectStore, StorageUnavailable
from orchestrator_service.tenants.models import Tenant

log = logging.getLogger(__name__)

# Chunks per batch. The worker sorts the whole document by token count first, so each batch
# pads as little as the embedder alone would; writing a batch overlaps embedding the next,
# and progress moves every batch.
BATCH = 64
_NO_STORE = "No vector store is configured on this service"
_MISSING = "The stored file is gone (removed from storage outside the service); upload it again"
# A deferred ingestion waits about 2 s, then 4, 8... up to this.
_LONGEST_DEFERRAL = 60.0


class IngestionDeferred(Exception):
    """Object storage is unreachable: run this ingestion again after `delay` seconds."""

    def __init__(self, document_id: str, delay: float) -> None:
        super().__init__(f"ingestion of {document_id} deferred {delay:.1f} s: storage unreachable")
        self.delay = delay


class Ingestor:
    """Runs the ingestion of one document at a time, each step in a transaction of its own."""

    def __init__(
        self,
        *,
        sessionmaker: async_sessionmaker[AsyncSession],
        vector_store: VectorStore | None,
        embedders: Embedders,
        files: ObjectStore,
        pool: IngestPool,
        max_attempts: int,
        scrubber: Callable[[int], Scrubber],
    ) -> None:
        self._sessionmaker = sessionmaker
        self._store = vector_store
        self._embedders = embedders
        self._files = files
        self._pool = pool
        self._max_attempts = max_attempts
        self._scrubber = scrubber

    async def ingest(
        self,
        document_id: str,
        *,
        embedder_name: EmbedderName | None = None,
        restart: bool = False,
    ) -> None:
        """Ingest one document; on failure the document says why, and nothing half-written
        stays.

        A ready document is re-ingested (replace, or reindex into `embedder_name`) while its
        ready copy stays searchable; the new copy replaces it in one metadata update.
        `restart` marks a new request (a reindex): its attempts count from zero.
        Raises `IngestionDeferred` when object storage is unreachable and attempts remain.
        """
        async with self._sessionmaker.begin() as session:
            doc = await session.get(RagDocument, document_id, with_for_update=True)
            if doc is None or doc.status in ("deleting", "failed"):
                return
            attempts = 0 if restart else doc.attempts
            tenant_id, previous = doc.tenant_id, doc.generation
            collection, filename, sha256 = doc.collection, doc.filename, doc.content_hash or ""
            participant = (doc.meta or {}).get("participant")
            if embedder_name is None:
                embedder_name = await self._choose(session, tenant_id, collection)
            given_up = attempts >= self._max_attempts
            if not given_up:
                doc.attempts = attempts + 1
                if doc.status != "ready":  # a replace keeps the ready copy searchable meanwhile
                    doc.status = "processing"
                doc.chunks_done, doc.error = 0, None
        if given_up:
            await self._fail(document_id, tenant_id, previous, _given_up(attempts))
            return
        generation = uuid.uuid4().hex
        store = self._store
        if store is None:
            await self._fail(document_id, tenant_id, previous, _NO_STORE)
            return
        target = _Target(tenant_id, document_id, collection, generation)
        try:
            with tempfile.TemporaryDirectory(prefix="orch-ingest-") as scratch:
                path = Path(scratch) / "document"
                await fetch(self._files, document_key(tenant_id, document_id), path, sha256=sha256)
                async with self._embedders.open(tenant_id, embedder_name) as embedder:
                    request = Request(
                        path=str(path),
                        sha256=sha256,
                        filename=filename,
                        participant=participant,
                        max_tokens=embedder.max_tokens,
                        embed=_worker_model(embedder),
                        batch=BATCH,
                    )
                    async with self._pool.document(request) as events:
                        count = await self._embed_and_write(store, embedder, target, events)
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
                doc.chunk_count = doc.chunks_done = count
                doc.embedding_model = model_id
                await announce_ready(session, doc)
            await store.delete_source(tenant_id, document_id, keep_generation=generation)
            INGESTION_JOBS.labels("ready").inc()
            INGESTED_CHUNKS.inc(count)
        except StorageUnavailable as exc:
            if attempts + 1 >= self._max_attempts:
                await self._fail(document_id, tenant_id, previous, _unreachable(exc, attempts + 1))
                return
            await self._defer(document_id, exc)
            raise IngestionDeferred(document_id, _backoff(attempts + 1)) from None
        except ObjectMissing:
            await self._fail(document_id, tenant_id, previous, _MISSING)
        except ParseError as exc:
            await self._fail(document_id, tenant_id, previous, exc.message)
        except Exception as exc:
            log.exception("ingestion of %s failed", document_id)
            await self._fail(document_id, tenant_id, previous, _describe(exc))

    async def _choose(self, session: AsyncSession, tenant_id: int, collection: str) -> EmbedderName:
        """A collection keeps the embedder of its ready documents (the last reindex moved it
        there); a new one takes the tenant's embedder, else its language's default."""
        current = await session.scalar(
            select(RagDocument.embedding_model)
            .where(
                RagDocument.tenant_id == tenant_id,
                RagDocument.collection == collection,
                RagDocument.status == "ready",
                RagDocument.embedding_model.is_not(None),
            )
            .order_by(RagDocument.updated_at.desc())
            .limit(1)
        )
        if current is not None:
            return self._embedders.name_of(current)
        tenant = (
            await session.execute(
                select(Tenant.embedder, Tenant.language).where(Tenant.id == tenant_id)
            )
        ).one()
        if tenant.embedder in EMBEDDER_NAMES:
            return tenant.embedder
        return self._embedders.default_for(tenant.language)

    async def _embed_and_write(
        self,
        store: VectorStore,
        embedder: Embedder,
        target: "_Target",
        events: AsyncIterator[Parsed | Batch],
    ) -> int:
        """Write batch n while batch n+1 is embedded (by the worker, or here by a remote
        embedder), so writing costs (almost) no extra time; return the number of chunks."""
        writing: asyncio.Task | None = None
        done = 0
        try:
            async for event in events:
                if isinstance(event, Parsed):
                    await self._set(
                        target.document_id, chunks_total=event.chunks, file_type=event.kind
                    )
                    continue
                batch = event.chunks
                vectors = event.vectors
                if vectors is None:
                    vectors = await embedder.embed([c.content for c in batch])
                records = [
                    VectorRecord(
                        tenant_id=target.tenant_id,
                        source_id=target.document_id,
                        collection=target.collection,
                        chunk_index=c.index,
                        content=c.content,
                        embedding=part_vector,
                        embedding_model=model_id,
                        generation=target.generation,
                        metadata=c.metadata,
                    )
                    for c, vector in zip(batch, vectors, strict=True)
                    for model_id, part_vector in _per_model(embedder, vector)
                ]
                if writing is not None:
                    await writing
                done += len(batch)
                writing = asyncio.create_task(
                    self._write(store, target.document_id, records, done=done)
                )
        except BaseException:
            if writing is not None:  # no write may land after the caller deletes this attempt
                writing.cancel()
                await asyncio.gather(writing, return_exceptions=True)
            raise
        if writing is not None:
            await writing
        return done

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

    async def _defer(self, document_id: str, exc: StorageUnavailable) -> None:
        """Say why the document waits; a replace or reindex keeps its ready copy meanwhile."""
        async with self._sessionmaker.begin() as session:
            doc = await session.get(RagDocument, document_id, with_for_update=True)
            if doc is None:
                return
            doc.error = f"Waiting to retry: {exc.message}"
            if doc.status == "processing":
                doc.status = "queued"

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
            await announce_failed(session, doc, reason, self._scrubber(tenant_id))


@dataclass(frozen=True)
class _Target:
    """Where one attempt's vectors go."""

    tenant_id: int
    document_id: str
    collection: str
    generation: str


def _per_model(embedder: Embedder, vector: list[float]) -> list[tuple[str, list[float]]]:
    """(model id, vector) of each row a chunk gets: one per model of a fused embedder."""
    if isinstance(embedder, FusedEmbedder):
        return embedder.split(vector)
    return [(embedder.model_id, vector)]


def _worker_model(embedder: Embedder) -> str | None:
    """The local model the worker process embeds with, None for a remote embedder."""
    if isinstance(embedder, FusedEmbedder):
        return "multilingual+use"
    if isinstance(embedder, LocalEmbedder):
        return "local"
    if isinstance(embedder, MultilingualEmbedder):
        return "multilingual"
    if isinstance(embedder, UseEmbedder):
        return "use"
    return None


def _given_up(attempts: int) -> str:
    return (
        f"Ingestion was started {attempts} times and never finished: the process running it "
        "stopped each time (limit ORCH_INGEST_MAX_ATTEMPTS). Upload the file again, or a "
        "smaller one."
    )


def _backoff(attempts: int) -> float:
    """Seconds before attempt `attempts + 1`: doubling, shortened at random by up to half so
    that deferred jobs do not all come back at once."""
    longest = min(_LONGEST_DEFERRAL, 2.0**attempts)
    return random.uniform(longest / 2, longest)  # noqa: S311 (spreading, not a secret)


def _unreachable(exc: StorageUnavailable, attempts: int) -> str:
    return (
        f"Ingestion failed: {exc.message} (tried {attempts} times, limit "
        "ORCH_INGEST_MAX_ATTEMPTS). Upload the file again once storage is back."
    )


def _describe(exc: BaseException) -> str:
    """What the tenant is told: a domain error's message, else only the class of the error (a
    library's text can quote what it was handling, an outbound request and its key included)."""
    if isinstance(exc, OrchestratorError):
        return f"Ingestion failed: {exc.message}"
    return f"Ingestion failed: an unexpected error ({type(exc).__name__})"
