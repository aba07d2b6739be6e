"""A stand-in for Supabase's REST API (PostgREST), for the vector store contract tests.

It serves the subset `PostgrestVectorStore` uses by running on the real vector database the
kind of SQL PostgREST itself runs (`json_populate_recordset` for inserts, typed filter values,
`json_to_record` for RPC arguments), so only the HTTP translation is ours. Writes answer as with
`Prefer: return=minimal`; errors come back in PostgREST's shape, with the gateway's answer for
a wrong `apikey`.
"""

from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
from sqlalchemy.engine import URL
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from orchestrator_service.db.urls import asyncpg_dsn

# Columns a filter may name, with the type PostgREST coerces the filter's value to.
FILTERABLE = {
    "id": "uuid",
    "tenant_id": "integer",
    "source_id": "text",
    "collection": "text",
    "chunk_index": "integer",
    "embedding_model": "text",
    "generation": "text",
}
COLUMNS = {*FILTERABLE, "content", "metadata", "embedding", "created_at"}
OPERATORS = {"eq": "=", "neq": "<>"}
NOT_FILTERS = {"select", "columns"}
# name -> (required arguments, allowed arguments, the SQL PostgREST would run)
RPCS = {
    "match_documents": (
        {"query_embedding", "match_count"},
        {"query_embedding", "match_count", "filter"},
        """
SELECT coalesce(json_agg(m), '[]')::text
FROM json_to_record($1::json) AS a(query_embedding vector, match_count integer, filter jsonb),
     match_documents(a.query_embedding, a.match_count, coalesce(a.filter, '{}')) AS m
""",
    ),
    "hybrid_match_documents": (
        {"query_embedding", "query_text", "match_count"},
        {"query_embedding", "query_text", "match_count", "filter"},
        """
SELECT coalesce(json_agg(m), '[]')::text
FROM json_to_record($1::json)
         AS a(query_embedding vector, query_text text, match_count integer, filter jsonb),
     hybrid_match_documents(a.query_embedding, a.query_text, a.match_count,
                            coalesce(a.filter, '{}')) AS m
""",
    ),
    "orch_sources": (
        set(),
        set(),
        # $1 (the empty argument object) is unused: every RPC query takes the body.
        "SELECT coalesce(json_agg(s), '[]')::text FROM orch_sources() AS s "
        "WHERE $1::text IS NOT NULL",
    ),
    "orch_publish": (
        {"tenant", "source", "new_generation"},
        {"tenant", "source", "new_generation"},
        # A void function: PostgREST answers null.
        "SELECT 'null' FROM json_to_record($1::json) AS a(tenant integer, source text, "
        "new_generation text), orch_publish(a.tenant, a.source, a.new_generation)",
    ),
    "orch_delete_source": (
        {"tenant", "source", "keep"},
        {"tenant", "source", "keep"},
        "SELECT to_json(orch_delete_source(a.tenant, a.source, a.keep))::text "
        "FROM json_to_record($1::json) AS a(tenant integer, source text, keep text)",
    ),
    "orch_visibility": (
        set(),
        set(),
        "SELECT coalesce(json_agg(v), '[]')::text FROM orch_visibility() AS v "
        "WHERE $1::text IS NOT NULL",
    ),
    "orch_model_index_state": (
        set(),
        set(),
        "SELECT coalesce(json_agg(t), '[]')::text FROM orch_model_index_state() AS t "
        "WHERE $1::text IS NOT NULL",
    ),
    "orch_model_dimensions": (
        {"models"},
        {"models"},
        "SELECT coalesce(json_agg(m), '[]')::text "
        "FROM json_to_record($1::json) AS a(models text[]), orch_model_dimensions(a.models) AS m",
    ),
    "orch_exposure": (
        set(),
        set(),
        "SELECT coalesce(json_agg(e), '[]')::text FROM orch_exposure() AS e "
        "WHERE $1::text IS NOT NULL",
    ),
}


