"""The ingestion pipeline: parse -> chunk -> embed -> write vectors -> mark ready.

Vectors are written under a fresh generation; the document switches to it in one metadata
update, and only then are older generations deleted. A failed or interrupted attempt leaves
no searchable chunk: its generation is never switched to, and is deleted on failure (or by the
next attempt and the reconciler, if the worker died).
"""

import asyncio
import logging
import uuid

from sqlalchemy import update

from orchestrator_service.audit.service import Actor
from orchestrator_service.credentials.service import resolve_secret
from orchestrator_service.db.runtime import Runtime
from orchestrator_service.metrics import INGESTED_CHUNKS, INGESTION_JOBS
from orchestrator_service.rag import storage
from orchestrator_service.rag.chunking import chunk
from orchestrator_service.rag.documents import Chunk, ParseError
from orchestrator_service.rag.embedders import Embedder
from orchestrator_service.rag.embedders.openai import OpenAIEmbedder
from orchestrator_service.rag.models import RagDocument
from orchestrator_service.rag.parsers import parse
from orchestrator_service.rag.vector_store import VectorRecord

log = logging.getLogger(__name__)

# Chunks embedded per call. The whole document is sorted by token count first, so each call
# pads as little as the embedder alone would, writes overlap the next call, and progress moves
# every batch.
BATCH = 64


SYSTEM = "system:ingestion"


async def embedder_for(runtime: Runtime, tenant_id: int, name: str) -> Embedder:
    """The embedder called `name` for a tenant; `openai` uses the tenant's vault key."""
    if name == "local":
        return runtime.embedder
    settings = runtime.settings
    actor = Actor(tenant_id=tenant_id, user_id=None, key_id=None, label=SYSTEM)
    async with runtime.sessionmaker.begin() as session:
        api_key = await resolve_secret(
            session,
            runtime.sessionmaker,
            runtime.vault,
            tenant_id=tenant_id,
            name=settings.openai_embedding_credential,
            consumer="embedder",
            destination=settings.openai_embedding_base_url,
            actor=actor,
        )
    return OpenAIEmbedder(
        base_url=settings.openai_embedding_base_url,
        model=settings.openai_embedding_model,
        dimensions=runtime.vector_store.dimensions,
        api_key=api_key,
    )


async def ingest_document(
    runtime: Runtime, document_id: str, *, embedder_name: str | None = None
) -> None:
    """Ingest one document; on failure the document says why, and nothing half-written stays.

    A ready document is re-ingested (replace, or reindex into `embedder_name`) while its ready
    copy stays searchable; the new copy replaces it in one metadata update.
    """
    async with runtime.sessionmaker.begin() as session:
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
    store = runtime.vector_store
    embedder: Embedder | None = None
    try:
        embedder = await embedder_for(
            runtime, tenant_id, embedder_name or runtime.settings.embedder
        )
        data = await storage.load(storage.upload_path(runtime.settings, tenant_id, document_id))
        parsed = await asyncio.to_thread(parse, data, filename)
        chunks = await asyncio.to_thread(
            chunk, parsed, max_tokens=embedder.max_tokens, participant=participant
        )
        await _set(runtime, document_id, chunks_total=len(chunks), file_type=parsed.kind)
        await _embed_and_write(
            runtime, embedder, document_id, tenant_id, collection, generation, chunks
        )
        async with runtime.sessionmaker.begin() as session:
            doc = await session.get(RagDocument, document_id, with_for_update=True)
            if doc is None or doc.status == "deleting":
                await store.delete_source(tenant_id, document_id, keep_generation=None)
                return
            doc.status, doc.generation = "ready", generation
            doc.chunk_count = doc.chunks_done = len(chunks)
            doc.embedding_model = embedder.model_id
        await store.delete_source(tenant_id, document_id, keep_generation=generation)
        INGESTION_JOBS.labels("ready").inc()
        INGESTED_CHUNKS.inc(len(chunks))
    except (ParseError, FileNotFoundError) as exc:
        reason = exc.message if isinstance(exc, ParseError) else "The uploaded file is missing"
        await _fail(runtime, document_id, tenant_id, previous, reason)
    except Exception as exc:
        log.exception("ingestion of %s failed", document_id)
        await _fail(runtime, document_id, tenant_id, previous, _describe(exc))
    finally:
        if isinstance(embedder, OpenAIEmbedder):
            await embedder.close()


async def _embed_and_write(
    runtime: Runtime,
    embedder: Embedder,
    document_id: str,
    tenant_id: int,
    collection: str,
    generation: str,
    chunks: list[Chunk],
) -> None:
    """Embed batch n+1 while batch n is written, so writing costs (almost) no extra time."""
    writing: asyncio.Task | None = None
    ordered = sorted(chunks, key=lambda c: c.tokens)
    for start in range(0, len(ordered), BATCH):
        batch = ordered[start : start + BATCH]
        vectors = await embedder.embed([c.content for c in batch])
        records = [
            VectorRecord(
                tenant_id=tenant_id,
                source_id=document_id,
                collection=collection,
                chunk_index=c.index,
                content=c.content,
                embedding=vector,
                embedding_model=embedder.model_id,
                generation=generation,
                metadata=c.metadata,
            )
            for c, vector in zip(batch, vectors, strict=True)
        ]
        if writing is not None:
            await writing
        writing = asyncio.create_task(
            _write(runtime, document_id, records, done=start + len(batch))
        )
    if writing is not None:
        await writing


async def _write(
    runtime: Runtime, document_id: str, records: list[VectorRecord], *, done: int
) -> None:
    await runtime.vector_store.add(records)
    await _set(runtime, document_id, chunks_done=done)


async def _set(runtime: Runtime, document_id: str, **values: object) -> None:
    async with runtime.sessionmaker.begin() as session:
        await session.execute(
            update(RagDocument).where(RagDocument.id == document_id).values(**values)
        )


async def _fail(
    runtime: Runtime, document_id: str, tenant_id: int, previous: str | None, reason: str
) -> None:
    """Delete the attempt's vectors and record why; a replace keeps the ready copy."""
    INGESTION_JOBS.labels("failed").inc()
    try:
        await runtime.vector_store.delete_source(tenant_id, document_id, keep_generation=previous)
    except Exception:  # the reconciler removes what could not be deleted now
        log.warning("could not delete the vectors of failed ingestion %s", document_id)
    async with runtime.sessionmaker.begin() as session:
        doc = await session.get(RagDocument, document_id, with_for_update=True)
        if doc is None:
            return
        doc.error = reason
        if doc.generation is None:
            doc.status = "failed"


def _describe(exc: BaseException) -> str:
    message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    return f"Ingestion failed: {message}"
