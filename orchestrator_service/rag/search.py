"""Knowledge search: vector or hybrid, over the tenant's ready documents only.

Its cost does not grow with the tenant's number of documents. The tenant and the vector
store's visibility table (which generation of each document may be returned) are conditions
inside the vector query, so top-k is complete and never leaks; the metadata database, which
stays the source of truth, is asked only about the few documents the hits belong to. A hit
whose document the metadata does not show as ready at that generation (a delete the vector
store missed while it was down, a transition not yet reconciled) is dropped and the query
asked again without it, so the answer is still the complete top-k.
"""

from dataclasses import dataclass

from sqlalchemy import Row, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from orchestrator_service.db.pool import autocommit_sessions
from orchestrator_service.errors import InvalidInput
from orchestrator_service.metrics import SEARCH_LATENCY
from orchestrator_service.rag.embedders import Embedders
from orchestrator_service.rag.filters import check_filter
from orchestrator_service.rag.fusion import fuse_by_rank
from orchestrator_service.rag.models import RagDocument
from orchestrator_service.rag.query_vectors import QueryVectors
from orchestrator_service.rag.schemas import SearchRequest, SearchResult
from orchestrator_service.rag.vector_store import Match, VectorStore, VectorStoreError

# Each round excludes every stale document it met; the store and the metadata disagree only
# in the windows the README lists, so a second round is already rare.
_MAX_ROUNDS = 8

# The distinct embedding models of the tenant's ready documents, per collection: a loose index
# scan (one index probe per (collection, model) pair, whatever the number of documents); with
# the tenant's language, which hybrid search stems the question in.
_MODELS = text(
    """
WITH RECURSIVE pairs AS (
    (SELECT collection, embedding_model FROM rag_documents
     WHERE tenant_id = :tenant AND status = 'ready'
     ORDER BY collection, embedding_model LIMIT 1)
    UNION ALL
    SELECT next.collection, next.embedding_model FROM pairs, LATERAL (
        SELECT collection, embedding_model FROM rag_documents
        WHERE tenant_id = :tenant AND status = 'ready'
          AND (collection, embedding_model) > (pairs.collection, pairs.embedding_model)
        ORDER BY collection, embedding_model LIMIT 1
    ) next
)
SELECT pairs.collection, pairs.embedding_model, tenants.language
FROM pairs JOIN tenants ON tenants.id = :tenant
"""
)


@dataclass(frozen=True)
class _Hit:
    """A match with the document and generation it belongs to."""

    match: Match
    document_id: str
    generation: str | None


