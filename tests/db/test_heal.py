"""The healer against real PostgreSQL: fresh databases, drift, invalid indexes, edited steps."""

import asyncio
from dataclasses import replace

import asyncpg
import pytest
from sqlalchemy.engine import URL

from orchestrator_service.config import Settings
from orchestrator_service.db.heal.healer import heal
from orchestrator_service.db.heal.ledger import STATE_TABLE, STEPS_TABLE
from orchestrator_service.db.heal.steps import Step
from orchestrator_service.db.urls import asyncpg_dsn
from orchestrator_service.errors import HealError
from orchestrator_service.models import METADATA, VECTORS
from tests.helpers import concurrent_build_in_progress, sql

# Seed 003's nine tables and seed 004's three, named here so a model left unregistered fails.
SEED_TABLES = {
    "public.tenants",
    "public.users",
    "public.credentials",
    "public.agents",
    "public.tools",
    "public.chat_conversations",
    "public.chat_messages",
    "public.business_assets",
    "public.rag_documents",
    "agent_execution.executions",
    "agent_execution.execution_steps",
    "agent_execution.execution_metrics",
}


async def _tables(url: URL) -> set[str]:
    rows = await sql(
        url,
        "SELECT schemaname || '.' || tablename AS t FROM pg_tables "
        "WHERE schemaname IN ('public', 'agent_execution')",
    )
    return {r["t"] for r in rows}


async def _index_valid(url: URL, index: str) -> bool:
    rows = await sql(url, "SELECT indisvalid FROM pg_index WHERE indexrelid = $1::regclass", index)
    return rows[0]["indisvalid"]


def _kinds(items: list[dict]) -> set[tuple[str, str]]:
    return {(i["kind"], i["object"]) for i in items}


async def test_fresh_database_gets_the_full_schema_and_a_second_run_applies_nothing(
    empty_db: URL, settings: Settings
) -> None:
    first = await heal(METADATA, empty_db, settings)

    assert first.verified and not first.fast_path
    assert set(METADATA.qualified_names) <= await _tables(empty_db)
    assert await _tables(empty_db) >= SEED_TABLES
    assert ("create_schema", "agent_execution") in _kinds(first.applied)
    assert first.drift == []
    ledger = await sql(empty_db, f"SELECT step_id, checksum, host FROM {STEPS_TABLE}")
    assert {(r["step_id"], r["checksum"]) for r in ledger} == {
        (s.id, s.checksum) for s in METADATA.steps
    }
    assert all(r["host"] for r in ledger)

    second = await heal(METADATA, empty_db, settings)
    assert second.fast_path and second.verified
    assert second.applied == [] and second.drift == []


async def test_a_copy_of_a_healed_database_heals_by_the_fast_path(
    fresh_db: URL, vectors_db: URL, settings: Settings
) -> None:
    """What makes the suite's per-test copies of the healed templates cheap to boot."""
    for target, url in ((METADATA, fresh_db), (VECTORS, vectors_db)):
        report = await heal(target, url, settings)

        assert report.fast_path and report.verified, target.name
        assert report.applied == [] and report.drift == [], target.name


async def test_full_comparison_of_a_healed_database_finds_nothing(
    empty_db: URL, settings: Settings
) -> None:
    await heal(METADATA, empty_db, settings)
    # Forget the recorded state so the next heal compares everything against pg_catalog.
    await sql(empty_db, f"DELETE FROM {STATE_TABLE}")

    again = await heal(METADATA, empty_db, settings)

    assert not again.fast_path and again.verified
    assert again.applied == [] and again.drift == []


async def test_dry_run_lists_the_changes_and_makes_none(empty_db: URL, settings: Settings) -> None:
    report = await heal(METADATA, empty_db, settings, dry_run=True)

    assert ("create_table", "public.agents") in _kinds(report.applied)
    assert ("apply_step", METADATA.steps[0].id) in _kinds(report.applied)
    assert not report.verified
    assert await _tables(empty_db) == set()


async def test_vector_database_gets_the_vector_extension(empty_db: URL, settings: Settings) -> None:
    report = await heal(VECTORS, empty_db, settings)

    assert report.verified and ("create_extension", "vector") in _kinds(report.applied)
    rows = await sql(empty_db, "SELECT extversion FROM pg_extension WHERE extname = 'vector'")
    assert len(rows) == 1


