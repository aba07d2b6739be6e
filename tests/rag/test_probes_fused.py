"""Red-team probes of the fused embedder (`multilingual+use`, a row per model for each chunk)
and of step 0027's hybrid search: a fused document's one vote beside other embedders', an
adopted table's chunks that share an index, tenants that are not ours, delete, odd embedder
settings and every kind of token in a hybrid question."""

import uuid

import httpx
import pytest
from sqlalchemy.engine import URL

from orchestrator_service.rag.embedders import local, multilingual, use
from tests.helpers import (
    Caller,
    error_of,
    new_tenant,
    sql,
)
from tests.rag.helpers import DOCS, configured_tenant, ingested

FUSED = f"{multilingual.MODEL_ID}+{use.MODEL_ID}"
SEARCH = "/api/v1/rag/search"
SPANISH = [
    "Los implantes de titanio necesitan entre tres y seis meses para integrarse en el hueso.",
    "El envío es gratuito en compras superiores a cincuenta euros.",
    "El trabajador tiene derecho a treinta días naturales de vacaciones retribuidas.",
    "La clínica abre de lunes a viernes de nueve de la mañana a ocho de la tarde.",
]
ENGLISH = [
    "The office opens at nine and closes at five on weekdays.",
    "Refunds are paid back to the original card within ten days.",
]
PARAPHRASE = "¿Cuántos días de vacaciones pagadas tengo al año?"


async def _search(client: httpx.AsyncClient, caller: Caller, query: str, **body) -> list[dict]:
    response = await client.post(SEARCH, headers=caller.headers, json={"query": query, **body})
    assert response.status_code == 200, response.text
    return response.json()["items"]


def _chunks(results: list[dict]) -> list[tuple[str, int]]:
    return [(r["document_id"], r["chunk_index"]) for r in results]


async def _mixed_tenant(runtime, client, admin) -> tuple[Caller, list[dict], list[dict]]:
    """A tenant with an English (MiniLM) collection `L` and a Spanish (fused) collection `F`."""
    caller = await configured_tenant(runtime, client, admin, language="en")
    english = [
        await ingested(client, caller, f"en{i}.txt", text, collection="L")
        for i, text in enumerate(ENGLISH)
    ]
    patched = await client.patch(
        f"/api/v1/tenants/{caller.tenant_id}", headers=admin.headers, json={"language": "es"}
    )
    assert patched.status_code == 200, patched.text
    spanish = [
        await ingested(client, caller, f"es{i}.txt", text, collection="F")
        for i, text in enumerate(SPANISH)
    ]
    assert {d["embedding_model"] for d in english} == {local.MODEL_ID}
    assert {d["embedding_model"] for d in spanish} == {FUSED}
    return caller, english, spanish


async def test_another_tenants_fused_documents_never_appear(service) -> None:
    """Same texts, same collection names, even a filter on the other tenant's document id."""
    runtime, client, admin = service
    mine = await configured_tenant(runtime, client, admin, language="es")
    theirs = await configured_tenant(runtime, client, admin, language="es")
    their_docs = [
        await ingested(client, theirs, f"t{i}.txt", text, collection="F")
        for i, text in enumerate(SPANISH)
    ]
    my_doc = await ingested(client, mine, "m.txt", SPANISH[0] + " Nuestra sede.", collection="F")
    their_ids = {d["id"] for d in their_docs}
    for mode in ("vector", "hybrid"):
        for body in (
            {},
            {"collections": ["F"]},
            {"filters": {"source_id": their_docs[2]["id"]}},
            {"filters": {"collection": "F"}},
        ):
            results = await _search(client, mine, PARAPHRASE, top_k=50, mode=mode, **body)
            assert not their_ids & {r["document_id"] for r in results}, (body, results)
            assert {r["document_id"] for r in results} <= {my_doc["id"]}
        get = await client.get(f"{DOCS}/{their_docs[0]['id']}", headers=mine.headers)
        assert get.status_code == 404, get.text
        delete = await client.delete(f"{DOCS}/{their_docs[0]['id']}", headers=mine.headers)
        assert delete.status_code == 404, delete.text
    store = runtime.vector_store
    assert store is not None
    assert await store.count(theirs.tenant_id, their_docs[0]["id"]) == 2
    assert await store.count(mine.tenant_id, their_docs[0]["id"]) == 0


