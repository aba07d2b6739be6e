"""Search (vector, hybrid, filtered top-k, isolation) and the dual delete with the reconciler,
against a vector store that is its own PostgreSQL cluster, stopped and started for real."""

import json
import os
import subprocess
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import numpy as np
import pytest
from pydantic import SecretStr
from sqlalchemy.engine import URL

from orchestrator_service.bootstrap import boot, running_jobs
from orchestrator_service.config import Settings
from orchestrator_service.main import create_app
from orchestrator_service.rag.vector_store import VectorRecord, model_index_name, model_index_sql
from tests.helpers import (
    ORCHESTRATOR,
    cli_env,
    concurrent_build_in_progress,
    new_tenant,
    sql,
    url_string,
)
from tests.rag.helpers import DOCS, finished, upload

SEARCH = "/api/v1/rag/search"
NOTHING_TO_DO = {
    "pending_deletes": 0,
    "orphan_vectors": 0,
    "visibility_repairs": 0,
    "model_indexes": 0,
    "orphan_files": 0,
    "expired_ingestions": 0,
    "expired_memories": 0,
    "stale_login_attempts": 0,
}


@asynccontextmanager
async def _serving(settings: Settings, vectors: URL) -> AsyncIterator[tuple]:
    configured = settings.model_copy(update={"vector_database_url": SecretStr(url_string(vectors))})
    async with boot(configured) as runtime, running_jobs(runtime):
        app = create_app(configured, runtime=runtime)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://rag.test") as client:
            a = await new_tenant(runtime, "search-a")
            b = await new_tenant(runtime, "search-b")
            yield runtime, client, a, b, vectors


@pytest.fixture
async def served(settings: Settings, vectors_db: URL) -> AsyncIterator[tuple]:
    """A service with a vector database, two tenants and a worker."""
    async with _serving(settings, vectors_db) as service:
        yield service


@pytest.fixture
async def served_stoppable(settings: Settings, vector_cluster) -> AsyncIterator[tuple]:
    """The same, with the vector store in a cluster of its own that the test can stop."""
    cluster, vectors = vector_cluster
    async with _serving(settings, vectors) as service:
        yield (*service, cluster)


async def _ready(client, caller, name, text, collection="General") -> dict:
    uploaded = await upload(client, caller, name, text.encode(), collection)
    return await finished(client, caller, uploaded.json()["id"])


async def _search(client, caller, **body) -> httpx.Response:
    return await client.post(SEARCH, headers=caller.headers, json=body)


async def test_vector_and_hybrid_search_find_the_right_chunk_and_never_another_tenant(
    served,
) -> None:
    _, client, a, b, *_ = served
    office = await _ready(client, a, "office.txt", "The office opens at nine in the morning.")
    await _ready(client, a, "envios.txt", "Los envíos a Lima tardan tres días hábiles.")
    secret = await _ready(client, b, "b.txt", "The office opens at nine in the morning.")

    found = (await _search(client, a, query="When does the office open?")).json()["items"]
    assert found[0]["document_id"] == office["id"]
    assert found[0]["filename"] == "office.txt" and found[0]["collection"] == "General"
    assert found[0]["chunk_index"] == 0 and found[0]["content"].startswith("The office")
    assert secret["id"] not in json.dumps(found)

    hybrid = (await _search(client, a, query="envíos Lima", mode="hybrid")).json()["items"]
    assert hybrid[0]["filename"] == "envios.txt"
    # Whatever the filter says, tenant B's chunk is out of reach.
    sneaky = await _search(
        client, a, query="office", filters={"$or": [{"tenant_id": b.tenant_id}, {"x": 1}]}
    )
    assert secret["id"] not in sneaky.text


