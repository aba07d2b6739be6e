"""Knowledge search: vector or hybrid, over the tenant's ready documents only, with the tenant
and the ready-set applied inside the vector query (so top-k is complete and never leaks)."""

from collections import defaultdict

from sqlalchemy import Row, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from orchestrator_service.errors import InvalidInput
from orchestrator_service.metrics import SEARCH_LATENCY
from orchestrator_service.rag.embedders import Embedders
from orchestrator_service.rag.filters import check_filter
from orchestrator_service.rag.fusion import fuse_by_rank
from orchestrator_service.rag.models import RagDocument
from orchestrator_service.rag.schemas import SearchRequest, SearchResult
from orchestrator_service.rag.vector_store import VectorStore, VectorStoreError


class KnowledgeSearch:
    """Search over a tenant's ready documents."""

    def __init__(
        self,
        *,
        sessionmaker: async_sessionmaker[AsyncSession],
        vector_store: VectorStore | None,
        embedders: Embedders,
    ) -> None:
        self._sessionmaker = sessionmaker
        self.vector_store = vector_store
        self._embedders = embedders

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
        ready = await self._ready(tenant_id, collections)
        by_model: dict[str, dict[str, str]] = defaultdict(dict)
        for row in ready:
            by_model[row.embedding_model][row.id] = row.generation
        documents = {row.id: row for row in ready}
        per_model = []
        for model_id, sources in by_model.items():
            async with self._embedders.open(
                tenant_id, self._embedders.name_of(model_id)
            ) as embedder:
                if embedder.model_id != model_id:
                    raise InvalidInput(
                        f"Documents embedded with {model_id!r} cannot be searched here"
                    )
                vector = await embedder.embed_query(request.query)
            query_filter: dict = {"sources": sources}
            if request.filters:
                query_filter["metadata"] = request.filters
            per_model.append(
                await store.search(
                    tenant_id,
                    vector,
                    request.top_k,
                    filter=query_filter,
                    query_text=request.query if request.mode == "hybrid" else None,
                )
            )
        # Documents of several embedders: their scores are not comparable, their ranks are.
        matches = fuse_by_rank(per_model) if per_model else []
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

    async def _ready(self, tenant_id: int, collections: list[str] | None) -> list[Row]:
        """Each ready document's current generation, model and name, read and let go before
        any embedding call goes out."""
        stmt = select(
            RagDocument.id,
            RagDocument.generation,
            RagDocument.embedding_model,
            RagDocument.filename,
            RagDocument.collection,
        ).where(RagDocument.tenant_id == tenant_id, RagDocument.status == "ready")
        if collections is not None:
            stmt = stmt.where(RagDocument.collection.in_(collections))
        async with self._sessionmaker() as session:
            return list((await session.execute(stmt)).all())
