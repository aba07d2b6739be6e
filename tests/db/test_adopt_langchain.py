"""A vector table built as LangChain's SupabaseVectorStore builds it (seed 003's deployments)
is adopted by the vector heal: filled from its metadata in batches, resumable, made NOT NULL
without a long lock, linked to the metadata database's documents, and left alone afterwards."""

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy.engine import URL

from orchestrator_service.config import Settings
from orchestrator_service.db.heal.healer import heal
from orchestrator_service.errors import HealError
from orchestrator_service.models import VECTORS
from tests.db.langchain import (
    build_langchain_table,
    run_script,
    seed_metadata,
    seed_rows,
    vector,
)
from tests.helpers import DatabaseFactory, sql

MODEL = "openai:text-embedding-3-small:1536"
PYTHON_SQL = (Path(__file__).parent / "langchain_supabase_python.sql").read_text()


def old_id(n: int) -> str:
    """The uuid that LangChain's bigint id `n` becomes."""
    return f"00000000-0000-0000-0000-{n:012x}"


@pytest.fixture
async def langchain_db(databases: DatabaseFactory) -> AsyncIterator[URL]:
    """An empty vector database of the test's own, for LangChain's set-up SQL."""
    url = await databases.create("lc")
    yield url
    await databases.drop(url)


async def _rows(url: URL) -> list[tuple]:
    rows = await sql(
        url,
        "SELECT id::text, tenant_id, source_id, collection, chunk_index, embedding_model, "
        "generation FROM documents ORDER BY id",
    )
    return [tuple(r) for r in rows]


