"""The supabase-py adapter: the same store over Supabase's REST API (PostgREST), for teams that
have only the project URL and a service key.

It cannot heal the remote schema; `orchestrator rag supabase-sql` prints it and `verify` checks
at boot that `match_documents` answers.
"""

from typing import Any

import httpx
from postgrest import APIError
from postgrest.types import CountMethod, ReturnMethod
from supabase import AsyncClient, AsyncClientOptions, AsyncSupabaseException

from orchestrator_service.errors import ConfigError
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

BATCH_ROWS = 500
# Like the SQL adapter's command timeout: a 500-row insert can take longer than a connect.
REQUEST_TIMEOUT = 60.0
SCHEMA_HINT = (
    "run `orchestrator rag supabase-sql` and paste its output into the Supabase SQL editor"
)
# PostgREST's codes for a table or function missing from its schema cache, and PostgreSQL's
# for the same when met inside a function.
_MISSING_SCHEMA = {"PGRST202", "PGRST205", "42P01", "42883"}
# Refusals of the key or of its rights: the bare status of a bodiless (HEAD) answer,
# PostgREST's JWT errors and PostgreSQL's insufficient_privilege.
_KEY_REFUSED = {"401", "403", "PGRST301", "PGRST302", "42501"}


def vector_literal(embedding: list[float]) -> str:
    """pgvector's text form, `[0.1,0.2,...]`, which PostgREST casts into a `vector` column."""
    return "[" + ",".join(str(float(x)) for x in embedding) + "]"


