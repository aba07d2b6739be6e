"""One contract for every vector store adapter: the direct SQL one, and supabase-py talking to
a PostgREST stand-in that runs the same SQL on the same kind of healed database."""

import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from functools import partial

import httpx
import numpy as np
import pytest
from sqlalchemy.engine import URL

from orchestrator_service.rag.fusion import fuse_by_rank
from orchestrator_service.rag.vector_store import (
    ModelIndex,
    VectorRecord,
    VectorStore,
    VectorStoreError,
    Visibility,
    model_index_name,
    model_index_sql,
)
from orchestrator_service.rag.vector_store.postgrest import BATCH_ROWS, PostgrestVectorStore
from orchestrator_service.rag.vector_store.sql import SqlVectorStore
from tests.helpers import sql
from tests.rag.postgrest_standin import create_standin

DIMENSIONS = 384
SERVICE_KEY = "test-service-role-key"
WRONG_SECRET = "wrong-secret-4f9c2d"


def unit_vectors(count: int, seed: int = 7) -> list[list[float]]:
    """Deterministic random unit vectors; in 384 dimensions they are nearly orthogonal."""
    matrix = np.random.default_rng(seed).standard_normal((count, DIMENSIONS))
    return (matrix / np.linalg.norm(matrix, axis=1, keepdims=True)).tolist()


def nudged(vector: list[float], seed: int = 11) -> list[float]:
    """A query vector close to `vector` but not equal to it."""
    noisy = np.asarray(vector) + 0.02 * np.random.default_rng(seed).standard_normal(DIMENSIONS)
    return (noisy / np.linalg.norm(noisy)).tolist()


def chunk(
    tenant_id: int,
    source_id: str,
    index: int,
    embedding: list[float],
    *,
    collection: str = "General",
    generation: str = "g1",
    model: str = "test-model",
) -> VectorRecord:
    """A chunk whose content names where it belongs."""
    return VectorRecord(
        tenant_id=tenant_id,
        source_id=source_id,
        collection=collection,
        chunk_index=index,
        content=f"tenant {tenant_id} {source_id} {generation} chunk {index}",
        embedding=embedding,
        embedding_model=model,
        generation=generation,
        metadata={"page": index + 1},
    )


@dataclass
class Backend:
    """Opens stores of one adapter (`open(url, secret=...)`, by default on the test's healed
    vector database)."""

    name: str
    open: Callable[..., VectorStore]


@pytest.fixture(params=["sql", "postgrest"])
async def backend(request: pytest.FixtureRequest, vectors_db: URL) -> AsyncIterator[Backend]:
    """One adapter; every store it opened is closed after the test, before the drop."""
    opened: list[VectorStore] = []
    clients: list[httpx.AsyncClient] = []

    def open_store(url: URL = vectors_db, *, secret: str | None = None) -> VectorStore:
        if request.param == "sql":
            if secret is not None:
                url = url.set(username="nobody", password=secret)
            store: VectorStore = SqlVectorStore(url, timeout=5)
        else:
            transport = httpx.ASGITransport(app=create_standin(url, SERVICE_KEY))
            clients.append(httpx.AsyncClient(transport=transport))
            store = PostgrestVectorStore(
                "http://project.supabase.test",
                secret or SERVICE_KEY,
                timeout=5,
                http_client=clients[-1],
            )
        opened.append(store)
        return store

    yield Backend(request.param, open_store)
    for store in opened:
        await store.close()
    for client in clients:
        await client.aclose()


@pytest.fixture
def store(backend: Backend) -> VectorStore:
    """A store on a freshly healed vector database (a copy of the healed template)."""
    return backend.open()


async def test_add_then_count(store: VectorStore, vectors_db: URL) -> None:
    """Every chunk is stored with its tenant, source, collection, index and generation."""
    vectors = unit_vectors(BATCH_ROWS + 3)
    await store.add([chunk(1, "doc-a", i, v) for i, v in enumerate(vectors[: BATCH_ROWS + 1])])
    await store.add([chunk(1, "doc-a", i, v, generation="g2") for i, v in enumerate(vectors[-2:])])

    assert await store.count(1, "doc-a") == BATCH_ROWS + 3
    assert await store.count(1, "doc-a", "g1") == BATCH_ROWS + 1
    assert await store.count(1, "doc-a", "g2") == 2
    assert await store.count(1, "doc-b") == 0
    assert await store.count(2, "doc-a") == 0

    [row] = await sql(
        vectors_db,
        "SELECT tenant_id, source_id, collection, chunk_index, embedding_model, generation, "
        "metadata, vector_dims(embedding) AS dims "
        "FROM documents WHERE generation = 'g2' AND chunk_index = 1",
    )
    assert {**row, "metadata": json.loads(row["metadata"])} == {
        "tenant_id": 1,
        "source_id": "doc-a",
        "collection": "General",
        "chunk_index": 1,
        "embedding_model": "test-model",
        "generation": "g2",
        "metadata": {
            "page": 2,
            "tenant_id": 1,
            "source_id": "doc-a",
            "collection": "General",
            "chunk_index": 1,
        },
        "dims": DIMENSIONS,
    }


