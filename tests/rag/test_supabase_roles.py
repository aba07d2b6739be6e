"""The vector schema is closed to Supabase's API roles (issue 13, item 4), on a cluster that
has them: `anon` (the project's public key), `authenticated` (any signed-in end user) and
`service_role` (the key the PostgREST adapter uses), with Supabase's default privileges that
grant those roles every new table and function in `public`.

Both ways the schema is made are checked: the healer's (direct mode) and the SQL that
`orchestrator rag supabase-sql` prints (PostgREST mode). The roles are cluster-wide, so the
cluster is this module's own: the other tests keep running against plain PostgreSQL.
"""

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import httpx
import numpy as np
import pytest
from sqlalchemy.engine import URL

from orchestrator_service.bootstrap import remote_vector_report
from orchestrator_service.config import Settings
from orchestrator_service.db.embedded import EmbeddedPostgres
from orchestrator_service.db.heal.healer import heal
from orchestrator_service.db.urls import asyncpg_dsn, with_database
from orchestrator_service.models import VECTORS
from orchestrator_service.rag.remote_sql import remote_schema_sql
from orchestrator_service.rag.vector_store import VectorRecord
from orchestrator_service.rag.vector_store.postgrest import PostgrestVectorStore
from tests.helpers import sql, url_string
from tests.rag.postgrest_standin import create_standin

API_ROLES = ("anon", "authenticated")
SERVICE_KEY = "test-service-role-key"
DIMENSIONS = 384
# What Supabase's `public` schema grants by default (supabase/postgres, roles.sql).
SUPABASE_DEFAULTS = """
ALTER DEFAULT PRIVILEGES IN SCHEMA public
    GRANT ALL ON TABLES TO anon, authenticated, service_role;
ALTER DEFAULT PRIVILEGES IN SCHEMA public
    GRANT ALL ON FUNCTIONS TO anon, authenticated, service_role;
ALTER DEFAULT PRIVILEGES IN SCHEMA public
    GRANT ALL ON SEQUENCES TO anon, authenticated, service_role;
GRANT USAGE ON SCHEMA public TO anon, authenticated, service_role;
"""
# Every function in `public` that no extension owns: what the schema's own SQL created.
OWN_FUNCTIONS_SQL = """
SELECT p.oid::regprocedure::text AS signature, p.proname AS name,
       ARRAY(SELECT format_type(t, NULL) FROM unnest(p.proargtypes) AS t) AS types
FROM pg_proc p
WHERE p.pronamespace = 'public'::regnamespace
  AND NOT EXISTS (
      SELECT 1 FROM pg_depend d WHERE d.objid = p.oid AND d.deptype = 'e'
  )
ORDER BY 1
"""


@pytest.fixture(scope="module")
def supabase_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[URL]:
    """A cluster of this module's own with Supabase's roles. `service_role` is created
    without BYPASSRLS (Supabase's has it), so the schema's own policy must let it in."""
    embedded = EmbeddedPostgres(tmp_path_factory.mktemp("supabase"))
    base = embedded.start()
    try:
        yield base
    finally:
        embedded.stop()


@pytest.fixture(scope="module")
async def roles(supabase_cluster: URL) -> URL:
    """The roles, created once on the module's cluster."""
    await sql(
        supabase_cluster,
        "DO $$ BEGIN "
        "CREATE ROLE anon NOLOGIN NOINHERIT; "
        "CREATE ROLE authenticated NOLOGIN NOINHERIT; "
        "CREATE ROLE service_role NOLOGIN NOINHERIT; "
        "CREATE ROLE orch_service LOGIN; "
        "END $$",
    )
    return supabase_cluster


