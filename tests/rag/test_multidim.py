"""Vectors of several dimensions in one store (issue 16): a store from before (vector(384)
with data, the shared HNSW index and a tenant's own) heals forward to the untyped column, a
fresh one needs nothing, and the per-model expression indexes are never drift."""

from pathlib import Path

import asyncpg
import numpy as np
from sqlalchemy.engine import URL

from orchestrator_service.config import Settings
from orchestrator_service.db.heal.healer import heal
from orchestrator_service.db.heal.targets import STEPS
from orchestrator_service.db.urls import asyncpg_dsn
from orchestrator_service.models import VECTORS
from orchestrator_service.rag.vector_store import VectorRecord, model_index_name, model_index_sql
from orchestrator_service.rag.vector_store.sql import SqlVectorStore
from tests.helpers import sql, url_string

STEP = "0024_vectors_of_any_dimension"


def unit_rows(count: int, dimensions: int, seed: int) -> list[list[float]]:
    """Deterministic random unit vectors."""
    matrix = np.random.default_rng(seed).standard_normal((count, dimensions))
    return (matrix / np.linalg.norm(matrix, axis=1, keepdims=True)).tolist()


def record(tenant_id: int, index: int, vector: list[float], model: str) -> VectorRecord:
    """One chunk, its own document."""
    return VectorRecord(
        tenant_id=tenant_id,
        source_id=f"doc-{index}",
        collection="General",
        chunk_index=0,
        content=f"{model} chunk {index}",
        embedding=vector,
        embedding_model=model,
        generation="g1",
    )


def settings_for(url: URL, tmp_path: Path) -> Settings:
    """Settings for healing the test's vector database."""
    return Settings(
        database_url=url_string(url),
        data_dir=tmp_path / "data",
        connect_timeout=5,
        heal_lock_timeout=60,
    )


async def script(url: URL, text: str) -> None:
    """Run a script of several statements, as the SQL editor would."""
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        await conn.execute(text)
    finally:
        await conn.close()


async def _index_names(url: URL) -> list[str]:
    rows = await sql(
        url,
        "SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
        "WHERE i.indrelid = 'documents'::regclass ORDER BY 1",
    )
    return [r["relname"] for r in rows]


async def _column_type(url: URL) -> str:
    [row] = await sql(
        url,
        "SELECT format_type(atttypid, atttypmod) AS t FROM pg_attribute "
        "WHERE attrelid = 'documents'::regclass AND attname = 'embedding'",
    )
    return row["t"]


async def _make_it_old(url: URL) -> None:
    """The schema as steps 0010 and 0011 left it: vector(384), the shared HNSW index on the
    column, a tenant's own index, the per-tenant listing functions, step 0024 not applied."""
    await sql(url, "DROP INDEX ix_documents_model_dimensions")
    await sql(url, "ALTER TABLE documents ALTER COLUMN embedding TYPE vector(384)")
    await sql(
        url,
        "CREATE INDEX ix_documents_embedding_hnsw ON documents USING hnsw "
        "(embedding vector_cosine_ops) WITH (m = 16, ef_construction = 64)",
    )
    await sql(
        url,
        "CREATE INDEX documents_hnsw_tenant_1 ON documents USING hnsw "
        "(embedding vector_cosine_ops) WHERE tenant_id = 1",
    )
    for step in STEPS:
        if step.id in ("0010_visible_documents", "0011_any_words_and_builds_in_progress"):
            await script(url, step.sql)
    await sql(url, "DELETE FROM orchestrator_heal_steps WHERE step_id = $1", STEP)


async def test_an_old_store_with_data_heals_forward_and_holds_a_second_dimension(
    vectors_db: URL, tmp_path: Path
) -> None:
    """vector(384) with rows and its dimension-bound indexes: the step drops those indexes and
    unties the column without losing a row; the healer builds the dimension index and reports
    no drift; search finds the old rows, and a 512-d model then lives beside them."""
    store = SqlVectorStore(vectors_db, timeout=5)
    old = unit_rows(30, 384, seed=1)
    try:
        await store.add([record(1, i, v, "m384") for i, v in enumerate(old)])
        for i in range(len(old)):
            await store.publish(1, f"doc-{i}", "g1")
        await _make_it_old(vectors_db)
        assert await _column_type(vectors_db) == "vector(384)"
        settings = settings_for(vectors_db, tmp_path)

        report = await heal(VECTORS, vectors_db, settings)

        assert report.verified and report.drift == []
        assert {"kind": "apply_step", "object": STEP} in [
            {"kind": a["kind"], "object": a["object"]} for a in report.applied
        ]
        assert await _column_type(vectors_db) == "vector"
        names = await _index_names(vectors_db)
        assert "ix_documents_embedding_hnsw" not in names
        assert "documents_hnsw_tenant_1" not in names
        assert "ix_documents_model_dimensions" in names
        leftovers = await sql(
            vectors_db,
            "SELECT proname FROM pg_proc WHERE proname LIKE 'orch\\_tenant\\_index%' ORDER BY 1",
        )
        assert leftovers == []
        [count] = await sql(vectors_db, "SELECT count(*) AS n FROM documents")
        assert count["n"] == 30
        found = await store.search(1, old[4], k=1, filter={"embedding_model": "m384"})
        assert [m.metadata["source_id"] for m in found] == ["doc-4"]

        wide = unit_rows(5, 512, seed=2)
        await store.add([record(1, 100 + i, v, "m512") for i, v in enumerate(wide)])
        for i in range(5):
            await store.publish(1, f"doc-{100 + i}", "g1")
        found = await store.search(1, wide[2], k=2, filter={"embedding_model": "m512"})
        assert found[0].metadata["source_id"] == "doc-102"
        assert {m.content.split()[0] for m in found} == {"m512"}

        # The reconciler's indexes are the healer's to ignore: no drift, nothing to apply.
        for tenant in (None, 1):
            assert await store.run_index_ddl(model_index_sql(tenant, "m384", 384))
        again = await heal(VECTORS, vectors_db, settings, dry_run=True)
        assert again.drift == [] and again.applied == []
        assert model_index_name(1, "m384", 384) in await _index_names(vectors_db)
    finally:
        await store.close()


