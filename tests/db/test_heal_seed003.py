"""A database built from seed 003's SQL, with rows in it, heals forward on first boot."""

from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import URL

from orchestrator_service.config import Settings
from orchestrator_service.db.heal.healer import heal
from orchestrator_service.db.urls import asyncpg_dsn
from orchestrator_service.errors import HealError
from orchestrator_service.models import METADATA
from tests.helpers import sql

SEED_SQL = (Path(__file__).parent / "seed_003.sql").read_text()


async def _build_seed_database(url: URL, extra_sql: str = "") -> None:
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        await conn.execute(SEED_SQL + extra_sql)
    finally:
        await conn.close()


async def _snapshot(url: URL) -> dict[str, list[tuple]]:
    queries = {
        "tenants": "SELECT id, name FROM tenants ORDER BY id",
        "credentials": "SELECT tenant_id, name, value, category FROM credentials ORDER BY value",
        "agents": "SELECT id, tenant_id, name, system_prompt_template, temperature FROM agents",
        "tools": "SELECT id, tenant_id, name, type, config::text FROM tools ORDER BY id",
        "chat_conversations": "SELECT id, tenant_id, channel, display_name FROM chat_conversations",
        "business_assets": "SELECT id, trim(tenant_id::text), content::text FROM business_assets "
        "ORDER BY id",
        "rag_documents": "SELECT id, tenant_id, filename, collection FROM rag_documents",
        "users": "SELECT email, tenant_id FROM users",
    }
    return {name: [tuple(r) for r in await sql(url, q)] for name, q in queries.items()}


async def test_seed_003_database_heals_forward_with_rows_intact(
    empty_db: URL, settings: Settings
) -> None:
    await _build_seed_database(empty_db)
    before = await _snapshot(empty_db)

    report = await heal(METADATA, empty_db, settings)

    assert report.verified
    assert await _snapshot(empty_db) == before
    applied = {(a["kind"], a["object"]) for a in report.applied}
    # Tables the seed lacks are created; columns the other seeds bring are added.
    assert ("create_table", "public.chat_messages") in applied
    assert ("create_table", "agent_execution.executions") in applied
    for column in ("description", "max_tokens", "knowledge_collections", "updated_at"):
        assert ("add_column", f"public.agents.{column}") in applied
    assert ("add_column", "public.tools.function_schema") in applied
    assert ("add_column", "public.rag_documents.status") in applied
    # Existing rows get the constant defaults of the new NOT NULL columns.
    rows = await sql(empty_db, "SELECT max_tokens, knowledge_collections::text FROM agents")
    assert [tuple(r) for r in rows] == [(4096, "[]")]
    rows = await sql(empty_db, "SELECT status FROM rag_documents")
    assert rows[0]["status"] == "queued"
    # The VARCHAR tenant id is converted by step 0001, with its foreign key.
    rows = await sql(
        empty_db,
        "SELECT data_type FROM information_schema.columns "
        "WHERE table_name = 'business_assets' AND column_name = 'tenant_id'",
    )
    assert rows[0]["data_type"] == "integer"
    assert ("apply_step", "0001_business_assets_tenant_id_integer") in applied
    # The seed's own index satisfies ours (no duplicate); a missing one is built.
    assert ("create_index", "public.agents.ix_agents_tenant_id_is_active") not in applied
    assert ("create_index", "public.agents.ix_agents_tenant_id") in applied
    # Tools had no duplicate global names, so the NULLS NOT DISTINCT rule now holds there.
    assert ("create_index", "public.tools.uq_tools_tenant_id_name") in applied
    with pytest.raises(asyncpg.UniqueViolationError):
        await sql(empty_db, "INSERT INTO tools (name, type) VALUES ('get_current_time', 'http')")

    drift = {(d["kind"], d["object"]) for d in report.drift}
    # The duplicate global credentials stop the unique index: reported, rows untouched.
    assert ("create_index_failed", "public.credentials.uq_credentials_name_tenant_id") in drift
    # Remaining differences are reported, never applied.
    assert ("type_mismatch", "public.users.created_at") in drift
    assert ("nullability_mismatch", "public.users.role") in drift
    assert ("add_constraint_failed", "public.users.ck_users_role") in drift

    second = await heal(METADATA, empty_db, settings)
    assert second.fast_path and second.applied == []
    assert {(d["kind"], d["object"]) for d in second.drift} == drift


async def test_business_assets_with_unknown_tenant_stop_the_heal_and_change_nothing(
    empty_db: URL, settings: Settings
) -> None:
    await _build_seed_database(
        empty_db,
        "INSERT INTO business_assets VALUES ('ba-x', 'acme', 'roi', '{}', now(), true);",
    )

    with pytest.raises(HealError, match=r"1 row\(s\) do not hold the id of an existing tenant"):
        await heal(METADATA, empty_db, settings)

    rows = await sql(
        empty_db,
        "SELECT data_type FROM information_schema.columns "
        "WHERE table_name = 'business_assets' AND column_name = 'tenant_id'",
    )
    assert rows[0]["data_type"] == "character varying"
    rows = await sql(empty_db, "SELECT count(*) AS n FROM business_assets")
    assert rows[0]["n"] == 3


async def test_seed_agents_gain_the_api_channel_they_answered_on(
    empty_db: URL, settings: Settings
) -> None:
    await _build_seed_database(
        empty_db,
        "INSERT INTO agents (tenant_id, name, system_prompt_template, channels) "
        "VALUES (1, 'Solo WhatsApp', 'Hola', '[\"whatsapp\"]');",
    )

    report = await heal(METADATA, empty_db, settings)

    assert ("apply_step", "0023_agents_api_channel") in {
        (a["kind"], a["object"]) for a in report.applied
    }
    rows = await sql(empty_db, "SELECT name, channels::text FROM agents ORDER BY id")
    assert [tuple(r) for r in rows] == [
        ("Vendedor", '["whatsapp", "instagram", "facebook", "web", "api"]'),
        ("Solo WhatsApp", '["whatsapp", "api"]'),
    ]