async def test_deleting_a_fused_document_removes_both_rows(service) -> None:
    """Both models' rows go; search in either mode never returns the document again."""
    runtime, client, admin = service
    caller = await configured_tenant(runtime, client, admin, language="es")
    kept = await ingested(client, caller, "kept.txt", SPANISH[1])
    gone = await ingested(client, caller, "gone.txt", SPANISH[2])
    store = runtime.vector_store
    assert store is not None
    assert await store.count(caller.tenant_id, gone["id"]) == 2 * gone["chunk_count"]
    response = await client.delete(f"{DOCS}/{gone['id']}", headers=caller.headers)
    assert response.status_code == 204, response.text
    assert await store.count(caller.tenant_id, gone["id"]) == 0
    assert await store.count(caller.tenant_id, kept["id"]) == 2
    for mode in ("vector", "hybrid"):
        results = await _search(client, caller, PARAPHRASE, top_k=50, mode=mode)
        assert _chunks(results) == [(kept["id"], 0)], results
    assert (await client.get(f"{DOCS}/{gone['id']}", headers=caller.headers)).status_code == 404
    again = await client.delete(f"{DOCS}/{gone['id']}", headers=caller.headers)
    assert again.status_code in (204, 404), again.text


async def test_odd_embedder_settings_are_a_clear_4xx_never_500(service) -> None:
    """PATCH embedder: exact names and null accepted, any other spelling a 422 error body."""
    runtime, client, admin = service
    caller = await new_tenant(runtime, f"probe-{uuid.uuid4().hex[:6]}")
    path = f"/api/v1/tenants/{caller.tenant_id}"
    for value, expected in (
        ("use", "use"),
        (None, None),
        ("multilingual+use", "multilingual+use"),
    ):
        response = await client.patch(path, headers=admin.headers, json={"embedder": value})
        assert response.status_code == 200, (value, response.text)
        assert response.json()["embedder"] == expected
    for value in (
        "multilingual+use ",
        "  use",
        "MULTILINGUAL+USE",
        "use+multilingual",
        "multilingual + use",
        "multilingual+",
        "+use",
        "",
        "multilingual+use+local",
        "multilingual\u0000+use",
        ["multilingual", "use"],
        {"name": "use"},
        1,
        True,
    ):
        response = await client.patch(path, headers=admin.headers, json={"embedder": value})
        assert response.status_code in (400, 422), (value, response.text)
        error_of(response, response.status_code)
    for value in ("ES", "es ", "", "spanish", "es+en", 0):
        response = await client.patch(path, headers=admin.headers, json={"language": value})
        error_of(response, 422)
    assert (await client.get(path, headers=admin.headers)).json()["embedder"] == "multilingual+use"
    member = await client.patch(path, headers=caller.headers, json={"embedder": "use"})
    assert member.status_code in (401, 403, 404), member.text
    document = await ingested(client, caller, "leave.txt", SPANISH[2])
    assert document["embedding_model"] == FUSED


async def test_a_single_model_exact_answer_is_not_outvoted_by_fused_chunks(service) -> None:
    """A fused document fills two lists (E5's, USE's) but has one vote: a MiniLM document
    answering word for word ties for the top, as the first of every embedder's list does."""
    runtime, client, admin = service
    caller, english, _ = await _mixed_tenant(runtime, client, admin)
    refunds = english[1]["id"]
    question = "Are refunds paid back to the original card within ten days?"
    for mode in ("vector", "hybrid"):
        for top_k in (2, 3):
            results = await _search(client, caller, question, top_k=top_k, mode=mode)
            scores = {r["document_id"]: r["score"] for r in results}
            assert scores.get(refunds) == pytest.approx(1 / 61), (mode, top_k, results)
            assert results[0]["score"] == pytest.approx(1 / 61), (mode, top_k, results)


