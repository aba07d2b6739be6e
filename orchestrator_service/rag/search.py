"""Knowledge search: vector or hybrid, over the tenant's ready documents only, with the tenant
and the ready-set applied inside the vector query (so top-k is complete and never leaks)."""

from collections import defaultdict
from typing import Literal

from pydantic import Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from orchestrator_service.db.runtime import Runtime
from orchestrator_service.errors import InvalidInput
from orchestrator_service.metrics import SEARCH_LATENCY
from orchestrator_service.rag.embedders.local import MODEL_ID as LOCAL_MODEL
from orchestrator_service.rag.filters import check_filter
from orchestrator_service.rag.ingest import embedder_for
from orchestrator_service.rag.models import RagDocument
from orchestrator_service.rag.vector_store import VectorStoreError
from orchestrator_service.schemas import Input, Output


class SearchRequest(Input):
    """A knowledge query."""

    query: str = Field(min_length=1, max_length=4000)
    collections: list[str] | None = Field(default=None, max_length=64)
    top_k: int = Field(default=5, ge=1, le=50)
    filters: dict | None = None
    score_threshold: float | None = Field(default=None, ge=-1, le=1)
    mode: Literal["vector", "hybrid"] = "vector"


class SearchResult(Output):
    """One chunk found."""

    content: str
    score: float
    similarity: float
    document_id: str
    filename: str
    collection: str
    chunk_index: int
    metadata: dict


def _embedder_name(model_id: str) -> str:
    return "local" if model_id == LOCAL_MODEL else "openai"


async def search(
    session: AsyncSession,
    runtime: Runtime,
    *,
    tenant_id: int,
    request: SearchRequest,
    allowed_collections: list[str] | None = None,
) -> list[SearchResult]:
    """The best `top_k` chunks of the tenant's ready documents for the query."""
    with SEARCH_LATENCY.labels(request.mode).time():
        return await _search(
            session,
            runtime,
            tenant_id=tenant_id,
            request=request,
            allowed_collections=allowed_collections,
        )


async def _search(
    session: AsyncSession,
    runtime: Runtime,
    *,
    tenant_id: int,
    request: SearchRequest,
    allowed_collections: list[str] | None,
) -> list[SearchResult]:
    if request.filters is not None:
        check_filter(request.filters)
    if runtime.vector_store is None:
        raise VectorStoreError("No vector store is configured on this service")
    collections = request.collections
    if allowed_collections is not None:
        collections = [c for c in (collections or allowed_collections) if c in allowed_collections]
        if not collections:
            return []
    stmt = select(
        RagDocument.id,
        RagDocument.generation,
        RagDocument.embedding_model,
        RagDocument.filename,
        RagDocument.collection,
    ).where(RagDocument.tenant_id == tenant_id, RagDocument.status == "ready")
    if collections is not None:
        stmt = stmt.where(RagDocument.collection.in_(collections))
    ready = (await session.execute(stmt)).all()
    by_model: dict[str, dict[str, str]] = defaultdict(dict)
    for row in ready:
        by_model[row.embedding_model][row.id] = row.generation
    documents = {row.id: row for row in ready}
    matches = []
    for model_id, sources in by_model.items():
        embedder = await embedder_for(runtime, tenant_id, _embedder_name(model_id))
        if embedder.model_id != model_id:
            raise InvalidInput(f"Documents embedded with {model_id!r} cannot be searched here")
        vector = (await embedder.embed([request.query]))[0]
        query_filter = {"sources": sources}
        if request.filters:
            query_filter["metadata"] = request.filters
        matches += await runtime.vector_store.search(
            tenant_id,
            vector,
            request.top_k,
            filter=query_filter,
            query_text=request.query if request.mode == "hybrid" else None,
        )
    results = [
        SearchResult(
            content=m.content,
            score=m.score if m.score is not None else m.similarity,
            similarity=m.similarity,
            document_id=m.metadata["source_id"],
            filename=documents[m.metadata["source_id"]].filename,
            collection=m.metadata["collection"],
            chunk_index=m.metadata["chunk_index"],
            metadata=m.metadata,
        )
        for m in matches
        if request.score_threshold is None or m.similarity >= request.score_threshold
    ]
    results.sort(key=lambda r: r.score, reverse=True)
    return results[: request.top_k]