class PostgrestVectorStore:
    """pgvector over supabase-py: batched inserts, filtered deletes and `rpc('match_documents')`."""

    def __init__(
        self,
        url: str,
        key: str,
        *,
        timeout: float,
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        self.url = url
        # An injected client (tests use an ASGI transport) keeps its own timeouts and is the
        # caller's to close.
        self._owns_http = http_client is None
        self._http = http_client or httpx.AsyncClient(
            timeout=httpx.Timeout(REQUEST_TIMEOUT, connect=timeout)
        )
        self._key = key
        try:
            self._client = AsyncClient(
                url,
                key,
                AsyncClientOptions(
                    httpx_client=self._http, auto_refresh_token=False, persist_session=False
                ),
            )
        # supabase.SupabaseException is the sync client's class; the async one has its own.
        except AsyncSupabaseException as exc:
            raise ConfigError(f"ORCH_SUPABASE_URL / ORCH_SUPABASE_KEY: {exc.message}") from None
        self._location = httpx.URL(url).host or url

    def _scrub(self, text: object) -> str:
        """Server or transport text, with the key masked should anything echo it."""
        return str(text).replace(self._key, "***")

    def _failure(self, action: str, exc: Exception) -> VectorStoreError:
        """A `VectorStoreError` saying what failed and what to do, never quoting the key."""
        where = f"The Supabase REST API at {self._location}"
        if isinstance(exc, APIError):
            code = exc.code or ""
            said = self._scrub(exc.message or "no message")
            if code in _MISSING_SCHEMA:
                message = (
                    f"The Supabase project at {self._location} lacks the documents table or "
                    f"the match_documents function ({said}); {SCHEMA_HINT}"
                )
            else:
                message = f"{where} refused to {action}: {said}"
                if code:
                    message += f" [{code}]"
                if exc.hint:
                    message += f"; {self._scrub(exc.hint)}"
                if code in _KEY_REFUSED:
                    message += "; check that ORCH_SUPABASE_KEY holds the service-role key"
        elif isinstance(exc, httpx.TimeoutException):
            message = f"{where} timed out trying to {action}"
        else:
            message = f"{where} is unreachable: {self._scrub(str(exc) or type(exc).__name__)}"
        return VectorStoreError(message)

    def _rows(self, function: str, data: object) -> list[dict[str, Any]]:
        """An RPC's answer as rows: PostgREST sends a set-returning function's as an array."""
        if not isinstance(data, list):
            raise VectorStoreError(
                f"The Supabase REST API at {self._location} answered {function} without rows"
            )
        return data

    async def add(self, records: list[VectorRecord]) -> None:
        """Insert chunks, `BATCH_ROWS` per request, after checking each model's dimension
        against its stored vectors; each request is atomic, a call is not."""
        if not records:
            return
        stored = await self._call(
            "orch_model_dimensions", {"models": models_of(records)}, "check dimensions"
        )
        check_dimensions(
            records,
            {
                r["embedding_model"]: r["dimensions"]
                for r in self._rows("orch_model_dimensions", stored)
            },
        )
        rows = [
            {
                "content": r.content,
                "metadata": r.document_metadata(),
                "embedding": vector_literal(r.embedding),
                "tenant_id": r.tenant_id,
                "source_id": r.source_id,
                "collection": r.collection,
                "chunk_index": r.chunk_index,
                "embedding_model": r.embedding_model,
                "generation": r.generation,
            }
            for r in records
        ]
        try:
            for start in range(0, len(rows), BATCH_ROWS):
                batch = rows[start : start + BATCH_ROWS]
                await (
                    self._client.table("documents")
                    .insert(batch, returning=ReturnMethod.minimal)
                    .execute()
                )
        except (APIError, httpx.HTTPError) as exc:
            raise self._failure("store chunks", exc) from None

    async def _call(self, function: str, arguments: dict, action: str) -> Any:
        """An RPC's answer, or a `VectorStoreError` saying what failed."""
        try:
            response = await self._client.rpc(function, arguments).execute()
        except (APIError, httpx.HTTPError) as exc:
            raise self._failure(action, exc) from None
        return response.data

    async def publish(self, tenant_id: int, source_id: str, generation: str) -> None:
        """Through the `orch_publish` RPC."""
        await self._call(
            "orch_publish",
            {"tenant": tenant_id, "source": source_id, "new_generation": generation},
            "publish a document",
        )

    async def delete_source(
        self, tenant_id: int, source_id: str, *, keep_generation: str | None = None
    ) -> int:
        """Chunks and visibility in one transaction, through the `orch_delete_source` RPC."""
        deleted = await self._call(
            "orch_delete_source",
            {"tenant": tenant_id, "source": source_id, "keep": keep_generation},
            "delete chunks",
        )
        if not isinstance(deleted, int):
            raise VectorStoreError(
                f"The Supabase REST API at {self._location} answered orch_delete_source "
                "without a count"
            )
        return deleted

    async def count(self, tenant_id: int, source_id: str, generation: str | None = None) -> int:
        """How many chunks a document has, from PostgREST's exact count (no rows sent)."""
        query = (
            self._client.table("documents")
            .select("id", count=CountMethod.exact, head=True)
            .eq("tenant_id", tenant_id)
            .eq("source_id", source_id)
        )
        if generation is not None:
            query = query.eq("generation", generation)
        try:
            response = await query.execute()
        except (APIError, httpx.HTTPError) as exc:
            raise self._failure("count chunks", exc) from None
        if response.count is None:
            raise VectorStoreError(
                f"The Supabase REST API at {self._location} answered a count without one"
            )
        return response.count

    async def _match(self, embedding: list[float], k: int, query_filter: dict) -> list[dict]:
        response = await self._client.rpc(
            "match_documents",
            {
                "query_embedding": vector_literal(embedding),
                "match_count": k,
                "filter": query_filter,
            },
        ).execute()
        return self._rows("match_documents", response.data)

    async def search(
        self,
        tenant_id: int,
        embedding: list[float],
        k: int,
        *,
        filter: dict | None = None,
        query_text: str | None = None,
    ) -> list[Match]:
        """Through the `match_documents` / `hybrid_match_documents` RPCs."""
        if not searchable(embedding):
            return []
        query_filter = {**(filter or {}), "tenant_id": tenant_id}
        try:
            if query_text is None:
                rows = await self._match(embedding, k, query_filter)
            else:
                response = await self._client.rpc(
                    "hybrid_match_documents",
                    {
                        "query_embedding": vector_literal(embedding),
                        "query_text": query_text,
                        "match_count": k,
                        "filter": query_filter,
                    },
                ).execute()
                rows = self._rows("hybrid_match_documents", response.data)
        except (APIError, httpx.HTTPError) as exc:
            raise self._failure("search", exc) from None
        return [
            Match(
                id=str(r["id"]),
                content=r["content"],
                metadata=r["metadata"],
                similarity=float(r["similarity"]),
                score=None if r.get("score") is None else float(r["score"]),
            )
            for r in rows
        ]

    async def sources(self) -> list[SourceCount]:
        """Through the `orch_sources` RPC."""
        try:
            response = await self._client.rpc("orch_sources", {}).execute()
        except (APIError, httpx.HTTPError) as exc:
            raise self._failure("list sources", exc) from None
        return [SourceCount(**r) for r in self._rows("orch_sources", response.data)]

    async def visibility(self) -> list[Visibility]:
        """Through the `orch_visibility` RPC."""
        rows = await self._call("orch_visibility", {}, "list visibility")
        return [Visibility(**r) for r in self._rows("orch_visibility", rows)]

    async def model_indexes(self) -> list[ModelIndex]:
        """Through the `orch_model_index_state` RPC."""
        rows = await self._call("orch_model_index_state", {}, "list model indexes")
        return [ModelIndex(**r) for r in self._rows("orch_model_index_state", rows)]

    async def run_index_ddl(self, statements: tuple[str, ...]) -> bool:
        """PostgREST runs no DDL (and a function cannot build an index concurrently): the
        reconciler reports the statements for the SQL editor instead."""
        return False

    async def verify(self) -> list[dict]:
        """`match_documents` answers (a one-dimensional vector, tenant 0), which needs the
        table too; then what `orch_exposure()` says is open to Supabase's API roles, as
        drift."""
        try:
            await self._match([1.0], 1, {"tenant_id": 0})
        except (APIError, httpx.HTTPError) as exc:
            raise self._failure("call match_documents", exc) from None
        rows: list[dict[str, Any]] | None
        try:
            response = await self._client.rpc(EXPOSURE_FUNCTION, {}).execute()
            rows = self._rows(EXPOSURE_FUNCTION, response.data)
        except APIError as exc:
            if exc.code not in _MISSING_SCHEMA:
                raise self._failure("check the schema's privileges", exc) from None
            rows = None
        except httpx.HTTPError as exc:
            raise self._failure("check the schema's privileges", exc) from None
        return exposure_drift(rows, fix=SCHEMA_HINT + " (it closes the schema again)")

    async def close(self) -> None:
        """Close the HTTP client if this store opened it."""
        if self._owns_http:
            await self._http.aclose()