async def test_filtered_top_k_is_complete_when_the_filter_matches_one_percent(
    served,
) -> None:
    runtime, client, a, *_ = served
    document = await _ready(client, a, "seed.txt", "placeholder")
    generation = (
        await sql(
            runtime.databases.metadata,
            "SELECT generation FROM rag_documents WHERE id = $1",
            document["id"],
        )
    )[0]["generation"]
    rng = np.random.default_rng(7)
    vectors = rng.standard_normal((3000, 384))
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    await runtime.vector_store.add(
        [
            VectorRecord(
                tenant_id=a.tenant_id,
                source_id=document["id"],
                collection="General",
                chunk_index=1000 + i,
                content=f"chunk {i}",
                embedding=v.tolist(),
                embedding_model=runtime.embedders.local.model_id,
                generation=generation,
                metadata={"bucket": i % 100},
            )
            for i, v in enumerate(vectors)
        ]
    )

    response = await _search(
        client, a, query="anything at all", top_k=10, filters={"bucket": {"$eq": 7}}
    )

    items = response.json()["items"]
    assert len(items) == 10
    assert {item["metadata"]["bucket"] for item in items} == {7}
    ranged = await _search(
        client,
        a,
        query="x",
        top_k=50,
        filters={"$and": [{"bucket": {"$gte": 10}}, {"bucket": {"$lt": 12}}]},
    )
    assert len(ranged.json()["items"]) == 50
    assert {i["metadata"]["bucket"] for i in ranged.json()["items"]} <= {10, 11}


@pytest.mark.parametrize(
    ("filters", "fragment"),
    [
        ({"bucket": {"$regex": "x"}}, "unknown operator $regex"),
        ({"$not": {"a": 1}}, "unknown operator $not"),
        ({"bucket": {"$in": "7"}}, "$in takes a list"),
        ({"$or": []}, "non-empty list"),
        ({"bad field!": 1}, "not a metadata field name"),
        ({"a": [1, 2]}, "a scalar or an object"),
    ],
)
async def test_invalid_filters_are_422_with_the_reason(served, filters, fragment) -> None:
    _, client, a, *_ = served
    response = await _search(client, a, query="q", filters=filters)
    assert response.status_code == 422
    assert fragment in response.json()["error"]["message"]


async def test_agent_search_is_limited_to_its_collections(served) -> None:
    _, client, a, *_ = served
    await _ready(client, a, "general.txt", "The warranty lasts two years.")
    dna = await _ready(client, a, "voz.txt", "The warranty lasts two years, amigo.", "ADN Personal")
    agent = (
        await client.post(
            "/api/v1/agents",
            headers=a.headers,
            json={
                "name": "A",
                "system_prompt_template": "Hi",
                "knowledge_collections": ["ADN Personal"],
                "enabled_tools": ["search_knowledge"],
            },
        )
    ).json()

    response = await client.post(
        f"/api/v1/agents/{agent['id']}/knowledge/search",
        headers=a.headers,
        json={"query": "warranty", "top_k": 5},
    )
    assert {i["document_id"] for i in response.json()["items"]} == {dna["id"]}
    invoked = await client.post(
        f"/api/v1/agents/{agent['id']}/tools/search_knowledge/invoke",
        headers=a.headers,
        json={"arguments": {"query": "warranty"}},
    )
    output = invoked.json()["output"]
    assert output["status"] == "ok"
    assert {r["document_id"] for r in output["results"]} == {dna["id"]}


async def test_a_delete_removes_vectors_metadata_and_file(served) -> None:
    runtime, client, a, _, vectors = served
    document = await _ready(client, a, "gone.txt", "Delete me completely.")
    path = Path(
        (
            await sql(
                runtime.databases.metadata,
                "SELECT file_path FROM rag_documents WHERE id = $1",
                document["id"],
            )
        )[0]["file_path"]
    )
    assert path.exists()

    response = await client.delete(f"{DOCS}/{document['id']}", headers=a.headers)

    assert response.status_code == 204
    assert (await client.get(f"{DOCS}/{document['id']}", headers=a.headers)).status_code == 404
    rows = await sql(
        vectors, "SELECT count(*) AS n FROM documents WHERE source_id = $1", document["id"]
    )
    assert rows[0]["n"] == 0 and not path.exists()