async def test_type_drift_is_reported_and_left_untouched(empty_db: URL, settings: Settings) -> None:
    await heal(METADATA, empty_db, settings)
    await sql(empty_db, "ALTER TABLE agents ALTER COLUMN temperature TYPE numeric(3,2)")

    report = await heal(METADATA, empty_db, settings)

    assert report.verified and not report.fast_path
    drift = {d["object"]: d for d in report.drift}
    assert drift["public.agents.temperature"]["kind"] == "type_mismatch"
    assert "double precision" in drift["public.agents.temperature"]["detail"]
    rows = await sql(
        empty_db,
        "SELECT data_type FROM information_schema.columns "
        "WHERE table_name = 'agents' AND column_name = 'temperature'",
    )
    assert rows[0]["data_type"] == "numeric"
    # The drift stays on record: the fast path of the next boot still reports it.
    later = await heal(METADATA, empty_db, settings)
    assert later.fast_path and _kinds(later.drift) == _kinds(report.drift)


async def test_missing_column_and_index_are_added_and_extra_column_is_reported(
    empty_db: URL, settings: Settings
) -> None:
    await heal(METADATA, empty_db, settings)
    await sql(empty_db, "ALTER TABLE agents DROP COLUMN description")
    await sql(empty_db, "DROP INDEX ix_tools_category")
    await sql(empty_db, "ALTER TABLE tools ADD COLUMN legacy_flag boolean")

    report = await heal(METADATA, empty_db, settings)

    applied = _kinds(report.applied)
    assert ("add_column", "public.agents.description") in applied
    assert ("create_index", "public.tools.ix_tools_category") in applied
    assert ("extra_column", "public.tools.legacy_flag") in _kinds(report.drift)
    rows = await sql(
        empty_db, "SELECT indisvalid FROM pg_index WHERE indexrelid = 'ix_tools_category'::regclass"
    )
    assert rows[0]["indisvalid"] is True
    columns = await sql(
        empty_db, "SELECT column_name FROM information_schema.columns WHERE table_name = 'tools'"
    )
    assert "legacy_flag" in {r["column_name"] for r in columns}


async def _leave_invalid_index(url: URL, table: str, index: str, column: str) -> None:
    """Start CREATE INDEX CONCURRENTLY, hold it in its wait phase, and kill its backend: the
    index stays behind marked INVALID, as after a crashed deploy."""
    blocker = await asyncpg.connect(asyncpg_dsn(url))
    builder = await asyncpg.connect(asyncpg_dsn(url))
    try:
        # A snapshot held to the end of the transaction (REPEATABLE READ), which CIC waits for
        # before it may mark the index valid: the build cannot finish before it is killed.
        await blocker.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
        await blocker.execute(f"SELECT count(*) FROM {table}")
        builder_pid = builder.get_server_pid()
        build = asyncio.create_task(
            builder.execute(f"CREATE INDEX CONCURRENTLY {index} ON {table} ({column})")
        )
        for _ in range(200):
            waiting = await blocker.fetchval(
                "SELECT count(*) FROM pg_locks WHERE pid = $1 AND NOT granted", builder_pid
            )
            if waiting:
                break
            await asyncio.sleep(0.05)
        assert waiting, "the index build never waited for the open snapshot"
        await blocker.execute("SELECT pg_terminate_backend($1)", builder_pid)
        with pytest.raises((asyncpg.PostgresError, asyncpg.InterfaceError, ConnectionError)):
            await build
        await blocker.execute("ROLLBACK")
    finally:
        await blocker.close()
        builder.terminate()


async def test_invalid_index_is_rebuilt(empty_db: URL, settings: Settings) -> None:
    await heal(METADATA, empty_db, settings)
    await sql(empty_db, "DROP INDEX ix_agents_tenant_id")
    await _leave_invalid_index(empty_db, "agents", "ix_agents_tenant_id", "tenant_id")
    rows = await sql(
        empty_db,
        "SELECT indisvalid FROM pg_index WHERE indexrelid = 'ix_agents_tenant_id'::regclass",
    )
    assert rows[0]["indisvalid"] is False

    report = await heal(METADATA, empty_db, settings)

    assert ("rebuild_invalid_index", "public.agents.ix_agents_tenant_id") in _kinds(report.applied)
    rows = await sql(
        empty_db,
        "SELECT indisvalid FROM pg_index WHERE indexrelid = 'ix_agents_tenant_id'::regclass",
    )
    assert rows[0]["indisvalid"] is True


