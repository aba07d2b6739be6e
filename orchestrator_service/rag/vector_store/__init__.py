"""The vector store port: where chunks and embeddings live (Supabase pgvector in production)."""

from dataclasses import dataclass, field
from typing import Protocol

from orchestrator_service.errors import OrchestratorError


class VectorStoreError(OrchestratorError):
    """The vector store refused or could not be reached; the message says which."""

    status_code = 503
    code = "vector_store_unavailable"
    store = "vector store"


@dataclass(frozen=True)
class VectorRecord:
    """One chunk to store."""

    tenant_id: int
    source_id: str
    collection: str
    chunk_index: int
    content: str
    embedding: list[float]
    embedding_model: str
    generation: str
    metadata: dict = field(default_factory=dict)

    def document_metadata(self) -> dict:
        """The LangChain-style `metadata` column: the chunk's own plus where it belongs."""
        return {
            **self.metadata,
            "tenant_id": self.tenant_id,
            "source_id": self.source_id,
            "collection": self.collection,
            "chunk_index": self.chunk_index,
        }


@dataclass(frozen=True)
class Match:
    """A chunk found by a search; `score` is the fused rank score in hybrid mode."""

    id: str
    content: str
    metadata: dict
    similarity: float
    score: float | None = None


@dataclass(frozen=True)
class SourceCount:
    """How many chunks one generation of one document has in the store."""

    tenant_id: int
    source_id: str
    generation: str
    chunks: int


@dataclass(frozen=True)
class Visibility:
    """Which generation of a document search may return (and the one it displaced, until that
    one's chunks are deleted)."""

    tenant_id: int
    source_id: str
    generation: str
    previous_generation: str | None = None


@dataclass(frozen=True)
class TenantIndex:
    """A tenant's number of chunks and its own HNSW index, if it has one (`building`: another
    session is building it concurrently right now)."""

    tenant_id: int
    chunks: int
    index_name: str | None = None
    valid: bool | None = None
    building: bool = False


# Each tenant's own HNSW index: a partial index that search uses through a literal tenant id.
TENANT_INDEX_PREFIX = "documents_hnsw_tenant_"


def tenant_index_sql(tenant_id: int) -> tuple[str, ...]:
    """The statements that (re)build a tenant's own HNSW index without blocking writes: drop an
    invalid leftover, then build (the shared index's parameters)."""
    name = f"{TENANT_INDEX_PREFIX}{int(tenant_id)}"
    return (
        f"DROP INDEX CONCURRENTLY IF EXISTS {name}",
        f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ON documents USING hnsw "
        "(embedding vector_cosine_ops) WITH (m = 16, ef_construction = 64) "
        f"WHERE tenant_id = {int(tenant_id)}",
    )


def drop_tenant_index_sql(tenant_id: int) -> tuple[str, ...]:
    """The statement that drops a tenant's own index without blocking reads or writes."""
    return (f"DROP INDEX CONCURRENTLY IF EXISTS {TENANT_INDEX_PREFIX}{int(tenant_id)}",)


class VectorStore(Protocol):
    """Writes, deletes and searches chunks; every operation is scoped to one tenant."""

    dimensions: int

    async def add(self, records: list[VectorRecord]) -> None:
        """Store chunks (a batch at a time)."""
        ...

    async def publish(self, tenant_id: int, source_id: str, generation: str) -> None:
        """Make `generation` of a document searchable; the generation it displaces stays a
        candidate until `delete_source` keeps only one."""
        ...

    async def delete_source(
        self, tenant_id: int, source_id: str, *, keep_generation: str | None = None
    ) -> int:
        """Delete a document's chunks (all, or all but one generation) together with its
        visibility (hidden, or only `keep_generation` visible); idempotent."""
        ...

    async def count(self, tenant_id: int, source_id: str, generation: str | None = None) -> int:
        """How many chunks a document has (in one generation, if given)."""
        ...

    async def search(
        self,
        tenant_id: int,
        embedding: list[float],
        k: int,
        *,
        filter: dict | None = None,
        query_text: str | None = None,
    ) -> list[Match]:
        """The tenant's k best visible chunks: nearest, or with `query_text` fused with
        full-text matches; each match's metadata holds its `generation`. `filter` may hold
        `collections`, `embedding_model`, `exclude` ({id: [generation, ...]}: not those),
        `sources` ({id: generation}: only those), `source_id` and `metadata` (the filter
        grammar)."""
        ...

    async def sources(self) -> list[SourceCount]:
        """Every (tenant, document, generation) in the store with its chunk count."""
        ...

    async def visibility(self) -> list[Visibility]:
        """Every document's visibility row."""
        ...

    async def tenant_indexes(self) -> list[TenantIndex]:
        """Every tenant's number of chunks and own index."""
        ...

    async def run_index_ddl(self, statements: tuple[str, ...]) -> bool:
        """Run `tenant_index_sql` or `drop_tenant_index_sql` statements, each outside a
        transaction; False when this adapter cannot run DDL (then someone must, by hand)."""
        ...

    async def verify(self) -> list[dict]:
        """Check the remote schema (table and RPC) exists, raising `VectorStoreError` if not;
        return what of it is open to others (`exposure_drift` items, empty when closed)."""
        ...

    async def close(self) -> None:
        """Release connections."""
        ...


# The function of step 0009 that lists what of the vector schema others can reach.
EXPOSURE_FUNCTION = "orch_exposure"


def exposure_drift(rows: list[dict] | None, *, fix: str) -> list[dict]:
    """Heal-report drift items from `orch_exposure()`'s rows (object, problem), one per object;
    `rows` None means the function is missing: a schema from before the schema was closed."""
    if rows is None:
        return [
            {
                "kind": "exposed",
                "object": "public.documents",
                "detail": "the vector schema predates its closing (no orch_exposure function): "
                "row-level security is likely off and Supabase's REST API may read every "
                f"tenant's chunks with the project's public key; {fix}",
            }
        ]
    problems: dict[str, list[str]] = {}
    for row in rows:
        problems.setdefault(row["object"], []).append(row["problem"])
    return [
        {
            "kind": "exposed",
            "object": name,
            "detail": f"{'; '.join(found)}: callers of Supabase's REST API (the project's "
            f"public anon key, any signed-in user) can reach it; {fix}",
        }
        for name, found in sorted(problems.items())
    ]


def check_dimensions(records: list[VectorRecord], dimensions: int) -> None:
    """Refuse vectors of the wrong length clearly, never truncate them."""
    for record in records:
        if len(record.embedding) != dimensions:
            raise VectorStoreError(
                f"Embedding dimension mismatch: the vector store holds vector({dimensions}) but "
                f"the embedder {record.embedding_model!r} produced {len(record.embedding)} "
                "dimensions; reindex into a store of the right dimension",
                details={"expected": dimensions, "got": len(record.embedding)},
            )