class KnowledgeSearch:
    """Search over a tenant's ready documents."""

    def __init__(
        self,
        *,
        sessionmaker: async_sessionmaker[AsyncSession],
        vector_store: VectorStore | None,
        embedders: Embedders,
        query_vectors: QueryVectors | None = None,
    ) -> None:
        # Each metadata read is one statement: no transaction round trips around it.
        self._reads = autocommit_sessions(sessionmaker)
        self.vector_store = vector_store
        self._embedders = embedders
        self._query_vectors = query_vectors if query_vectors is not None else QueryVectors(0)

    async def search(
        self,
        *,
        tenant_id: int,
        request: SearchRequest,
        allowed_collections: list[str] | None = None,
    ) -> list[SearchResult]:
        """The best `top_k` chunks of the tenant's ready documents for the query."""
        with SEARCH_LATENCY.labels(request.mode).time():
            return await self._search(tenant_id, request, allowed_collections)

    async def _search(
        self, tenant_id: int, request: SearchRequest, allowed_collections: list[str] | None
    ) -> list[SearchResult]:
        if request.filters is not None:
            check_filter(request.filters)
        store = self.vector_store
        if store is None:
            raise VectorStoreError("No vector store is configured on this service")
        collections = request.collections
        if allowed_collections is not None:
            collections = [
                c for c in (collections or allowed_collections) if c in allowed_collections
            ]
            if not collections:
                return []
        per_model: list[list[Match]] = []
        filenames: dict[str, str] = {}
        votes: dict[str, int] = {}  # per document: how many of the lists its embedder fills
        models, language = await self._models(tenant_id, collections)
        for model_id in models:
            vector = await self._query_vector(tenant_id, model_id, request.query)
            query_filter: dict = {"embedding_model": model_id}
            if collections is not None:
                query_filter["collections"] = collections
            if request.filters:
                query_filter["metadata"] = request.filters
            if request.mode == "hybrid":
                query_filter["language"] = language
            checked = await self._checked(store, tenant_id, vector, request, query_filter)
            for match, document in checked:
                filenames[match.id] = document.filename
                votes[document.id] = len(self._embedders.parts_of(document.embedding_model))
            per_model.append([match for match, _ in checked])
        # Documents of several embedders (or fused ones, a row per model): their scores are
        # not comparable, their ranks are.
        matches = fuse_by_rank(per_model, votes=votes) if per_model else []
        return [_result(m, filenames[m.id]) for m in matches[: request.top_k]]

    async def _query_vector(self, tenant_id: int, model_id: str, query: str) -> list[float]:
        """The query embedded by `model_id`, from the cache of recent queries when there."""
        vector = self._query_vectors.get(tenant_id, model_id, query)
        if vector is not None:
            return vector
        name = self._embedders.name_of(model_id)
        async with self._embedders.open(tenant_id, name, model_id=model_id) as embedder:
            if embedder.model_id != model_id:
                raise InvalidInput(f"Documents embedded with {model_id!r} cannot be searched here")
            vector = await embedder.embed_query(query)
        self._query_vectors.put(tenant_id, model_id, query, vector)
        return vector

    async def _models(
        self, tenant_id: int, collections: list[str] | None
    ) -> tuple[list[str], str | None]:
        """The embedding models of the tenant's ready documents in `collections` (each model
        of a fused embedder), and the tenant's language."""
        async with self._reads() as session:
            rows = (await session.execute(_MODELS, {"tenant": tenant_id})).all()
        wanted = {
            part
            for c, m, _ in rows
            if collections is None or c in collections
            for part in self._embedders.parts_of(m)
        }
        return sorted(wanted), rows[0].language if rows else None

    async def _checked(
        self,
        store: VectorStore,
        tenant_id: int,
        vector: list[float],
        request: SearchRequest,
        query_filter: dict,
    ) -> list[tuple[Match, Row]]:
        """The store's top-k with their documents, each hit confirmed by the metadata (ready,
        at the hit's generation); stale documents are excluded and the query asked again."""
        exclude: dict[str, list[str]] = {}
        for _ in range(_MAX_ROUNDS):
            matches = await store.search(
                tenant_id,
                vector,
                request.top_k,
                filter={**query_filter, "exclude": exclude} if exclude else query_filter,
                query_text=request.query if request.mode == "hybrid" else None,
            )
            hits = [_hit(m) for m in matches]
            documents = await self._documents(tenant_id, {h.document_id for h in hits})
            stale = [
                h
                for h in hits
                if (doc := documents.get(h.document_id)) is None
                or doc.status != "ready"
                or doc.generation != h.generation
            ]
            if not stale:
                return [
                    (h.match, documents[h.document_id])
                    for h in hits
                    if request.score_threshold is None
                    or h.match.similarity >= request.score_threshold
                ]
            for h in stale:
                exclude.setdefault(h.document_id, []).append(h.generation or "")
        raise VectorStoreError(
            "The vector store keeps returning documents the metadata does not show as ready; "
            "run `orchestrator reconcile`"
        )

    async def _documents(self, tenant_id: int, ids: set[str]) -> dict[str, Row]:
        """Status, generation, name and embedder of the hits' documents: at most k rows, by
        key."""
        if not ids:
            return {}
        stmt = select(
            RagDocument.id,
            RagDocument.status,
            RagDocument.generation,
            RagDocument.filename,
            RagDocument.embedding_model,
        ).where(RagDocument.tenant_id == tenant_id, RagDocument.id.in_(sorted(ids)))
        async with self._reads() as session:
            rows = (await session.execute(stmt)).all()
        return {row.id: row for row in rows}


def _hit(match: Match) -> _Hit:
    metadata = dict(match.metadata)
    generation = metadata.pop("generation", None)
    clean = Match(match.id, match.content, metadata, match.similarity, match.score)
    return _Hit(clean, metadata["source_id"], generation)


def _result(m: Match, filename: str) -> SearchResult:
    return SearchResult(
        content=m.content,
        score=m.score if m.score is not None else m.similarity,
        similarity=m.similarity,
        document_id=m.metadata["source_id"],
        filename=filename,
        collection=m.metadata["collection"],
        chunk_index=m.metadata["chunk_index"],
        metadata=m.metadata,
    )