async def test_a_fresh_store_is_already_untyped_and_the_step_changes_nothing(
    vectors_db: URL, tmp_path: Path
) -> None:
    """The healed template has the untyped column; running step 0024 again (as the printed
    Supabase SQL does) keeps every index and row."""
    assert await _column_type(vectors_db) == "vector"
    store = SqlVectorStore(vectors_db, timeout=5)
    try:
        await store.add([record(2, 0, unit_rows(1, 384, seed=3)[0], "m384")])
        assert await store.run_index_ddl(model_index_sql(None, "m384", 384))
    finally:
        await store.close()
    before = await _index_names(vectors_db)

    await script(vectors_db, next(s for s in STEPS if s.id == STEP).sql)

    assert await _index_names(vectors_db) == before
    [count] = await sql(vectors_db, "SELECT count(*) AS n FROM documents")
    assert count["n"] == 1
    report = await heal(VECTORS, vectors_db, settings_for(vectors_db, tmp_path), dry_run=True)
    assert report.drift == [] and report.applied == []


async def _index_scans(conn: asyncpg.Connection, names: list[str]) -> dict[str, int]:
    """How many scans each index has had, with this session's own counts flushed first."""
    await conn.execute("SELECT pg_stat_force_next_flush()")
    await conn.execute("SELECT pg_stat_clear_snapshot()")
    rows = await conn.fetch(
        "SELECT indexrelname, idx_scan FROM pg_stat_user_indexes WHERE indexrelname = ANY($1)",
        names,
    )
    return {r["indexrelname"]: r["idx_scan"] for r in rows}


async def test_search_ranks_through_each_models_own_index(vectors_db: URL) -> None:
    """match_documents itself scans the (tenant, model) index of a tenant that has one, and the
    model's shared index for a tenant past the exact-ranking size without one; the other
    dimension's index is never touched. EXPLAIN of its ranking shows the expression index."""
    store = SqlVectorStore(vectors_db, timeout=5)
    # Sizes at which the planner prefers the index (at 200 rows a sort is cheaper, rightly).
    small, large = unit_rows(2000, 512, seed=4), unit_rows(5000, 384, seed=5)
    try:
        await store.add([record(1, i, v, "m512") for i, v in enumerate(small)])
        for start in range(0, len(large), 1000):
            await store.add([record(2, i, large[i], "m384") for i in range(start, start + 1000)])
        await sql(
            vectors_db,
            "INSERT INTO visible_documents (tenant_id, source_id, generation) "
            "SELECT DISTINCT tenant_id, source_id, generation FROM documents",
        )
        own, shared = model_index_name(1, "m512", 512), model_index_name(None, "m384", 384)
        other = model_index_name(None, "m512", 512)
        for statements in (
            model_index_sql(1, "m512", 512),
            model_index_sql(None, "m384", 384),
            model_index_sql(None, "m512", 512),
        ):
            assert await store.run_index_ddl(statements)
        await sql(vectors_db, "ANALYZE documents")
    finally:
        await store.close()
    conn = await asyncpg.connect(asyncpg_dsn(vectors_db))
    try:
        names = [own, shared, other]
        before = await _index_scans(conn, names)

        found = await conn.fetch(
            "SELECT metadata->>'source_id' AS s FROM match_documents($1::text::vector, 5, $2)",
            str(small[7]),
            '{"tenant_id": 1, "embedding_model": "m512"}',
        )
        assert found[0]["s"] == "doc-7"
        after_own = await _index_scans(conn, names)
        found = await conn.fetch(
            "SELECT metadata->>'source_id' AS s FROM match_documents($1::text::vector, 5, $2)",
            str(large[42]),
            '{"tenant_id": 2, "embedding_model": "m384"}',
        )
        assert found[0]["s"] == "doc-42"
        after_shared = await _index_scans(conn, names)

        assert after_own[own] > before[own]
        assert after_own[shared] == before[shared] and after_own[other] == before[other]
        assert after_shared[shared] > after_own[shared]
        assert after_shared[own] == after_own[own] and after_shared[other] == before[other]
        for tenant, model, dims, index, vector in (
            (1, "m512", 512, own, small[7]),
            (2, "m384", 384, shared, large[42]),
        ):
            plan = await conn.fetchval(
                "EXPLAIN (FORMAT JSON) SELECT d.id FROM documents d "
                f"WHERE d.tenant_id = {tenant} AND d.embedding_model = '{model}' "
                f"ORDER BY d.embedding::vector({dims}) <=> $1::text::vector LIMIT 5",
                str(vector),
            )
            assert index in plan
    finally:
        await conn.close()