class PostgrestError(Exception):
    """An error answered as PostgREST does: JSON body, status, `Proxy-Status` header."""

    def __init__(
        self,
        status: int,
        code: str | None,
        message: str,
        *,
        details: str | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.body = {"code": code, "details": details, "hint": hint, "message": message}

    def response(self) -> JSONResponse:
        """The HTTP answer."""
        code = self.body["code"]
        headers = {"Proxy-Status": f"PostgREST; error={code}"} if code else {}
        return JSONResponse(self.body, status_code=self.status, headers=headers)


def missing_table() -> PostgrestError:
    """PGRST205: what PostgREST answers for a table absent from its schema cache."""
    return PostgrestError(
        404, "PGRST205", "Could not find the table 'public.documents' in the schema cache"
    )


def filters(request: Request) -> tuple[str, list[str]]:
    """The `WHERE` clause and its parameters from `column=op.value` query parameters."""
    clauses, args = [], []
    for column, value in request.query_params.multi_items():
        if column in NOT_FILTERS:
            continue
        operator, _, operand = value.partition(".")
        if column not in FILTERABLE or operator not in OPERATORS:
            raise PostgrestError(400, "PGRST100", f'"{column}={value}" is not a filter we serve')
        args.append(operand)
        clauses.append(f"{column} {OPERATORS[operator]} ${len(args)}::text::{FILTERABLE[column]}")
    return " AND ".join(clauses) or "true", args


def column_list(raw: str) -> str:
    """A whitelisted, comma-separated column list (`select=` or `columns=`)."""
    names = [name.strip().strip('"') for name in raw.split(",")]
    for name in names:
        if name not in COLUMNS:
            raise PostgrestError(
                400, "PGRST204", f"Could not find the '{name}' column of 'documents'"
            )
    return ", ".join(names)


def create_standin(database_url: URL, api_key: str, *, role: str | None = None) -> Starlette:
    """The stand-in app for one database and one API key, serving `/rest/v1`; with `role`,
    each request runs as that role (as PostgREST runs a service-role key's requests as
    `service_role`), else as the connecting user."""

    async def run(method: str, sql: str, *args: object) -> Any:
        conn = await asyncpg.connect(asyncpg_dsn(database_url))
        try:
            if role is not None:
                await conn.execute(f'SET ROLE "{role}"')
            return await getattr(conn, method)(sql, *args)
        except asyncpg.UndefinedTableError:
            raise missing_table() from None
        finally:
            await conn.close()

    def endpoint(handler: Callable[[Request], Awaitable[Response]]) -> Callable:
        async def guarded(request: Request) -> Response:
            try:
                if request.headers.get("apikey") != api_key:
                    raise PostgrestError(
                        401,
                        None,
                        "Invalid API key",
                        hint="Double check your Supabase `anon` or `service_role` API key.",
                    )
                return await handler(request)
            except asyncpg.PostgresError as exc:
                error = PostgrestError(
                    400, exc.sqlstate, str(exc), details=exc.detail, hint=exc.hint
                )
                return error.response()
            except PostgrestError as exc:
                return exc.response()

        return guarded

    def prefers_count(request: Request) -> bool:
        return "count=exact" in request.headers.get("prefer", "").replace(" ", "").split(",")

    async def read(request: Request) -> Response:
        where, args = filters(request)
        total = "*"
        if prefers_count(request):
            total = await run("fetchval", f"SELECT count(*) FROM documents WHERE {where}", *args)
        if request.method == "HEAD":
            return Response(headers={"Content-Range": f"*/{total}"})
        selected = request.query_params.get("select", "*")
        columns = "*" if selected == "*" else column_list(selected)
        rows = await run(
            "fetch",
            f"SELECT to_json(t)::text AS row FROM (SELECT {columns} "
            f"FROM documents WHERE {where}) t",
            *args,
        )
        shown = f"0-{len(rows) - 1}" if rows else "*"
        body = "[" + ",".join(r["row"] for r in rows) + "]"
        return Response(
            body, media_type="application/json", headers={"Content-Range": f"{shown}/{total}"}
        )

    async def insert(request: Request) -> Response:
        body = await request.body()
        rows = await request.json()
        if isinstance(rows, dict):
            rows = [rows]
        columns = column_list(request.query_params.get("columns") or ",".join(rows[0]))
        await run(
            "execute",
            f"INSERT INTO documents ({columns}) SELECT {columns} "
            "FROM json_populate_recordset(NULL::documents, $1::json)",
            body.decode(),
        )
        return Response(status_code=201)

    async def delete(request: Request) -> Response:
        where, args = filters(request)
        if not args:
            # Supabase's pg_safeupdate: a DELETE without a WHERE clause is refused.
            raise PostgrestError(400, "21000", "DELETE requires a WHERE clause")
        status = await run("execute", f"DELETE FROM documents WHERE {where}", *args)
        deleted = status.rsplit(" ", 1)[-1] if prefers_count(request) else "*"
        return Response(status_code=204, headers={"Content-Range": f"*/{deleted}"})

    async def rpc(request: Request) -> Response:
        arguments = await request.json()
        required, allowed, query = RPCS.get(request.path_params["function"], (None, set(), ""))
        if required is None or not (required <= arguments.keys() <= allowed):
            raise unknown_function(request, arguments)
        try:
            body = await run("fetchval", query, (await request.body()).decode())
        # No function, or not even the `vector` type: both absent from PostgREST's cache.
        except (asyncpg.UndefinedFunctionError, asyncpg.UndefinedObjectError):
            raise unknown_function(request, arguments) from None
        return Response(body, media_type="application/json")

    return Starlette(
        routes=[
            Route("/rest/v1/documents", endpoint(read), methods=["GET", "HEAD"]),
            Route("/rest/v1/documents", endpoint(insert), methods=["POST"]),
            Route("/rest/v1/documents", endpoint(delete), methods=["DELETE"]),
            Route("/rest/v1/rpc/{function}", endpoint(rpc), methods=["POST"]),
        ]
    )


def unknown_function(request: Request, arguments: dict) -> PostgrestError:
    """PGRST202: no function of that name takes those arguments."""
    signature = ", ".join(sorted(arguments))
    return PostgrestError(
        404,
        "PGRST202",
        f"Could not find the function public.{request.path_params['function']}({signature}) "
        "in the schema cache",
    )
