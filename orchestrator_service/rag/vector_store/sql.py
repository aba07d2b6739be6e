"""The direct-PostgreSQL adapter (default): Supabase's direct or pooled URL, or the embedded
`vectors` database. Its schema is healed at boot like the local one."""

import json
from typing import Any, Literal, overload

import asyncpg
from pgvector.asyncpg import register_vector
from sqlalchemy.engine import URL

from orchestrator_service.db.connect import connect
from orchestrator_service.db.urls import asyncpg_dsn, describe_location
from orchestrator_service.errors import DatabaseUnreachable
from orchestrator_service.rag.vector_store import (
    EXPOSURE_FUNCTION,
    Match,
    ModelIndex,
    SourceCount,
    VectorRecord,
    VectorStoreError,
    Visibility,
    check_dimensions,
    exposure_drift,
    models_of,
    searchable,
)

_INSERT = """
INSERT INTO documents (content, metadata, embedding, tenant_id, source_id, collection,
                       chunk_index, embedding_model, generation)
VALUES ($1, $2::jsonb, $3, $4, $5, $6, $7, $8, $9)
"""
_COUNT = """
SELECT count(*) FROM documents
WHERE tenant_id = $1 AND source_id = $2 AND ($3::text IS NULL OR generation = $3)
"""


class SqlVectorStore:
    """pgvector over asyncpg."""

    def __init__(self, url: URL, *, timeout: float) -> None:
        self.url = url
        self.timeout = timeout
        self._pool: asyncpg.Pool | None = None

    async def _connection_pool(self) -> asyncpg.Pool:
        if self._pool is None:
            try:
                self._pool = await asyncpg.create_pool(
                    asyncpg_dsn(self.url),
                    min_size=0,
                    max_size=10,
                    timeout=self.timeout,
                    command_timeout=60,
                    init=register_vector,
                )
            except (OSError, asyncpg.PostgresError, TimeoutError, ValueError) as exc:
                raise self._unavailable(exc) from None
        return self._pool

    def _unavailable(self, exc: BaseException) -> VectorStoreError:
        return VectorStoreError(
            f"The vector store at {describe_location(self.url)} is unavailable: "
            f"{str(exc) or type(exc).__name__}"
        )

    @overload
    async def _run(self, method: Literal["execute"], sql: str, *args: object) -> str: ...
    @overload
    async def _run(self, method: Literal["executemany"], sql: str, *args: object) -> None: ...
    @overload
    async def _run(
        self, method: Literal["fetch"], sql: str, *args: object
    ) -> list[asyncpg.Record]: ...
    @overload
    async def _run(self, method: Literal["fetchval"], sql: str, *args: object) -> Any: ...
    async def _run(self, method: str, sql: str, *args: object) -> object:
        """`conn.<method>(sql, *args)` on a pooled connection; what asyncpg returns for it."""
        pool = await self._connection_pool()
        try:
            async with pool.acquire(timeout=self.timeout) as conn:
                return await getattr(conn, method)(sql, *args)
        # ValueError: pgvector's codec cannot register where the extension is missing.
        except (
            OSError,
            asyncpg.PostgresError,
            asyncpg.InterfaceError,
            TimeoutError,
            ValueError,
        ) as exc:
            raise self._unavailable(exc) from None

    async def add(self, records: list[VectorRecord]) -> None:
        """Insert a batch of chunks in one round trip, after checking each model's dimension
        against its stored vectors."""
        if not records:
            return
        stored = await self._run(
            "fetch", "SELECT * FROM orch_model_dimensions($1)", models_of(records)
        )
        check_dimensions(records, {r["embedding_model"]: r["dimensions"] for r in stored})
        rows = [
            (
                r.content,
                json.dumps(r.document_metadata()),
                r.embedding,
                r.tenant_id,
                r.source_id,
                r.collection,
                r.chunk_index,
                r.embedding_model,
                r.generation,
            )
            for r in records
        ]
        await self._run("executemany", _INSERT, rows)

    async def publish(self, tenant_id: int, source_id: str, generation: str) -> None:
        """Through `orch_publish`, as over PostgREST."""
        await self._run(
            "execute", "SELECT orch_publish($1, $2, $3)", tenant_id, source_id, generation
        )

    async def delete_source(
        self, tenant_id: int, source_id: str, *, keep_generation: str | None = None
    ) -> int:
        """Chunks and visibility in one transaction, through `orch_delete_source`."""
        return int(
            await self._run(
                "fetchval",
                "SELECT orch_delete_source($1, $2, $3)",
                tenant_id,
                source_id,
                keep_generation,
            )
        )

    async def count(self, tenant_id: int, source_id: str, generation: str | None = None) -> int:
        """How many chunks a document has."""
        return int(await self._run("fetchval", _COUNT, tenant_id, source_id, generation))

    async def search(
        self,
        tenant_id: int,
        embedding: list[float],
        k: int,
        *,
        filter: dict | None = None,
        query_text: str | None = None,
    ) -> list[Match]:
        """Through the same SQL functions Supabase clients call as RPCs."""
        if not searchable(embedding):
            return []
        query_filter = json.dumps({**(filter or {}), "tenant_id": tenant_id})
        if query_text is None:
            rows = await self._run(
                "fetch",
                "SELECT *, NULL AS score FROM match_documents($1, $2, $3::jsonb)",
                embedding,
                k,
                query_filter,
            )
        else:
            rows = await self._run(
                "fetch",
                "SELECT * FROM hybrid_match_documents($1, $2, $3, $4::jsonb)",
                embedding,
                query_text,
                k,
                query_filter,
            )
        return [
            Match(
                id=str(r["id"]),
                content=r["content"],
                metadata=json.loads(r["metadata"]),
                similarity=float(r["similarity"]),
                score=None if r["score"] is None else float(r["score"]),
            )
            for r in rows
        ]

    async def sources(self) -> list[SourceCount]:
        """One grouped scan of the store."""
        rows = await self._run("fetch", "SELECT * FROM orch_sources()")
        return [SourceCount(**dict(r)) for r in rows]

    async def visibility(self) -> list[Visibility]:
        """Every row of `visible_documents`."""
        rows = await self._run("fetch", "SELECT * FROM orch_visibility()")
        return [Visibility(**dict(r)) for r in rows]

    async def model_indexes(self) -> list[ModelIndex]:
        """Chunks per (tenant, model, dimension) and per (model, dimension), with indexes."""
        rows = await self._run("fetch", "SELECT * FROM orch_model_index_state()")
        return [ModelIndex(**dict(r)) for r in rows]

    async def run_index_ddl(self, statements: tuple[str, ...]) -> bool:
        """On a connection of its own without a command timeout: a concurrent build of a large
        tenant's index takes minutes and must not hold a pooled connection."""
        try:
            conn = await connect(self.url, timeout=self.timeout)
        except DatabaseUnreachable as exc:
            raise self._unavailable(exc) from None
        try:
            for statement in statements:
                await conn.execute(statement)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            raise self._unavailable(exc) from None
        finally:
            await conn.close()
        return True

    async def verify(self) -> list[dict]:
        """The `documents` table and the `match_documents` function exist; what
        `orch_exposure()` says is open to others, as drift (the healer closes it at boot)."""
        ok = await self._run(
            "fetchval",
            "SELECT to_regclass('public.documents') IS NOT NULL "
            "AND to_regproc('public.match_documents') IS NOT NULL",
        )
        if not ok:
            raise VectorStoreError("The vector store lacks the documents table or match_documents")
        rows = None
        if await self._run("fetchval", f"SELECT to_regproc('public.{EXPOSURE_FUNCTION}')"):
            rows = await self._run("fetch", f"SELECT * FROM public.{EXPOSURE_FUNCTION}()")
        return exposure_drift(
            None if rows is None else [dict(r) for r in rows], fix="run `orchestrator migrate`"
        )

    async def close(self) -> None:
        """Close the pool."""
        if self._pool is not None:
            await self._pool.close()
            self._pool = None