async def test_search_finds_nearest_first_and_only_the_tenants(store: VectorStore) -> None:
    """Two tenants with identical vectors: each search sees only its own tenant's chunks."""
    vectors = unit_vectors(4)
    for tenant_id in (1, 2):
        await store.add([chunk(tenant_id, "doc-a", i, v) for i, v in enumerate(vectors)])
        await store.publish(tenant_id, "doc-a", "g1")

    for tenant_id in (1, 2):
        matches = await store.search(tenant_id, nudged(vectors[2]), k=10)
        assert len(matches) == 4
        assert matches[0].content == f"tenant {tenant_id} doc-a g1 chunk 2"
        assert matches[0].similarity > 0.9
        assert [m.similarity for m in matches] == sorted(
            (m.similarity for m in matches), reverse=True
        )
        assert {m.metadata["tenant_id"] for m in matches} == {tenant_id}
        assert matches[0].metadata["chunk_index"] == 2

    assert len(await store.search(1, vectors[0], k=2)) == 2
    assert await store.search(3, vectors[0], k=10) == []


async def test_search_in_one_collection(store: VectorStore) -> None:
    """A collection filter excludes nearer chunks of other collections."""
    vectors = unit_vectors(3)
    await store.add([chunk(1, "doc-a", 0, vectors[0], collection="General")])
    await store.add(
        [chunk(1, "doc-b", i, v, collection="ADN Personal") for i, v in enumerate(vectors[1:])]
    )
    await store.publish(1, "doc-a", "g1")
    await store.publish(1, "doc-b", "g1")

    matches = await store.search(1, nudged(vectors[0]), k=10, filter={"collection": "ADN Personal"})
    assert {m.metadata["collection"] for m in matches} == {"ADN Personal"}
    assert len(matches) == 2
    assert (await store.search(1, nudged(vectors[0]), k=10))[0].metadata["source_id"] == "doc-a"
    assert await store.search(1, vectors[0], k=10, filter={"collection": "Shadow RAG"}) == []


async def test_delete_source_by_generation_and_whole(store: VectorStore) -> None:
    """Old generations go first, then the rest; a repeat deletes nothing; others stay."""
    vectors = unit_vectors(3)
    await store.add([chunk(1, "doc-a", i, v) for i, v in enumerate(vectors)])
    await store.add([chunk(1, "doc-a", i, v, generation="g2") for i, v in enumerate(vectors[:2])])
    await store.add([chunk(1, "doc-b", 0, vectors[0]), chunk(2, "doc-a", 0, vectors[0])])

    assert await store.delete_source(1, "doc-a", keep_generation="g2") == 3
    assert await store.delete_source(1, "doc-a", keep_generation="g2") == 0
    assert await store.count(1, "doc-a") == await store.count(1, "doc-a", "g2") == 2

    assert await store.delete_source(1, "doc-a") == 2
    assert await store.delete_source(1, "doc-a") == 0
    assert await store.count(1, "doc-a") == 0
    assert await store.count(1, "doc-b") == 1
    assert await store.count(2, "doc-a") == 1


def found(matches: list) -> list[tuple[str, str, int]]:
    """(document, generation, chunk index) of each match, in order."""
    return [
        (m.metadata["source_id"], m.metadata["generation"], m.metadata["chunk_index"])
        for m in matches
    ]