@pytest.fixture
async def supabase_db(roles: URL) -> AsyncIterator[URL]:
    """A database like a Supabase project's: pgvector enabled, the default privileges."""
    name = f"s_{uuid.uuid4().hex[:12]}"
    await sql(roles, f'CREATE DATABASE "{name}"')
    url = with_database(roles, name)
    await sql(url, "CREATE EXTENSION vector")
    await execute_script(url, SUPABASE_DEFAULTS)
    yield url
    await sql(roles, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def settings_for(url: URL, tmp_path: Path) -> Settings:
    """Settings for healing one database of the module's cluster."""
    return Settings(
        database_url=url_string(url),
        data_dir=tmp_path / "data",
        connect_timeout=5,
        heal_lock_timeout=60,
    )


async def execute_script(url: URL, script: str) -> None:
    """Run a script of several statements, as the SQL editor or psql would."""
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        await conn.execute(script)
    finally:
        await conn.close()


def embedding(seed: int) -> list[float]:
    """A deterministic unit vector."""
    vector = np.random.default_rng(seed).standard_normal(DIMENSIONS)
    return (vector / np.linalg.norm(vector)).tolist()


def vector_text(values: list[float]) -> str:
    return "[" + ",".join(str(v) for v in values) + "]"


async def add_chunk(url: URL, tenant_id: int = 1, source_id: str = "doc-a") -> None:
    """One chunk, written by the owner."""
    await sql(
        url,
        "INSERT INTO documents (content, metadata, embedding, tenant_id, source_id, collection, "
        "chunk_index, embedding_model, generation) "
        "VALUES ('secret chunk', '{}', $1::vector, $2, $3, 'General', 0, 'test', 'g1')",
        vector_text(embedding(1)),
        tenant_id,
        source_id,
    )


async def own_functions(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    return await conn.fetch(OWN_FUNCTIONS_SQL)


def call_sql(function: asyncpg.Record) -> str:
    """A call of the function with NULL arguments (the privilege check comes first)."""
    arguments = ", ".join(f"NULL::{t}" for t in function["types"])
    return f"SELECT public.{function['name']}({arguments})"


async def assert_closed_to(url: URL, role: str) -> list[str]:
    """As `role`: reading, writing and calling each function are refused. Returns what was
    tried."""
    conn = await asyncpg.connect(asyncpg_dsn(url))
    tried = []
    try:
        functions = await own_functions(conn)
        await conn.execute(f"SET ROLE {role}")
        attempts = [
            "SELECT * FROM documents",
            "SELECT count(*) FROM documents",
            "INSERT INTO documents (content, metadata, embedding, tenant_id, source_id, "
            f"collection, chunk_index, embedding_model, generation) VALUES ('x', '{{}}', "
            f"'{vector_text(embedding(2))}', 1, 'doc-z', 'General', 0, 'm', 'g1')",
            "UPDATE documents SET content = 'changed'",
            "DELETE FROM documents",
            "TRUNCATE documents",
            "SELECT * FROM visible_documents",
            "INSERT INTO visible_documents (tenant_id, source_id, generation) "
            "VALUES (1, 'doc-z', 'g1')",
            "DELETE FROM visible_documents",
            "SELECT * FROM orchestrator_heal_state",
            *(call_sql(f) for f in functions),
        ]
        for statement in attempts:
            if "orchestrator_heal_state" in statement and not await conn.fetchval(
                "SELECT to_regclass('orchestrator_heal_state') IS NOT NULL"
            ):
                continue
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await conn.execute(statement)
            tried.append(statement)
    finally:
        await conn.close()
    return tried


async def assert_service_role_works(url: URL) -> None:
    """As `service_role`: what the PostgREST adapter does (insert, count, select, update,
    delete, every RPC), row-level security notwithstanding."""
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        await conn.execute("SET ROLE service_role")
        await conn.execute(
            "INSERT INTO documents (content, metadata, embedding, tenant_id, source_id, "
            "collection, chunk_index, embedding_model, generation) VALUES ('mine', '{}', "
            "$1::vector, 7, 'doc-s', 'General', 0, 'm', 'g1')",
            vector_text(embedding(3)),
        )
        assert await conn.fetchval("SELECT count(*) FROM documents WHERE tenant_id = 7") == 1
        await conn.execute("UPDATE documents SET content = 'mine!' WHERE tenant_id = 7")
        await conn.execute("SELECT orch_publish(7, 'doc-s', 'g1')")
        found = await conn.fetch(
            "SELECT * FROM match_documents($1::vector, 3, '{\"tenant_id\": 7}')",
            vector_text(embedding(3)),
        )
        assert [r["content"] for r in found] == ["mine!"]
        hybrid = await conn.fetch(
            "SELECT * FROM hybrid_match_documents($1::vector, 'mine', 3, '{\"tenant_id\": 7}')",
            vector_text(embedding(3)),
        )
        assert len(hybrid) == 1
        sources = await conn.fetch("SELECT * FROM orch_sources() WHERE tenant_id = 7")
        assert [(r["source_id"], r["chunks"]) for r in sources] == [("doc-s", 1)]
        assert await conn.fetch("SELECT * FROM orch_exposure()") == []
        visible = await conn.fetch("SELECT * FROM orch_visibility() WHERE tenant_id = 7")
        assert [(r["source_id"], r["generation"]) for r in visible] == [("doc-s", "g1")]
        sizes = await conn.fetch("SELECT * FROM orch_model_index_state() WHERE tenant_id = 7")
        assert [(r["chunks"], r["dimensions"], r["index_name"]) for r in sizes] == [(1, 384, None)]
        dims = await conn.fetch("SELECT * FROM orch_model_dimensions(ARRAY['m', 'none'])")
        assert [tuple(r) for r in dims] == [("m", 384), ("none", None)]
        assert await conn.fetchval("SELECT orch_delete_source(7, 'doc-s', NULL)") == 1
        assert await conn.fetch("SELECT * FROM orch_visibility() WHERE tenant_id = 7") == []
    finally:
        await conn.close()


async def test_healed_schema_is_closed_to_anon_and_authenticated(
    supabase_db: URL, tmp_path: Path
) -> None:
    """Direct mode: the healer's schema, created under Supabase's default grants, refuses
    anon and authenticated everything (every function of `public` included) and lets
    service_role do its work."""
    report = await heal(VECTORS, supabase_db, settings_for(supabase_db, tmp_path))

    assert report.verified and report.drift == []
    await add_chunk(supabase_db)
    conn = await asyncpg.connect(asyncpg_dsn(supabase_db))
    try:
        functions = {f["name"] for f in await own_functions(conn)}
    finally:
        await conn.close()
    # Every function the schema holds is one the healer checks, and the other way round.
    assert {f"public.{name}" for name in functions} == set(VECTORS.functions)
    for role in API_ROLES:
        tried = await assert_closed_to(supabase_db, role)
        assert len(tried) == 10 + len(functions)
    await assert_service_role_works(supabase_db)
    rows = await sql(
        supabase_db,
        "SELECT relname, relrowsecurity FROM pg_class WHERE relname IN "
        "('documents', 'visible_documents', 'orchestrator_heal_steps', "
        "'orchestrator_heal_state')",
    )
    assert all(r["relrowsecurity"] for r in rows) and len(rows) == 4


async def test_row_level_security_hides_rows_even_from_a_later_grant(
    supabase_db: URL, tmp_path: Path
) -> None:
    """Defence in depth: a grant someone adds by hand still shows no chunk to anon."""
    await heal(VECTORS, supabase_db, settings_for(supabase_db, tmp_path))
    await add_chunk(supabase_db)
    await sql(supabase_db, "GRANT SELECT ON documents TO anon")

    conn = await asyncpg.connect(asyncpg_dsn(supabase_db))
    try:
        await conn.execute("SET ROLE anon")
        assert await conn.fetchval("SELECT count(*) FROM documents") == 0
    finally:
        await conn.close()


async def test_a_regrant_is_drift_on_the_next_dry_run_and_the_next_heal_closes_it(
    supabase_db: URL, tmp_path: Path
) -> None:
    """Re-opened by hand after a verified heal: the fast path notices (privileges are part of
    its fingerprint), `migrate --dry-run` reports each opening with what to run, and the next
    heal closes it again."""
    settings = settings_for(supabase_db, tmp_path)
    await heal(VECTORS, supabase_db, settings)
    assert (await heal(VECTORS, supabase_db, settings)).fast_path
    await execute_script(
        supabase_db,
        "GRANT SELECT, INSERT ON documents TO anon; "
        "ALTER TABLE documents DISABLE ROW LEVEL SECURITY; "
        "GRANT EXECUTE ON FUNCTION orch_sources() TO authenticated; "
        "GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA public TO PUBLIC",
    )

    dry = await heal(VECTORS, supabase_db, settings, dry_run=True)

    assert not dry.fast_path
    drift = {d["object"]: d["detail"] for d in dry.drift if d["kind"] == "exposed"}
    table = drift["public.documents"]
    assert "row-level security is off" in table
    assert "INSERT, SELECT granted to anon" in table
    assert "orchestrator migrate" in table
    assert "ALTER TABLE public.documents ENABLE ROW LEVEL SECURITY" in table
    assert "REVOKE ALL ON TABLE public.documents FROM anon" in table
    assert "EXECUTE granted to authenticated" in drift["public.orch_sources()"]
    assert "EXECUTE granted to PUBLIC" in drift["public.orch_sources()"]
    assert any(o.startswith("public.match_documents(") for o in drift)
    planned = {(a["kind"], a["object"]) for a in dry.applied}
    assert ("close_exposure", "public.documents") in planned

    healed = await heal(VECTORS, supabase_db, settings)

    assert healed.verified and healed.drift == []
    assert ("close_exposure", "public.documents") in {
        (a["kind"], a["object"]) for a in healed.applied
    }
    for role in API_ROLES:
        await assert_closed_to(supabase_db, role)
    await assert_service_role_works(supabase_db)


async def test_what_the_service_cannot_close_stays_drift_and_the_boot_goes_on(
    roles: URL, tmp_path: Path
) -> None:
    """The service's role owns its schema; an overload someone else created (an old
    LangChain `match_documents`, say) and left open is reported with the SQL its owner must
    run, and the heal still verifies."""
    name = f"s_{uuid.uuid4().hex[:12]}"
    await sql(roles, f'CREATE DATABASE "{name}" OWNER orch_service')
    url = with_database(roles, name)
    try:
        await sql(url, "CREATE EXTENSION vector")
        await execute_script(url, "ALTER SCHEMA public OWNER TO orch_service")
        as_service = url.set(username="orch_service")
        settings = settings_for(as_service, tmp_path)
        assert (await heal(VECTORS, as_service, settings)).drift == []
        await sql(
            url,
            "CREATE FUNCTION public.match_documents(query text) RETURNS integer "
            "LANGUAGE sql AS 'SELECT 1'",
        )

        report = await heal(VECTORS, as_service, settings)

        assert report.verified
        exposed = [d for d in report.drift if d["kind"] == "exposed"]
        assert [d["object"] for d in exposed] == ["public.match_documents(query text)"]
        assert "EXECUTE granted to PUBLIC" in exposed[0]["detail"]
        assert "REVOKE ALL ON FUNCTION" in exposed[0]["detail"]
    finally:
        await sql(roles, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def test_supabase_sql_closes_the_schema_and_service_role_serves_the_adapter(
    supabase_db: URL,
) -> None:
    """PostgREST mode: the printed SQL, pasted twice into a project with Supabase's roles and
    default grants, leaves nothing open; the adapter, running as service_role behind the
    PostgREST stand-in, does all it does; boot's check finds nothing, then finds a re-grant."""
    script = remote_schema_sql()
    await execute_script(supabase_db, script)
    await execute_script(supabase_db, script)  # idempotent
    await add_chunk(supabase_db)

    for role in API_ROLES:
        tried = await assert_closed_to(supabase_db, role)
        assert any("match_documents" in t for t in tried)
    await assert_service_role_works(supabase_db)

    transport = httpx.ASGITransport(
        app=create_standin(supabase_db, SERVICE_KEY, role="service_role")
    )
    async with httpx.AsyncClient(transport=transport) as client:
        store = PostgrestVectorStore(
            "http://project.supabase.test",
            SERVICE_KEY,
            timeout=5,
            http_client=client,
        )
        assert await store.verify() == []
        record = VectorRecord(
            tenant_id=3,
            source_id="doc-p",
            collection="General",
            chunk_index=0,
            content="hola mundo",
            embedding=embedding(5),
            embedding_model="m",
            generation="g1",
        )
        await store.add([record])
        await store.publish(3, "doc-p", "g1")
        assert await store.count(3, "doc-p") == 1
        assert [m.content for m in await store.search(3, embedding(5), k=2)] == ["hola mundo"]
        hybrid = await store.search(3, embedding(5), k=2, query_text="hola")
        assert [m.content for m in hybrid] == ["hola mundo"]
        assert ("doc-p", 1) in {(s.source_id, s.chunks) for s in await store.sources()}
        assert await store.delete_source(3, "doc-p") == 1

        await sql(supabase_db, "GRANT SELECT ON documents TO anon")
        # What boot does over PostgREST: the check's drift in the vectors heal report.
        report = await remote_vector_report(store)
        assert report.verified and report.database == "vectors"
        drift = report.drift
        assert [d["object"] for d in drift] == ["public.documents"]
        assert "SELECT granted to anon" in drift[0]["detail"]
        assert "orchestrator rag supabase-sql" in drift[0]["detail"]

        await execute_script(supabase_db, script)  # what the drift says to run
        assert await store.verify() == []
        await store.close()


async def test_a_project_prepared_before_the_closing_is_reported(supabase_db: URL) -> None:
    """The SQL of earlier versions (no step 0009, so no orch_exposure): boot says so."""
    script = remote_schema_sql().split("CREATE OR REPLACE FUNCTION orch_exposure()")[0]
    await execute_script(supabase_db, script)
    transport = httpx.ASGITransport(app=create_standin(supabase_db, SERVICE_KEY))
    async with httpx.AsyncClient(transport=transport) as client:
        store = PostgrestVectorStore(
            "http://project.supabase.test",
            SERVICE_KEY,
            timeout=5,
            http_client=client,
        )
        drift = await store.verify()
        await store.close()
    assert [d["object"] for d in drift] == ["public.documents"]
    assert "orchestrator rag supabase-sql" in drift[0]["detail"]