async def test_a_langchain_table_is_adopted_and_its_documents_linked(
    langchain_db: URL, fresh_db: URL, settings: Settings
) -> None:
    a, b = await seed_metadata(fresh_db)
    await build_langchain_table(langchain_db, seed_rows(a, b))

    report = await heal(VECTORS, langchain_db, settings, metadata_url=fresh_db)

    assert report.verified and report.drift == []
    applied = {(x["kind"], x["object"]) for x in report.applied}
    assert {
        ("adopt_add_column", "public.documents.tenant_id"),
        ("adopt_backfill", "public.documents"),
        ("adopt_link_documents", "public.rag_documents"),
        ("adopt_not_null", "public.documents"),
        ("adopt_uuid_key", "public.documents"),
    } <= applied
    assert await _rows(langchain_db) == [
        (old_id(1), a, "doc-a1", "General", 0, MODEL, "langchain"),
        (old_id(2), a, "doc-a1", "General", 0, MODEL, "langchain"),
        (old_id(3), a, "doc-a2", "Pagos", 0, MODEL, "langchain"),
        (old_id(4), b, "doc-b1", "General", 0, MODEL, "langchain"),
        (old_id(5), b, "doc-b1", "General", 0, MODEL, "langchain"),
        (old_id(6), a, "doc-gone", "General", 0, MODEL, "langchain"),
        (old_id(7), b, "doc-a1", "General", 0, MODEL, "langchain"),
        # No usable tenant: tenant 0, which no tenant has; kept for the reconciler.
        (old_id(8), 0, "doc-a1", "General", 0, MODEL, "langchain"),
        (old_id(9), 0, "", "General", 0, MODEL, "langchain"),
    ]
    # The content and the vectors are LangChain's, untouched; the metadata keeps every key
    # and gains ours (as our rows carry them), except where there is no tenant to say.
    kept = await sql(
        langchain_db, "SELECT content, metadata, embedding::text FROM documents ORDER BY id"
    )
    assert [r["content"] for r in kept] == [content for content, _ in seed_rows(a, b)]
    assert json.loads(kept[0]["embedding"]) == pytest.approx(vector(kept[0]["content"]), abs=1e-6)
    assert json.loads(kept[4]["metadata"]) == {
        "tenant_id": b,  # was the string of it
        "source_id": "doc-b1",
        "collection": "General",
        "chunk_index": 0,
    }
    assert json.loads(kept[7]["metadata"]) == seed_rows(a, b)[7][1]
    # Full text as our generated column has it, for every row.
    stale = await sql(
        langchain_db,
        "SELECT count(*) AS n FROM documents WHERE content_tsv IS DISTINCT FROM "
        "(to_tsvector('spanish'::regconfig, content) "
        "|| to_tsvector('english'::regconfig, content))",
    )
    assert stale[0]["n"] == 0
    assert json.loads(kept[8]["metadata"]) == seed_rows(a, b)[8][1]
    # Every column NOT NULL as the models want, the key a uuid that new rows generate.
    columns = await sql(
        langchain_db,
        "SELECT attname, attnotnull, format_type(atttypid, atttypmod) AS type "
        "FROM pg_attribute WHERE attrelid = 'documents'::regclass AND attnum > 0 "
        "AND NOT attisdropped",
    )
    by_name = {c["attname"]: c for c in columns}
    for name in ("id", "tenant_id", "source_id", "collection", "chunk_index", "generation"):
        assert by_name[name]["attnotnull"], name
    assert by_name["id"]["type"] == "uuid" and "adopted_id" not in by_name
    # Only the documents the metadata knows under the same tenant are visible, and ready.
    visible = await sql(
        langchain_db, "SELECT tenant_id, source_id, generation FROM visible_documents ORDER BY 1, 2"
    )
    assert sorted(tuple(v) for v in visible) == sorted(
        [(a, "doc-a1", "langchain"), (a, "doc-a2", "langchain"), (b, "doc-b1", "langchain")]
    )
    documents = await sql(
        fresh_db,
        "SELECT id, status, generation, embedding_model, chunk_count FROM rag_documents "
        "ORDER BY id",
    )
    assert [tuple(d) for d in documents] == [
        ("doc-a1", "ready", "langchain", MODEL, 2),
        ("doc-a2", "ready", "langchain", MODEL, 1),
        ("doc-b1", "ready", "langchain", MODEL, 2),
    ]
    # LangChain's match_documents (bigint ids, no tenant) gave way to ours, which scopes by
    # tenant: A's query finds A's visible chunks only, never B's nor the forged one.
    functions = await sql(
        langchain_db,
        "SELECT pg_get_function_result(oid) AS result FROM pg_proc "
        "WHERE proname = 'match_documents'",
    )
    assert [f["result"] for f in functions] == [
        "TABLE(id uuid, content text, metadata jsonb, similarity double precision)"
    ]
    found = await sql(
        langchain_db,
        "SELECT id::text, metadata ->> 'source_id' AS source FROM match_documents($1, 10, $2)",
        str(vector(seed_rows(a, b)[1][0])),
        json.dumps({"tenant_id": a}),
    )
    assert found[0]["id"] == old_id(2)
    assert {f["id"] for f in found} == {old_id(1), old_id(2), old_id(3)}
    found = await sql(
        langchain_db,
        "SELECT id::text FROM match_documents($1, 10, $2)",
        str(vector(seed_rows(a, b)[1][0])),
        json.dumps({"tenant_id": b}),
    )
    assert {f["id"] for f in found} == {old_id(4), old_id(5)}
    # New rows get our uuids.
    new_id = await sql(
        langchain_db,
        "INSERT INTO documents (content, metadata, embedding, tenant_id, source_id, collection, "
        "chunk_index, embedding_model, generation) VALUES ('x', '{}', $1, $2, 'doc-a9', "
        "'General', 0, $3, 'g2') RETURNING id::text, content_tsv::text",
        str(vector("x")),
        a,
        MODEL,
    )
    assert new_id[0]["id"] != old_id(10) and new_id[0]["content_tsv"] == "'x':1,2"