async def test_only_a_published_generation_is_searchable(store: VectorStore) -> None:
    """Chunks are invisible until their generation is published; a new generation keeps the
    one it displaces a candidate until `delete_source` keeps one; `exclude` drops exactly the
    generations named; deleting everything hides the document."""
    vectors = unit_vectors(6)
    query = nudged(vectors[0])
    await store.add([chunk(1, "doc-a", i, v) for i, v in enumerate(vectors[:3])])

    assert await store.search(1, query, k=10) == []
    assert await store.search(1, query, k=10, query_text="doc-a chunk") == []

    await store.publish(1, "doc-a", "g1")
    first = found(await store.search(1, query, k=10))
    assert first[0] == ("doc-a", "g1", 0)
    assert sorted(first) == [("doc-a", "g1", i) for i in range(3)]

    await store.add([chunk(1, "doc-a", i, v, generation="g2") for i, v in enumerate(vectors[3:])])
    assert {g for _, g, _ in found(await store.search(1, query, k=10))} == {"g1"}
    await store.publish(1, "doc-a", "g2")
    assert await store.visibility() == [Visibility(1, "doc-a", "g2", "g1")]
    both = found(await store.search(1, query, k=10))
    assert sorted(both) == [("doc-a", g, i) for g in ("g1", "g2") for i in range(3)]
    only_new = await store.search(1, query, k=10, filter={"exclude": {"doc-a": ["g1"]}})
    assert sorted(found(only_new)) == [("doc-a", "g2", i) for i in range(3)]
    hybrid = await store.search(
        1, query, k=10, filter={"exclude": {"doc-a": ["g2"]}}, query_text="g1 chunk"
    )
    assert sorted(found(hybrid)) == [("doc-a", "g1", i) for i in range(3)]
    # Another tenant publishing the same document id sees none of tenant 1's chunks.
    await store.publish(2, "doc-a", "g2")
    assert await store.search(2, query, k=10) == []

    assert await store.delete_source(1, "doc-a", keep_generation="g2") == 3
    assert sorted(await store.visibility(), key=lambda v: v.tenant_id) == [
        Visibility(1, "doc-a", "g2", None),
        Visibility(2, "doc-a", "g2", None),
    ]
    assert {g for _, g, _ in found(await store.search(1, query, k=10))} == {"g2"}

    assert await store.delete_source(1, "doc-a") == 3
    assert await store.visibility() == [Visibility(2, "doc-a", "g2", None)]
    assert await store.search(1, query, k=10) == []


async def test_a_failed_replace_leaves_the_previous_generation_visible(store: VectorStore) -> None:
    """Keeping the displaced generation (the replace failed after publishing) makes it the
    visible one again and deletes the new chunks."""
    vectors = unit_vectors(4)
    await store.add([chunk(1, "doc-a", i, v) for i, v in enumerate(vectors[:2])])
    await store.publish(1, "doc-a", "g1")
    await store.add([chunk(1, "doc-a", i, v, generation="g2") for i, v in enumerate(vectors[2:])])
    await store.publish(1, "doc-a", "g2")

    assert await store.delete_source(1, "doc-a", keep_generation="g1") == 2

    assert await store.visibility() == [Visibility(1, "doc-a", "g1", None)]
    matches = await store.search(1, nudged(vectors[2]), k=10)
    assert sorted(found(matches)) == [("doc-a", "g1", 0), ("doc-a", "g1", 1)]
    # Publishing the visible generation again changes nothing.
    await store.publish(1, "doc-a", "g1")
    assert await store.visibility() == [Visibility(1, "doc-a", "g1", None)]


def passage(source_id: str, content: str, embedding: list[float]) -> VectorRecord:
    """A one-chunk document of tenant 1 with the given text."""
    return VectorRecord(
        tenant_id=1,
        source_id=source_id,
        collection="General",
        chunk_index=0,
        content=content,
        embedding=embedding,
        embedding_model="test-model",
        generation="g1",
        metadata={},
    )