async def test_vector_store_down_during_delete_and_search(served_stoppable) -> None:
    runtime, client, a, _, vectors, cluster = served_stoppable
    keep = await _ready(client, a, "keep.txt", "Lima has a port called Callao.")
    doomed = await _ready(client, a, "doomed.txt", "Callao is the port of Lima.")

    cluster.stop()
    try:
        deleted = await client.delete(f"{DOCS}/{doomed['id']}", headers=a.headers)
        assert deleted.status_code == 202
        assert deleted.json()["status"] == "deleting"
        state = (await client.get(f"{DOCS}/{doomed['id']}", headers=a.headers)).json()
        assert state["status"] == "deleting"
        down = await _search(client, a, query="port of Lima")
        assert down.status_code == 503
        assert down.json()["error"] == {
            "code": "vector_store_unavailable",
            "message": "The vector store is unavailable; try again later",
            "details": None,
        }  # the store named, never its host, port, database or the driver's words
        location = (vectors.host, vectors.port, vectors.database, *vectors.query.values())
        for revealing in [str(part) for part in location if part] + ["Connect", "refused"]:
            assert revealing not in down.text
    finally:
        cluster.start()

    # Back up: the document is already gone from search though its vectors, and the vector
    # store's visibility row that still shows it, exist: the hits are checked against the
    # metadata, and the one left asked for is still filled (by the next document).
    results = (await _search(client, a, query="port of Lima", top_k=10)).json()["items"]
    assert {r["document_id"] for r in results} == {keep["id"]}
    nearest = (await _search(client, a, query="Callao is the port of Lima", top_k=1)).json()
    assert [r["document_id"] for r in nearest["items"]] == [keep["id"]]
    left = await sql(
        vectors,
        "SELECT (SELECT count(*) FROM documents WHERE source_id = $1) AS n, "
        "(SELECT count(*) FROM visible_documents WHERE source_id = $1) AS visible",
        doomed["id"],
    )
    assert left[0]["n"] > 0 and left[0]["visible"] == 1

    report = await runtime.reconciler.reconcile()
    assert report.pending_deletes == [doomed["id"]]
    again = await runtime.reconciler.reconcile(dry_run=True)
    assert again.counts() == NOTHING_TO_DO
    assert (await client.get(f"{DOCS}/{doomed['id']}", headers=a.headers)).status_code == 404


