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