async def test_hybrid_text_side_matches_any_word_of_the_question(store: VectorStore) -> None:
    """A question sharing one (stemmed) word with a passage adds that passage's full-text rank
    to its score: the full-text side ORs the question's words (it used to AND them, and found
    nothing for a paraphrase). Fusion is reciprocal rank fusion with k 5, the full-text list
    weighted 0.05; stop words alone add nothing."""
    vectors = unit_vectors(3)
    texts = {
        "doc-a": "La limpieza profesional incluye un pulido final.",
        "doc-b": "Un diente sensible necesita una revisión pronto.",
        "doc-c": "Abrimos los sábados por la mañana.",
    }
    await store.add(
        [passage(source, text, v) for (source, text), v in zip(texts.items(), vectors, strict=True)]
    )
    for source in texts:
        await store.publish(1, source, "g1")
    query = nudged(vectors[0])
    by_vector = [m.metadata["source_id"] for m in await store.search(1, query, k=3)]

    def rrf(rank: int, weight: float = 1.0) -> float:
        return weight / (5 + rank)

    for language in ("es", "mixed", None):
        matches = await store.search(
            1,
            query,
            k=3,
            filter={"language": language},
            query_text="¿Por qué me duelen los dientes al masticar?",
        )
        scores = {m.metadata["source_id"]: m.score for m in matches}
        expected = {s: rrf(by_vector.index(s) + 1) for s in texts}
        expected["doc-b"] += rrf(1, 0.05)
        assert scores == pytest.approx(expected), language

    # Spanish stop words only ("por", "los", "al"): the full-text side is empty.
    matches = await store.search(1, query, k=3, filter={"language": "es"}, query_text="por los al")
    assert [m.score for m in matches] == pytest.approx([rrf(1), rrf(2), rrf(3)])


async def test_hybrid_ranks_full_text_among_the_semantic_candidates_only(
    store: VectorStore,
) -> None:
    """The full-text side ranks the semantic candidates (k x 2, at least 20), not every chunk
    matching a word: a far chunk that matches the question better by text neither enters the
    answer nor takes text rank 1 from a candidate (it scored below every candidate anyway)."""
    rng = np.random.default_rng(3)
    query = unit_vectors(1, seed=5)[0]
    near = []
    for i in range(22):
        noisy = np.asarray(query) + 0.1 * i * rng.standard_normal(DIMENSIONS) / 20
        near.append((noisy / np.linalg.norm(noisy)).tolist())
    records = [
        passage(f"near-{i}", "El horario de la clínica cambia en verano.", v)
        for i, v in enumerate(near)
    ]
    records[0] = passage("near-0", "Un diente roto se arregla en la clínica.", near[0])
    far = (-np.asarray(query)).tolist()
    records.append(passage("far", "Diente, diente: el diente sensible y el diente roto.", far))
    await store.add(records)
    for record in records:
        await store.publish(1, record.source_id, "g1")

    matches = await store.search(
        1, query, k=3, filter={"language": "es"}, query_text="¿Qué pasa con mi diente?"
    )

    assert matches[0].metadata["source_id"] == "near-0"
    assert "far" not in {m.metadata["source_id"] for m in matches}
    # Text rank 1 among the candidates (the far chunk ranks first among all text matches).
    assert matches[0].score == pytest.approx(1 / 6 + 0.05 / 6)


@pytest.mark.parametrize(
    "question",
    [
        "& | ! ( ) <-> :*",
        "it's a \\ back'slash",
        "'; DROP TABLE documents; --",
        "",
        # The longest question the API takes, of distinct words: ~700 alternatives.
        " ".join(f"palabra{i}" for i in range(1000))[:4000],
    ],
)
async def test_hybrid_reads_operators_and_quotes_in_a_question_as_text(
    store: VectorStore, question: str
) -> None:
    """tsquery operators, quotes and backslashes in a question are words or nothing, never
    syntax: the search answers (here from the vector side) instead of failing."""
    vectors = unit_vectors(2)
    await store.add([passage("doc-a", "Backslash and quote it's here", vectors[0])])
    await store.publish(1, "doc-a", "g1")

    matches = await store.search(
        1, nudged(vectors[0]), k=5, filter={"language": "en"}, query_text=question
    )

    assert [m.metadata["source_id"] for m in matches] == ["doc-a"]


async def test_search_is_limited_to_one_embedding_model(store: VectorStore) -> None:
    """Vectors of two models side by side: a query of one model never meets the other's."""
    vectors = unit_vectors(4)
    await store.add([chunk(1, "doc-a", i, v, model="m1") for i, v in enumerate(vectors[:2])])
    await store.add([chunk(1, "doc-b", i, v, model="m2") for i, v in enumerate(vectors[2:])])
    await store.publish(1, "doc-a", "g1")
    await store.publish(1, "doc-b", "g1")

    for model, document in (("m1", "doc-a"), ("m2", "doc-b")):
        for text in (None, "chunk"):
            matches = await store.search(
                1, vectors[0], k=10, filter={"embedding_model": model}, query_text=text
            )
            assert {m.metadata["source_id"] for m in matches} == {document}
            assert len(matches) == 2