async def test_orch_any_words_quotes_every_kind_of_token(service, vectors_db: URL) -> None:
    """Paths, URLs, e-mails, apostrophes and numbers all make a valid tsquery, or none."""
    tokens = [
        "C:\\Users\\o'neil\\file.txt",
        "http://a.b/c?d='x'&e=\\y#z",
        "https://ex.com/a%27b",
        "o'neil l'amour don't",
        "ana.o'hara+tag@example.com",
        "/usr/local/bin/'quoted'",
        "version 1.2.3-beta, -1.5e10, 0x1F, 3/4",
        "co-op self-service",
        "foo:* bar:A <1> !baz",
        "\\'\\'\\",
        "'' \"\" ``",
    ]
    for language in ("es", "en", "mixed", None):
        for query in tokens:
            rows = await sql(
                vectors_db, "SELECT orch_any_words($1, $2)::text AS q", query, language
            )
            parsed = rows[0]["q"]
            if parsed is not None:
                await sql(vectors_db, "SELECT $1::tsquery", parsed)
    runtime, client, admin = service
    caller = await configured_tenant(runtime, client, admin, language="mixed")
    await ingested(client, caller, "paths.txt", " ".join(tokens))
    for query in tokens:
        results = await _search(client, caller, query, mode="hybrid")
        assert len(results) == 1, (query, results)


async def test_the_vector_schema_stays_closed_after_step_0027(service, vectors_db: URL) -> None:
    """orch_any_words and hybrid_match_documents, replaced, grant nothing to PUBLIC."""
    assert await sql(vectors_db, "SELECT * FROM orch_exposure()") == []
    rows = await sql(
        vectors_db,
        "SELECT p.proname, l.lanname, p.provolatile FROM pg_proc p "
        "JOIN pg_language l ON l.oid = p.prolang "
        "WHERE p.proname IN ('orch_any_words', 'hybrid_match_documents')",
    )
    assert sorted((r["proname"], r["lanname"]) for r in rows) == [
        ("hybrid_match_documents", "plpgsql"),
        ("orch_any_words", "plpgsql"),
    ]


async def test_adopted_chunks_sharing_index_0_stay_apart_beside_fused_documents(
    service, vectors_db: URL
) -> None:
    """Adoption gives chunk_index 0 to LangChain rows without one: each is still a result."""
    runtime, client, admin = service
    caller = await configured_tenant(runtime, client, admin, language="en")
    text = "\n\n".join(
        f"Topic {i}: {ENGLISH[i % 2]} Section {i} of the handbook. " * 8 for i in range(8)
    )
    legacy = await ingested(client, caller, "legacy.txt", text, collection="Legacy")
    count = legacy["chunk_count"]
    assert count > 1, legacy
    await sql(
        vectors_db,
        "UPDATE documents SET chunk_index = 0, metadata = metadata || '{\"chunk_index\": 0}' "
        "WHERE source_id = $1",
        legacy["id"],
    )
    alone = await _search(client, caller, ENGLISH[0], top_k=50)
    assert len(alone) == count, alone
    patched = await client.patch(
        f"/api/v1/tenants/{caller.tenant_id}", headers=admin.headers, json={"language": "es"}
    )
    assert patched.status_code == 200, patched.text
    fused = await ingested(client, caller, "leave.txt", SPANISH[2], collection="F")
    for mode in ("vector", "hybrid"):
        results = await _search(client, caller, ENGLISH[0], top_k=50, mode=mode)
        found = [r for r in results if r["document_id"] == legacy["id"]]
        assert len(found) == count, (mode, count, [r["content"][:20] for r in found])
        assert fused["id"] in {r["document_id"] for r in results}