async def test_an_index_another_session_is_building_is_left_alone(
    empty_db: URL, settings: Settings
) -> None:
    """An index being built CONCURRENTLY by another replica is INVALID until it ends: the heal
    reports it and neither drops nor rebuilds it, and the other build completes."""
    await heal(METADATA, empty_db, settings)
    await sql(empty_db, "DROP INDEX ix_agents_tenant_id")
    # One the models want (it would otherwise be "rebuilt"), and one they do not know.
    for name, column in (("ix_agents_tenant_id", "tenant_id"), ("ix_agents_by_replica", "name")):
        building = f"CREATE INDEX CONCURRENTLY {name} ON agents ({column})"
        async with concurrent_build_in_progress(empty_db, building):
            report = await heal(METADATA, empty_db, settings)

            assert ("index_being_built", f"public.agents.{name}") in _kinds(report.drift)
            assert not {k for k in _kinds(report.applied) if k[1].endswith(name)}
        rows = await sql(
            empty_db, "SELECT indisvalid FROM pg_index WHERE indexrelid = $1::regclass", name
        )
        assert rows[0]["indisvalid"] is True


async def test_edited_step_is_reported_as_drift_and_not_rerun(
    empty_db: URL, settings: Settings
) -> None:
    marker = Step(id="9000_test_marker", description="test", sql="CREATE TABLE marker (n int)")
    target = replace(METADATA, steps=(*METADATA.steps, marker))
    await heal(target, empty_db, settings)
    await sql(empty_db, "DROP TABLE marker")

    edited = replace(marker, sql="CREATE TABLE marker (n bigint)")
    report = await heal(replace(METADATA, steps=(*METADATA.steps, edited)), empty_db, settings)

    assert report.verified
    assert ("edited_step", "9000_test_marker") in _kinds(report.drift)
    assert "public.marker" not in await _tables(empty_db)


async def test_failing_step_rolls_back_and_stops_the_heal(
    empty_db: URL, settings: Settings
) -> None:

    broken = Step(
        id="9001_broken",
        description="test",
        sql="CREATE TABLE half_done (n int); SELECT 1/0",
    )
    with pytest.raises(HealError, match="9001_broken"):
        await heal(replace(METADATA, steps=(*METADATA.steps, broken)), empty_db, settings)

    assert "public.half_done" not in await _tables(empty_db)
    ledger = await sql(empty_db, f"SELECT step_id FROM {STEPS_TABLE}")
    assert "9001_broken" not in {r["step_id"] for r in ledger}


async def test_vector_schema_is_closed_to_public_on_plain_postgresql(
    empty_db: URL, settings: Settings
) -> None:
    """Without Supabase's roles only PUBLIC applies: no function keeps PostgreSQL's default
    EXECUTE for PUBLIC, row-level security is on, and nothing is reported."""
    report = await heal(VECTORS, empty_db, settings)

    assert report.drift == []
    assert VECTORS.functions and "public.match_documents" in VECTORS.functions
    open_functions = await sql(
        empty_db,
        "SELECT p.proname FROM pg_proc p WHERE p.pronamespace = 'public'::regnamespace "
        "AND has_function_privilege('public', p.oid, 'EXECUTE') "
        "AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = p.oid AND d.deptype = 'e')",
    )
    assert open_functions == []
    rls = await sql(empty_db, "SELECT relrowsecurity FROM pg_class WHERE relname = 'documents'")
    assert rls[0]["relrowsecurity"] is True


async def test_a_grant_to_public_is_drift_in_a_dry_run_and_closed_by_the_heal(
    empty_db: URL, settings: Settings
) -> None:
    await heal(VECTORS, empty_db, settings)
    await sql(empty_db, "GRANT SELECT, DELETE ON documents TO PUBLIC")

    dry = await heal(VECTORS, empty_db, settings, dry_run=True)

    assert not dry.fast_path
    exposed = [d for d in dry.drift if d["kind"] == "exposed"]
    assert [d["object"] for d in exposed] == ["public.documents"]
    assert "DELETE, SELECT granted to PUBLIC" in exposed[0]["detail"]
    assert "`orchestrator migrate`" in exposed[0]["detail"]

    healed = await heal(VECTORS, empty_db, settings)

    assert healed.drift == []
    assert ("close_exposure", "public.documents") in _kinds(healed.applied)
    rows = await sql(empty_db, "SELECT has_table_privilege('public', 'documents', 'SELECT') AS x")
    assert rows[0]["x"] is False


async def test_the_metadata_database_is_not_checked_for_exposure(
    empty_db: URL, settings: Settings
) -> None:
    """Only the vector database is private; the metadata one keeps its own privileges."""
    await heal(METADATA, empty_db, settings)
    await sql(empty_db, "GRANT SELECT ON agents TO PUBLIC")
    await sql(empty_db, f"DELETE FROM {STATE_TABLE}")

    assert METADATA.functions == []
    assert (await heal(METADATA, empty_db, settings)).drift == []