async def test_a_second_boot_finds_nothing_to_adopt_and_redoes_nothing(
    langchain_db: URL, fresh_db: URL, settings: Settings
) -> None:
    a, b = await seed_metadata(fresh_db)
    await build_langchain_table(langchain_db, seed_rows(a, b))
    first = await heal(VECTORS, langchain_db, settings, metadata_url=fresh_db)
    versions = await sql(langchain_db, "SELECT id, xmin::text FROM documents ORDER BY id")

    second = await heal(VECTORS, langchain_db, settings, metadata_url=fresh_db)
    assert second.fast_path and second.applied == [] and second.drift == first.drift == []
    # Even a full heal (the verified state forgotten) adopts nothing again.
    await sql(langchain_db, "DELETE FROM orchestrator_heal_state")
    third = await heal(VECTORS, langchain_db, settings, metadata_url=fresh_db)
    assert not third.fast_path and third.drift == []
    assert [x for x in third.applied if x["kind"].startswith("adopt")] == []
    assert await sql(langchain_db, "SELECT id, xmin::text FROM documents ORDER BY id") == versions


async def test_an_interrupted_adoption_resumes_where_it_stopped(
    langchain_db: URL, fresh_db: URL, settings: Settings
) -> None:
    a, b = await seed_metadata(fresh_db)
    await build_langchain_table(langchain_db, seed_rows(a, b))
    # A fault in the second batch (old ids 3 and 4): its transaction fails, as it would if the
    # process died there.
    await sql(
        langchain_db,
        "CREATE FUNCTION fail_on_row_3() RETURNS trigger LANGUAGE plpgsql AS $$ "
        "BEGIN RAISE EXCEPTION 'the process died here'; END $$",
    )
    await sql(
        langchain_db,
        "CREATE TRIGGER fail_on_row_3 BEFORE UPDATE ON documents "
        "FOR EACH ROW WHEN (OLD.id = 3) EXECUTE FUNCTION fail_on_row_3()",
    )
    small = settings.model_copy(update={"adopt_batch_rows": 2})

    with pytest.raises(HealError, match="the next boot resumes"):
        await heal(VECTORS, langchain_db, small, metadata_url=fresh_db)

    filled = await sql(langchain_db, "SELECT id, tenant_id, xmin::text FROM documents ORDER BY id")
    assert [(r["id"], r["tenant_id"]) for r in filled[:3]] == [(1, a), (2, a), (3, None)]
    assert all(r["tenant_id"] is None for r in filled[2:])
    await sql(langchain_db, "DROP TRIGGER fail_on_row_3 ON documents")

    report = await heal(VECTORS, langchain_db, small, metadata_url=fresh_db)

    assert report.verified and report.drift == []
    assert [r[1] for r in await _rows(langchain_db)] == [a, a, a, b, b, a, b, 0, 0]
    # The first batch was not filled again: its rows are the versions the first boot wrote.
    again = await sql(
        langchain_db,
        "SELECT xmin::text FROM documents WHERE id = ANY($1::uuid[]) ORDER BY id",
        [old_id(1), old_id(2)],
    )
    assert [r["xmin"] for r in again] == [r["xmin"] for r in filled[:2]]


async def test_a_dry_run_names_the_adoption_and_changes_nothing(
    langchain_db: URL, fresh_db: URL, settings: Settings
) -> None:
    a, b = await seed_metadata(fresh_db)
    await build_langchain_table(langchain_db, seed_rows(a, b))

    report = await heal(VECTORS, langchain_db, settings, dry_run=True, metadata_url=fresh_db)

    assert {"kind": "adopt_langchain_table", "object": "public.documents"} in report.applied
    columns = await sql(
        langchain_db,
        "SELECT count(*) AS n FROM pg_attribute WHERE attrelid = 'documents'::regclass "
        "AND attname = 'tenant_id'",
    )
    assert columns[0]["n"] == 0


async def test_adopting_needs_the_metadata_database(
    langchain_db: URL, fresh_db: URL, settings: Settings
) -> None:
    a, b = await seed_metadata(fresh_db)
    await build_langchain_table(langchain_db, seed_rows(a, b))

    with pytest.raises(HealError, match="needs the metadata database"):
        await heal(VECTORS, langchain_db, settings)