def exact_top(vectors: list[list[float]], query: list[float], k: int) -> list[int]:
    """Indices of the k nearest vectors by cosine distance, the ground truth."""
    similarity = np.asarray(vectors) @ np.asarray(query)
    return [int(i) for i in np.argsort(-similarity, kind="stable")[:k]]


async def test_a_tenant_index_is_listed_and_search_agrees_with_the_exact_ranking(
    store: VectorStore, backend: Backend, vectors_db: URL
) -> None:
    """A tenant with its own HNSW index and one without: both searches return the exact top-k
    of their own tenant only. Only the SQL adapter can build the index; over PostgREST the
    caller is told to run the SQL by hand."""
    vectors = unit_vectors(120, seed=3)
    for tenant_id, part in ((1, vectors[:60]), (2, vectors[60:])):
        await store.add([chunk(tenant_id, f"doc-{i}", 0, v) for i, v in enumerate(part)])
        for i in range(len(part)):
            await store.publish(tenant_id, f"doc-{i}", "g1")
    model = "test-model"
    assert await store.model_indexes() == [
        ModelIndex(None, model, DIMENSIONS, 120),
        ModelIndex(1, model, DIMENSIONS, 60),
        ModelIndex(2, model, DIMENSIONS, 60),
    ]

    built = await store.run_index_ddl(model_index_sql(1, model, DIMENSIONS))

    assert built is (backend.name == "sql")
    if not built:
        for statement in model_index_sql(1, model, DIMENSIONS):
            await sql(vectors_db, statement)
    index = model_index_name(1, model, DIMENSIONS)
    assert await store.model_indexes() == [
        ModelIndex(None, model, DIMENSIONS, 120),
        ModelIndex(1, model, DIMENSIONS, 60, index, True),
        ModelIndex(2, model, DIMENSIONS, 60),
    ]
    [named] = await sql(vectors_db, f"SELECT orch_model_index_name(1, '{model}', 384) AS i")
    assert named["i"] == index
    for tenant_id, part in ((1, vectors[:60]), (2, vectors[60:])):
        query = nudged(part[7], seed=tenant_id)
        matches = await store.search(tenant_id, query, k=10, filter={"embedding_model": model})
        assert [m.metadata["source_id"] for m in matches] == [
            f"doc-{i}" for i in exact_top(part, query, 10)
        ]
        assert {m.metadata["tenant_id"] for m in matches} == {tenant_id}


async def test_dimension_mismatch_is_refused_and_writes_nothing(
    store: VectorStore, vectors_db: URL
) -> None:
    """One model, two lengths: in one batch, or against the model's stored vectors, the whole
    call fails naming both dimensions. A query of a length no stored vector has finds
    nothing (it is compared with no row)."""
    vectors = unit_vectors(2)
    records = [chunk(1, "doc-a", 0, vectors[0]), chunk(1, "doc-a", 1, vectors[1][:383])]

    with pytest.raises(VectorStoreError) as refused:
        await store.add(records)
    assert "384" in refused.value.message and "383" in refused.value.message
    assert await store.count(1, "doc-a") == 0
    assert (await sql(vectors_db, "SELECT count(*) AS n FROM documents"))[0]["n"] == 0

    await store.add(records[:1])
    await store.publish(1, "doc-a", "g1")
    with pytest.raises(VectorStoreError) as refused:
        await store.add([chunk(1, "doc-b", 0, vectors[1][:383])])
    assert "384" in refused.value.message and "383" in refused.value.message
    assert await store.count(1, "doc-b") == 0

    for query_filter in ({}, {"embedding_model": "test-model"}, {"embedding_model": "other"}):
        assert await store.search(1, vectors[0][:383], k=3, filter=query_filter) == []
        hybrid = await store.search(
            1, vectors[0][:383], k=3, filter=query_filter, query_text="chunk"
        )
        assert hybrid == []
    # Nor does one no stored vector can have (pgvector would refuse it with an error).
    for impossible in ([], [0.5] * 2001, [0.5] * 20000):
        assert await store.search(1, impossible, k=3) == []
        assert await store.search(1, impossible, k=3, query_text="chunk") == []
    # HNSW indexes take at most 2,000 dimensions: a longer vector is refused before a write.
    with pytest.raises(VectorStoreError) as refused:
        await store.add([chunk(1, "doc-c", 0, [0.5] * 2001, model="huge")])
    assert "2000" in refused.value.message and "2001" in refused.value.message
    assert await store.count(1, "doc-c") == 0
    assert [m.metadata["source_id"] for m in await store.search(1, vectors[0], k=3)] == ["doc-a"]