async def test_planted_orphans_are_listed_by_a_dry_run_and_removed_by_the_reconciler(
    served, fresh_db: URL, settings: Settings, tmp_path: Path
) -> None:
    runtime, client, a, _, vectors = served
    stuck = await _ready(client, a, "stuck.txt", "Stuck in deleting.")
    await sql(fresh_db, "UPDATE rag_documents SET status = 'deleting' WHERE id = $1", stuck["id"])
    ghost = str(uuid.uuid4())
    await runtime.vector_store.add(
        [
            VectorRecord(
                tenant_id=a.tenant_id,
                source_id=ghost,
                collection="General",
                chunk_index=0,
                content="no metadata",
                embedding=[1.0] + [0.0] * 383,
                embedding_model=runtime.embedders.local.model_id,
                generation="g",
            )
        ]
    )
    stray = Path(settings.data_dir).resolve() / "uploads" / str(a.tenant_id) / str(uuid.uuid4())
    stray.parent.mkdir(parents=True, exist_ok=True)
    stray.write_bytes(b"no metadata either")
    an_hour_ago = time.time() - 3600  # younger files may belong to uploads still committing
    os.utime(stray, (an_hour_ago, an_hour_ago))

    env = cli_env(
        tmp_path,
        ORCH_DATABASE_URL=url_string(fresh_db),
        ORCH_VECTOR_DATABASE_URL=url_string(vectors),
    )
    env["ORCH_DATA_DIR"] = str(settings.data_dir)

    def run(*args: str) -> dict:
        done = subprocess.run(
            [ORCHESTRATOR, "reconcile", "--json", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    listed = run("--dry-run")
    assert listed["pending_deletes"] == [stuck["id"]]
    assert [o["source_id"] for o in listed["orphan_vectors"]] == [ghost]
    assert listed["orphan_files"] == [f"{a.tenant_id}/{stray.name}"]  # the object key
    assert stray.exists()
    assert (await sql(vectors, "SELECT count(*) AS n FROM documents WHERE source_id = $1", ghost))[
        0
    ]["n"] == 1

    fixed = run()
    assert fixed["counts"]["pending_deletes"] == 1 and fixed["counts"]["orphan_files"] == 1
    assert run("--dry-run")["counts"] == NOTHING_TO_DO
    assert not stray.exists()


async def _generation(runtime, document_id: str) -> str:
    rows = await sql(
        runtime.databases.metadata,
        "SELECT generation FROM rag_documents WHERE id = $1",
        document_id,
    )
    return rows[0]["generation"]


async def _visible(vectors: URL) -> dict[str, tuple]:
    rows = await sql(
        vectors, "SELECT source_id, generation, previous_generation FROM visible_documents"
    )
    return {r["source_id"]: (r["generation"], r["previous_generation"]) for r in rows}


async def test_the_reconciler_repairs_visibility_after_divergence(served) -> None:
    """A visibility row lost, one naming a generation that does not exist, one keeping a
    displaced generation that is gone, and one for a document that does not exist: search
    misses the first two (the metadata is asked only about hits), and the reconciler puts all
    four right in one round."""
    runtime, client, a, _, vectors = served
    lost = await _ready(client, a, "lost.txt", "Arequipa is the white city.")
    stale = await _ready(client, a, "stale.txt", "Cusco was the Inca capital.")
    kept = await _ready(client, a, "kept.txt", "Puno lies on Lake Titicaca.")
    await sql(vectors, "DELETE FROM visible_documents WHERE source_id = $1", lost["id"])
    await sql(
        vectors, "UPDATE visible_documents SET generation = 'old' WHERE source_id = $1", stale["id"]
    )
    await sql(
        vectors,
        "UPDATE visible_documents SET previous_generation = 'gone' WHERE source_id = $1",
        kept["id"],
    )
    ghost = str(uuid.uuid4())
    await runtime.vector_store.publish(a.tenant_id, ghost, "g")

    found = (await _search(client, a, query="a city in Peru", top_k=10)).json()
    assert {r["document_id"] for r in found["items"]} == {kept["id"]}

    listed = await runtime.reconciler.reconcile(dry_run=True)
    assert sorted((r["source_id"], r["action"]) for r in listed.visibility_repairs) == sorted(
        [(lost["id"], "publish"), (stale["id"], "publish"), (kept["id"], "keep"), (ghost, "hide")]
    )
    await runtime.reconciler.reconcile()

    assert await _visible(vectors) == {
        doc["id"]: (await _generation(runtime, doc["id"]), None) for doc in (lost, stale, kept)
    }
    found = (await _search(client, a, query="a city in Peru", top_k=10)).json()
    assert {r["document_id"] for r in found["items"]} == {lost["id"], stale["id"], kept["id"]}
    assert (await runtime.reconciler.reconcile(dry_run=True)).counts() == NOTHING_TO_DO


async def test_a_replace_between_publish_and_switch_never_hides_or_mixes(served) -> None:
    """A new generation published but not yet switched to in the metadata: search answers
    from the generation the metadata names, before and after the switch, and the reconciler
    then deletes the displaced one."""
    runtime, client, a, _, vectors = served
    document = await _ready(client, a, "faq.txt", "Refunds take ten days.")
    old = await _generation(runtime, document["id"])
    new = uuid.uuid4().hex
    vector = (await runtime.embedders.local.embed(["Refunds take ten days, now five."]))[0]
    await runtime.vector_store.add(
        [
            VectorRecord(
                tenant_id=a.tenant_id,
                source_id=document["id"],
                collection="General",
                chunk_index=0,
                content="Refunds take ten days, now five.",
                embedding=vector,
                embedding_model=runtime.embedders.local.model_id,
                generation=new,
            )
        ]
    )
    await runtime.vector_store.publish(a.tenant_id, document["id"], new)
    assert (await _visible(vectors))[document["id"]] == (new, old)

    before = (await _search(client, a, query="refunds", top_k=5)).json()["items"]
    assert [r["content"] for r in before] == ["Refunds take ten days."]

    await sql(
        runtime.databases.metadata,
        "UPDATE rag_documents SET generation = $2 WHERE id = $1",
        document["id"],
        new,
    )
    after = (await _search(client, a, query="refunds", top_k=5)).json()["items"]
    assert [r["content"] for r in after] == ["Refunds take ten days, now five."]

    report = await runtime.reconciler.reconcile()
    assert [o["generation"] for o in report.orphan_vectors] == [old]
    assert (await _visible(vectors))[document["id"]] == (new, None)
    assert (await runtime.reconciler.reconcile(dry_run=True)).counts() == NOTHING_TO_DO


@pytest.fixture
async def served_small_threshold(settings: Settings, vectors_db: URL) -> AsyncIterator[tuple]:
    """A service whose tenants get an HNSW index of their own from 40 chunks."""
    small = settings.model_copy(update={"tenant_index_min_chunks": 40})
    async with _serving(small, vectors_db) as service:
        yield service


async def _past_the_threshold(runtime, client, caller) -> dict:
    """A ready document of `caller` with 60 more chunks: past the 40-chunk threshold."""
    document = await _ready(client, caller, "many.txt", "The library opens on Sundays.")
    generation = await _generation(runtime, document["id"])
    rng = np.random.default_rng(5)
    filler = rng.standard_normal((60, 384))
    filler /= np.linalg.norm(filler, axis=1, keepdims=True)
    await runtime.vector_store.add(
        [
            VectorRecord(
                tenant_id=caller.tenant_id,
                source_id=document["id"],
                collection="General",
                chunk_index=100 + i,
                content=f"filler {i}",
                embedding=v.tolist(),
                embedding_model=runtime.embedders.local.model_id,
                generation=generation,
            )
            for i, v in enumerate(filler)
        ]
    )
    return document


async def test_the_reconciler_builds_and_drops_model_indexes(served_small_threshold) -> None:
    """Past the threshold a model gets a shared index and a tenant an index of its own for
    that model, and search through them still finds the right chunk; below half of it both
    are dropped."""
    runtime, client, a, b, vectors = served_small_threshold
    document = await _past_the_threshold(runtime, client, a)
    await _ready(client, b, "few.txt", "The library opens on Sundays.")
    model = runtime.embedders.local.model_id

    report = await runtime.reconciler.reconcile()

    assert [
        (t["tenant_id"], t["embedding_model"], t["dimensions"], t["action"], t["applied"])
        for t in report.model_indexes
    ] == [(None, model, 384, "build", True), (a.tenant_id, model, 384, "build", True)]
    shared, index = model_index_name(None, model, 384), model_index_name(a.tenant_id, model, 384)
    indexes = await sql(
        vectors,
        "SELECT c.relname, i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
        "WHERE c.relname LIKE 'documents_hnsw_%' ORDER BY c.relname",
    )
    assert [(r["relname"], r["indisvalid"]) for r in indexes] == sorted(
        [(shared, True), (index, True)]
    )
    for caller in (a, b):
        found = (await _search(client, caller, query="When is the library open?")).json()
        assert found["items"][0]["content"] == "The library opens on Sundays."
        assert found["items"][0]["filename"] in ("many.txt", "few.txt")
    assert (await runtime.reconciler.reconcile(dry_run=True)).counts() == NOTHING_TO_DO

    assert (await client.delete(f"{DOCS}/{document['id']}", headers=a.headers)).status_code == 204
    dropped = await runtime.reconciler.reconcile()
    assert [(t["tenant_id"], t["action"]) for t in dropped.model_indexes] == [
        (None, "drop"),
        (a.tenant_id, "drop"),
    ]
    for name in (shared, index):
        gone = await sql(vectors, "SELECT to_regclass($1) IS NULL AS gone", name)
        assert gone[0]["gone"] is True


async def test_the_reconciler_leaves_a_tenant_index_another_replica_is_building(
    served_small_threshold,
) -> None:
    """An index another replica is building CONCURRENTLY is INVALID until it ends: the
    reconciler neither rebuilds nor drops it (that would wait for or undo the build), and the
    build completes; the round after finds nothing to do."""
    runtime, client, a, _, vectors = served_small_threshold
    await _past_the_threshold(runtime, client, a)
    model = runtime.embedders.local.model_id
    index = model_index_name(a.tenant_id, model, 384)
    # The model's shared index is already there: only the tenant's is being built.
    await runtime.vector_store.run_index_ddl(model_index_sql(None, model, 384))

    async with concurrent_build_in_progress(vectors, model_index_sql(a.tenant_id, model, 384)[1]):
        report = await runtime.reconciler.reconcile()

        assert [(t["tenant_id"], t["action"], t["applied"]) for t in report.model_indexes] == [
            (a.tenant_id, "being_built", False)
        ]
        rows = await sql(vectors, "SELECT to_regclass($1) IS NOT NULL AS present", index)
        assert rows[0]["present"] is True

    valid = await sql(
        vectors, "SELECT indisvalid FROM pg_index WHERE indexrelid = $1::regclass", index
    )
    assert valid[0]["indisvalid"] is True
    assert (await runtime.reconciler.reconcile(dry_run=True)).counts() == NOTHING_TO_DO