async def test_hostile_metadata_gets_no_tenant_and_stops_nothing(
    langchain_db: URL, fresh_db: URL, settings: Settings
) -> None:
    a, _ = await seed_metadata(fresh_db)
    hostile = [
        {"tenant_id": "99999999999", "source_id": "doc-a1"},  # beyond integer
        {"tenant_id": -1, "source_id": "doc-a1"},
        {"tenant_id": 1.5, "source_id": "doc-a1"},
        {"tenant_id": {"id": a}, "source_id": "doc-a1"},
        {"tenant_id": [a], "source_id": "doc-a1"},
        {"tenant_id": None, "source_id": "doc-a1"},
        {"tenant_id": f"{a}; DROP TABLE documents", "source_id": "doc-a1"},
        {"tenant_id": a, "source_id": "x" * 65, "collection": "y" * 101},
        {"tenant_id": a, "source_id": {"nested": True}, "chunk_index": "3; --"},
    ]
    rows = [(f"Fragmento hostil {i}.", m) for i, m in enumerate(hostile)]
    await build_langchain_table(langchain_db, rows)
    # LangChain leaves content and metadata nullable; a writer may have left them out.
    await sql(
        langchain_db,
        "INSERT INTO documents (content, metadata, embedding) VALUES (NULL, NULL, $1)",
        str(vector("vacío")),
    )

    report = await heal(VECTORS, langchain_db, settings, metadata_url=fresh_db)

    assert report.verified
    adopted = await sql(
        langchain_db,
        "SELECT tenant_id, source_id, collection, chunk_index, content, metadata::text "
        "FROM documents ORDER BY id",
    )
    assert len(adopted) == len(hostile) + 1  # nothing deleted
    assert [r["tenant_id"] for r in adopted] == [0] * 7 + [a, a, 0]
    assert [(r["source_id"], r["collection"], r["chunk_index"]) for r in adopted[7:9]] == [
        ("", "General", 0),
        ("", "General", 0),
    ]
    assert (adopted[9]["content"], adopted[9]["metadata"]) == ("", "{}")
    assert await sql(langchain_db, "SELECT * FROM visible_documents") == []


async def test_a_uuid_keyed_langchain_table_keeps_its_ids(
    langchain_db: URL, fresh_db: URL, settings: Settings
) -> None:
    """LangChain's Python store (its guide's table: `id uuid primary key`, no default, and a
    two-argument match_documents) writes uuid ids of its own: they stay, new rows get a
    default, and that function (it searches every tenant) goes too."""
    a, b = await seed_metadata(fresh_db)
    await run_script(langchain_db, PYTHON_SQL)
    ids = ["5f0c6b2e-8d1a-4c3b-9e7f-2a1b3c4d5e6f", "0b7e1f3a-2c4d-4e5f-8a9b-1c2d3e4f5a6b"]
    for chunk_id, (content, metadata) in zip(ids, seed_rows(a, b)[:2], strict=True):
        await sql(
            langchain_db,
            "INSERT INTO documents (id, content, metadata, embedding) VALUES ($1, $2, $3, $4)",
            chunk_id,
            content,
            json.dumps(metadata),
            str(vector(content)),
        )

    report = await heal(VECTORS, langchain_db, settings, metadata_url=fresh_db)

    assert report.verified and report.drift == []
    applied = {x["kind"] for x in report.applied}
    assert "adopt_backfill" in applied and "adopt_uuid_key" not in applied
    rows = await sql(langchain_db, "SELECT id::text, tenant_id, source_id FROM documents")
    assert sorted(tuple(r) for r in rows) == sorted((i, a, "doc-a1") for i in ids)
    functions = await sql(
        langchain_db,
        "SELECT pg_get_function_identity_arguments(oid) AS args FROM pg_proc "
        "WHERE proname = 'match_documents'",
    )
    assert [f["args"] for f in functions] == [
        "query_embedding vector, match_count integer, filter jsonb"
    ]
    new = await sql(
        langchain_db,
        "INSERT INTO documents (content, metadata, embedding, tenant_id, source_id, collection, "
        "chunk_index, embedding_model, generation) VALUES ('x', '{}', $1, $2, 'doc-a9', "
        "'General', 0, $3, 'g2') RETURNING id",
        str(vector("x")),
        a,
        MODEL,
    )
    assert new[0]["id"] is not None