async def test_verify_passes_on_a_healed_database(store: VectorStore) -> None:
    """The healed schema has the table and the RPC."""
    await store.verify()


async def test_verify_reports_what_is_open_to_others(
    store: VectorStore, backend: Backend, vectors_db: URL
) -> None:
    """A healed schema is closed; a grant made afterwards comes back as drift that says what
    to run (over PostgREST boot cannot heal, so this is its only check)."""
    assert await store.verify() == []
    await sql(vectors_db, "GRANT SELECT ON documents TO PUBLIC")

    drift = await store.verify()

    assert [(d["kind"], d["object"]) for d in drift] == [("exposed", "public.documents")]
    assert "SELECT granted to PUBLIC" in drift[0]["detail"]
    fix = "orchestrator rag supabase-sql" if backend.name == "postgrest" else "orchestrator migrate"
    assert fix in drift[0]["detail"]


async def test_verify_fails_on_an_unhealed_database(backend: Backend, empty_db: URL) -> None:
    """pgvector enabled but no table and no function: a refusal naming what is missing."""
    await sql(empty_db, "CREATE EXTENSION vector")

    with pytest.raises(VectorStoreError) as refused:
        await backend.open(empty_db).verify()
    assert "match_documents" in refused.value.message
    if backend.name == "postgrest":
        assert "orchestrator rag supabase-sql" in refused.value.message


async def test_verify_fails_on_an_empty_database(backend: Backend, empty_db: URL) -> None:
    """Not even pgvector: still a `VectorStoreError`, not a crash."""
    with pytest.raises(VectorStoreError):
        await backend.open(empty_db).verify()


async def test_verify_fails_without_the_rpc(backend: Backend, vectors_db: URL) -> None:
    """The table alone is not enough: search needs `match_documents`."""
    await sql(vectors_db, "DROP FUNCTION match_documents")

    with pytest.raises(VectorStoreError) as refused:
        await backend.open().verify()
    assert "match_documents" in refused.value.message
    if backend.name == "postgrest":
        assert "orchestrator rag supabase-sql" in refused.value.message


async def test_wrong_credentials_fail_without_showing_them(backend: Backend) -> None:
    """Every operation refuses clearly; the secret appears in no message (on a healed vector
    database)."""
    store = backend.open(secret=WRONG_SECRET)
    vector = unit_vectors(1)[0]
    operations = [
        partial(store.verify),
        partial(store.add, [chunk(1, "doc-a", 0, vector)]),
        partial(store.count, 1, "doc-a"),
        partial(store.search, 1, vector, k=3),
        partial(store.delete_source, 1, "doc-a"),
        partial(store.publish, 1, "doc-a", "g1"),
        partial(store.visibility),
        partial(store.model_indexes),
    ]
    for operation in operations:
        with pytest.raises(VectorStoreError) as refused:
            await operation()
        assert WRONG_SECRET not in str(refused.value)
        assert WRONG_SECRET not in repr(refused.value.details)


def wide_unit_vectors(count: int, seed: int = 17) -> list[list[float]]:
    """Deterministic random unit vectors of 512 dimensions (USE's)."""
    matrix = np.random.default_rng(seed).standard_normal((count, 512))
    return (matrix / np.linalg.norm(matrix, axis=1, keepdims=True)).tolist()


async def _index_by_hand(store: VectorStore, statements: tuple[str, ...], url: URL) -> None:
    """Build a model index: the SQL adapter runs it, over PostgREST an operator does."""
    if not await store.run_index_ddl(statements):
        for statement in statements:
            await sql(url, statement)


