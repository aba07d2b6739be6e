"""The vector store port: where chunks and embeddings live (Supabase pgvector in production)."""

import hashlib
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
class ModelIndex:
    """The chunks of one model at one dimension, a tenant's (`tenant_id`) or all tenants'
    (None: the model's shared index), with their HNSW index if there is one (`building`:
    another session is building it concurrently right now). An index whose rows are gone has
    0 chunks and no model."""

    tenant_id: int | None
    embedding_model: str | None
    dimensions: int | None
    chunks: int
    index_name: str | None = None
    valid: bool | None = None
    building: bool = False


# HNSW indexes are per model: partial expression indexes on `embedding::vector(<dimension>)`,
# one shared per model and one per (tenant, model) for large tenants, which search uses
# through literal predicates. Names carry a short hash of the model id (any id fits in
# PostgreSQL's 63 bytes); `orch_model_index_name` in step 0024 computes the same.
MODEL_INDEX_PREFIX = "documents_hnsw_"
# The largest dimension an HNSW index of `vector` takes (pgvector's limit).
MAX_INDEXED_DIMENSIONS = 2000


def model_index_name(tenant_id: int | None, model: str, dimensions: int) -> str:
    """The name of a model's index at a dimension: shared, or one tenant's."""
    key = hashlib.md5(model.encode(), usedforsecurity=False).hexdigest()[:12]
    owner = "m" if tenant_id is None else f"t{int(tenant_id)}"
    return f"{MODEL_INDEX_PREFIX}{owner}_{key}_{int(dimensions)}"


def sql_literal(value: str) -> str:
    """A string as an SQL literal (standard_conforming_strings, on since PostgreSQL 9.1)."""
    if "\x00" in value:
        raise VectorStoreError("A model id cannot hold a NUL character")
    return "'" + value.replace("'", "''") + "'"


def model_index_sql(tenant_id: int | None, model: str, dimensions: int) -> tuple[str, ...]:
    """The statements that (re)build a model's index (shared, or one tenant's) without
    blocking writes: drop an invalid leftover, then build (m 16, ef_construction 64)."""
    name = model_index_name(tenant_id, model, dimensions)
    where = f"embedding_model = {sql_literal(model)}"
    if tenant_id is not None:
        where = f"tenant_id = {int(tenant_id)} AND {where}"
    return (
        f'DROP INDEX CONCURRENTLY IF EXISTS "{name}"',
        f'CREATE INDEX CONCURRENTLY IF NOT EXISTS "{name}" ON documents USING hnsw '
        f"((embedding::vector({int(dimensions)})) vector_cosine_ops) "
        f"WITH (m = 16, ef_construction = 64) WHERE {where}",
    )


def drop_model_index_sql(name: str) -> tuple[str, ...]:
    """The statement that drops a model index (named as `model_indexes` lists it) without
    blocking reads or writes."""
    quoted = name.replace('"', '""')
    return (f'DROP INDEX CONCURRENTLY IF EXISTS "{quoted}"',)


class VectorStore(Protocol):
    """Writes, deletes and searches chunks; every operation is scoped to one tenant."""

    async def add(self, records: list[VectorRecord]) -> None:
        """Store chunks (a batch at a time); refuses vectors whose model already has vectors
        of another dimension."""
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

    async def model_indexes(self) -> list[ModelIndex]:
        """Chunks per (tenant, model, dimension) and per (model, dimension), with their
        indexes."""
        ...

    async def run_index_ddl(self, statements: tuple[str, ...]) -> bool:
        """Run `model_index_sql` or `drop_model_index_sql` statements, each outside a
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


def check_dimensions(records: list[VectorRecord], stored: dict[str, int | None]) -> None:
    """Refuse clearly, never truncate: vectors of one model must all have the dimension its
    stored vectors have (`stored`: per model, None when it has none yet), and a dimension an
    HNSW index can take."""
    seen: dict[str, int] = {}
    for record in records:
        got = len(record.embedding)
        model = record.embedding_model
        expected = stored.get(model) or seen.setdefault(model, got)
        if not 1 <= got <= MAX_INDEXED_DIMENSIONS or got != expected:
            raise VectorStoreError(
                f"Embedding dimension mismatch: the model {record.embedding_model!r} has "
                f"vectors of {expected} dimensions in the store but produced {got} (at most "
                f"{MAX_INDEXED_DIMENSIONS}); a model whose dimension changes needs a new model "
                "id, then a reindex",
                details={"model": record.embedding_model, "expected": expected, "got": got},
            )


def searchable(embedding: list[float]) -> bool:
    """Whether a query vector has a dimension stored vectors can have; one that has not finds
    nothing (pgvector would refuse an empty or oversized vector with an error)."""
    return 1 <= len(embedding) <= MAX_INDEXED_DIMENSIONS


def models_of(records: list[VectorRecord]) -> list[str]:
    """The distinct models of a batch, sorted."""
    return sorted({r.embedding_model for r in records})