async def test_two_dimensions_of_one_tenant_are_searched_apart_and_fused(
    store: VectorStore, vectors_db: URL
) -> None:
    """384- and 512-dimensional vectors of one tenant in one table: each model's query ranks
    its own rows exactly (with and without HNSW indexes of their own, and with no model named
    the dimension alone keeps them apart), hybrid stays within the dimension, and rank fusion
    of the two lists puts both nearest chunks first."""
    narrow, wide = unit_vectors(30, seed=5), wide_unit_vectors(30)
    await store.add([chunk(1, f"n-{i}", 0, v, model="m384") for i, v in enumerate(narrow)])
    await store.add([chunk(1, f"w-{i}", 0, v, model="m512") for i, v in enumerate(wide)])
    await store.add([chunk(2, f"x-{i}", 0, v, model="m512") for i, v in enumerate(wide[:5])])
    for i in range(30):
        await store.publish(1, f"n-{i}", "g1")
        await store.publish(1, f"w-{i}", "g1")
    for i in range(5):
        await store.publish(2, f"x-{i}", "g1")
    assert [
        (i.tenant_id, i.embedding_model, i.dimensions, i.chunks)
        for i in await store.model_indexes()
    ] == [
        (None, "m384", 384, 30),
        (None, "m512", 512, 35),
        (1, "m384", 384, 30),
        (1, "m512", 512, 30),
        (2, "m512", 512, 5),
    ]
    q384 = nudged(narrow[3], seed=1)
    noisy = np.asarray(wide[5]) + 0.02 * np.random.default_rng(2).standard_normal(512)
    q512 = (noisy / np.linalg.norm(noisy)).tolist()

    async def ranked(query: list[float], prefix: str, model: str | None) -> list[str]:
        query_filter = {} if model is None else {"embedding_model": model}
        found = await store.search(1, query, k=5, filter=query_filter)
        assert {m.metadata["tenant_id"] for m in found} == {1}
        assert all(m.metadata["source_id"].startswith(prefix) for m in found)
        return [m.metadata["source_id"] for m in found]

    expected_384 = [f"n-{i}" for i in exact_top(narrow, q384, 5)]
    expected_512 = [f"w-{i}" for i in exact_top(wide, q512, 5)]
    for built in (False, True):
        if built:
            for tenant in (None, 1):
                await _index_by_hand(store, model_index_sql(tenant, "m384", 384), vectors_db)
                await _index_by_hand(store, model_index_sql(tenant, "m512", 512), vectors_db)
            assert all(i.valid for i in await store.model_indexes() if i.tenant_id != 2)
        assert await ranked(q384, "n-", "m384") == expected_384
        assert await ranked(q512, "w-", "m512") == expected_512
        assert await ranked(q512, "w-", None) == expected_512
        assert await ranked(q384, "n-", None) == expected_384
        # A model's name with the other dimension's query finds nothing, never an error.
        assert await store.search(1, q512, k=5, filter={"embedding_model": "m384"}) == []
        hybrid = await store.search(
            1, q512, k=10, filter={"embedding_model": "m512"}, query_text="chunk"
        )
        assert {m.metadata["source_id"][:2] for m in hybrid} == {"w-"}

    apart = [
        await store.search(1, q384, k=5, filter={"embedding_model": "m384"}),
        await store.search(1, q512, k=5, filter={"embedding_model": "m512"}),
    ]
    fused = fuse_by_rank(apart)
    assert {m.metadata["source_id"] for m in fused[:2]} == {expected_384[0], expected_512[0]}
    assert len(fused) == 10


async def test_a_model_id_with_quotes_is_indexed_and_searched_as_a_literal(
    store: VectorStore, vectors_db: URL
) -> None:
    """A model id holding quotes, a semicolon and a comment marker reaches SQL only as an
    escaped literal: its index is built, listed and used, and the table survives."""
    odd = "o'brien\"; DROP TABLE documents; -- \\ 'x'"
    vectors = unit_vectors(12, seed=9)
    await store.add([chunk(1, f"doc-{i}", 0, v, model=odd) for i, v in enumerate(vectors)])
    for i in range(12):
        await store.publish(1, f"doc-{i}", "g1")
    for tenant in (None, 1):
        await _index_by_hand(store, model_index_sql(tenant, odd, 384), vectors_db)

    indexes = await store.model_indexes()

    assert [(i.tenant_id, i.embedding_model, i.valid) for i in indexes] == [
        (None, odd, True),
        (1, odd, True),
    ]
    [definition] = await sql(
        vectors_db, "SELECT pg_get_indexdef($1::regclass) AS d", model_index_name(1, odd, 384)
    )
    assert "o''brien\"; DROP TABLE documents; -- \\ ''x''" in definition["d"]
    query = nudged(vectors[4], seed=4)
    found = await store.search(1, query, k=3, filter={"embedding_model": odd})
    assert [m.metadata["source_id"] for m in found] == [
        f"doc-{i}" for i in exact_top(vectors, query, 3)
    ]
    assert await store.count(1, "doc-4") == 1
