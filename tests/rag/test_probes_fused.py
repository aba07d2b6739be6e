"""Red-team probes of the fused embedder (`multilingual+use`, a row per model for each chunk)
and of step 0027's hybrid search: mixed collections, tenants that are not ours, delete,
replace and reindex of fused documents, long documents and chats, odd embedder settings and
hostile hybrid questions."""

import uuid

import httpx
import pytest
from sqlalchemy.engine import URL

from orchestrator_service.bootstrap import Runtime
from orchestrator_service.rag.embedders import local, multilingual, use
from orchestrator_service.rag.models import RagDocument
from tests.helpers import (
    Caller,
    error_of,
    eventually,
    new_tenant,
    sql,
)
from tests.rag.helpers import DOCS, configured_tenant, finished, ingested, upload

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
TOPICS = [
    "la garantía de los electrodomésticos cubre dos años desde la fecha de compra",
    "el aparcamiento del hospital es gratuito para los pacientes de diálisis",
    "los perros deben ir atados en todos los parques municipales de la ciudad",
    "la matrícula de la universidad se paga en tres plazos durante el curso",
    "el vuelo a Lima sale cada martes a las once y cuarto desde la terminal cuatro",
    "la receta de la paella lleva arroz bomba, azafrán, pollo y judías verdes",
    "el seguro del coche no cubre los daños causados por granizo en el techo",
    "la biblioteca presta hasta seis libros durante tres semanas renovables",
    "la piscina climatizada cierra en agosto por mantenimiento de las bombas",
    "el gimnasio ofrece clases de yoga los sábados por la mañana temprano",
    "las facturas de la luz se envían por correo electrónico cada dos meses",
    "el museo es gratuito el primer domingo de cada mes para los residentes",
]
HOSTILE = [
    "'",
    '"',
    "''''",
    "\\",
    "\\\\'\\",
    "a & b | !c <-> d:* (e)",
    "& | ! <-> :* ( ) <2> :AB",
    "!!!(((",
    "vacaciones:*",
    "'vacaciones' & !'envío'",
    "de la que el y los las",
    "the of and a to is",
    "😀🏖️👨‍👩‍👧",
    "días 😀 vacaciones",
    "x" * 4000,
    "vacaciones " * 363,
    "\u200b\u200b",
    "\ufeffvacaciones\u200e",
    "\U0010ffff",
    "%s %% $1 ::tsquery; DROP TABLE documents; --",
]


async def _search(client: httpx.AsyncClient, caller: Caller, query: str, **body) -> list[dict]:
    response = await client.post(SEARCH, headers=caller.headers, json={"query": query, **body})
    assert response.status_code == 200, response.text
    return response.json()["items"]


def _chunks(results: list[dict]) -> list[tuple[str, int]]:
    return [(r["document_id"], r["chunk_index"]) for r in results]


def _assert_once(results: list[dict]) -> None:
    """No chunk twice in one answer, and the answer best first."""
    keys = _chunks(results)
    assert len(keys) == len(set(keys)), keys
    scores = [r["score"] for r in results]
    assert scores == sorted(scores, reverse=True), scores


async def _generation(runtime: Runtime, document_id: str) -> str | None:
    async with runtime.sessionmaker() as session:
        return (await session.get(RagDocument, document_id)).generation


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


async def test_mixed_collections_return_each_chunk_once_and_exactly_top_k(service) -> None:
    """Fused and MiniLM documents together: every top_k is filled exactly, no chunk twice."""
    runtime, client, admin = service
    caller, english, spanish = await _mixed_tenant(runtime, client, admin)
    total = len(english) + len(spanish)
    for mode in ("vector", "hybrid"):
        for top_k in (1, 2, 3, total, 50):
            results = await _search(client, caller, PARAPHRASE, top_k=top_k, mode=mode)
            _assert_once(results)
            assert len(results) == min(top_k, total), (mode, top_k, _chunks(results))
        everything = await _search(client, caller, PARAPHRASE, top_k=50, mode=mode)
        assert {r["document_id"] for r in everything} == {d["id"] for d in english + spanish}
        # The answer is first of both fused lists; MiniLM's first ties with it (one vote each).
        top = {r["document_id"] for r in everything if r["score"] == everything[0]["score"]}
        assert spanish[2]["id"] in top, everything
        only_fused = await _search(
            client, caller, PARAPHRASE, top_k=50, mode=mode, collections=["F"]
        )
        _assert_once(only_fused)
        assert {r["document_id"] for r in only_fused} == {d["id"] for d in spanish}
        assert {r["collection"] for r in only_fused} == {"F"}


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


async def test_replacing_a_fused_document_keeps_two_rows_per_chunk(service) -> None:
    """A re-upload with on_duplicate=replace writes a new generation, old rows gone."""
    runtime, client, admin = service
    caller = await configured_tenant(runtime, client, admin, language="mixed")
    document = await ingested(client, caller, "leave.txt", SPANISH[2])
    store = runtime.vector_store
    assert store is not None
    before = await _generation(runtime, document["id"])
    for _ in range(2):
        response = await upload(
            client, caller, "leave.txt", SPANISH[2].encode(), on_duplicate="replace"
        )
        assert response.status_code == 200, response.text
        assert response.json()["id"] == document["id"]

        async def generation() -> str | None:
            return await _generation(runtime, document["id"])

        async def old_rows(old: str | None = before) -> int:
            return await store.count(caller.tenant_id, document["id"], old)

        after = await eventually(generation, lambda g, old=before: g != old, attempts=600)
        await eventually(old_rows, lambda n: n == 0)
        ready = await finished(client, caller, document["id"])
        assert ready["status"] == "ready" and ready["embedding_model"] == FUSED
        assert await store.count(caller.tenant_id, document["id"]) == 2 * ready["chunk_count"]
        before = after
    for mode in ("vector", "hybrid"):
        results = await _search(client, caller, PARAPHRASE, top_k=50, mode=mode)
        assert _chunks(results) == [(document["id"], 0)], results


async def test_reindex_cycles_through_every_local_embedder(service) -> None:
    """local -> multilingual -> use -> fused -> local: rows follow the model, search finds once."""
    runtime, client, admin = service
    caller = await configured_tenant(runtime, client, admin, language="en")
    document = await ingested(client, caller, "leave.txt", SPANISH[2], collection="HR")
    other = await ingested(client, caller, "ship.txt", SPANISH[1], collection="Other")
    store = runtime.vector_store
    assert store is not None
    for name, model, parts in (
        ("multilingual", multilingual.MODEL_ID, 1),
        ("use", use.MODEL_ID, 1),
        ("multilingual+use", FUSED, 2),
        ("use", use.MODEL_ID, 1),
        ("multilingual+use", FUSED, 2),
        ("local", local.MODEL_ID, 1),
    ):
        await runtime.ingestor.ingest(document["id"], embedder_name=name, restart=True)
        moved = (await client.get(f"{DOCS}/{document['id']}", headers=caller.headers)).json()
        assert moved["status"] == "ready" and moved["embedding_model"] == model, moved
        assert await store.count(caller.tenant_id, document["id"]) == parts * moved["chunk_count"]
        for mode in ("vector", "hybrid"):
            results = await _search(client, caller, PARAPHRASE, top_k=50, mode=mode)
            _assert_once(results)
            assert sorted(_chunks(results)) == sorted([(document["id"], 0), (other["id"], 0)]), (
                name,
                mode,
                results,
            )


async def test_a_whatsapp_export_under_the_fused_embedder(service) -> None:
    """A chat's chunks each have two rows and come back once each."""
    runtime, client, admin = service
    caller = await configured_tenant(runtime, client, admin, language="mixed")
    lines = [
        f"{1 + i % 28}/3/24, {9 + i % 10}:{i % 60:02d} - {('Ana', 'Luis')[i % 2]}: "
        f"{TOPICS[i % len(TOPICS)]} ({i})\n"
        for i in range(120)
    ]
    chat = await ingested(client, caller, "WhatsApp Chat with Ana.txt", "".join(lines))
    assert chat["file_type"] == "whatsapp", chat
    store = runtime.vector_store
    assert store is not None
    count = chat["chunk_count"]
    assert 1 < count <= 50, chat
    assert await store.count(caller.tenant_id, chat["id"]) == 2 * count
    for mode in ("vector", "hybrid"):
        results = await _search(
            client, caller, "¿Cuándo sale el vuelo a Lima?", top_k=50, mode=mode
        )
        _assert_once(results)
        assert sorted(_chunks(results)) == [(chat["id"], i) for i in range(count)]


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


async def test_hostile_hybrid_questions_are_200_or_a_clear_4xx(service) -> None:
    """Quotes, backslashes, tsquery operators, stop words, emoji, 4,000 chars, odd unicode, for
    a mixed-language tenant (both languages' stemming; test_orch_any_words_... covers each)."""
    runtime, client, admin = service
    language = "mixed"
    caller = await configured_tenant(runtime, client, admin, language=language)
    await ingested(client, caller, "leave.txt", SPANISH[2])
    await ingested(client, caller, "hours.txt", ENGLISH[0])
    for query in HOSTILE:
        response = await client.post(
            SEARCH, headers=caller.headers, json={"query": query, "mode": "hybrid", "top_k": 5}
        )
        assert response.status_code == 200, (language, query[:40], response.text)
        _assert_once(response.json()["items"])
    for raw in (
        '"\\u2028\\u2029"',
        '"\\u0000"',
        '"a\\u0000b"',
        '"\\ud800"',
        '"x\\udfffy"',
        '"' + "y" * 4001 + '"',
    ):
        response = await client.post(
            SEARCH,
            headers={**caller.headers, "Content-Type": "application/json"},
            content=f'{{"query": {raw}, "mode": "hybrid"}}'.encode(),
        )
        assert response.status_code in (200, 400, 422), (language, raw[:20], response.text)
        if response.status_code != 200:
            error_of(response, response.status_code)


async def test_hybrid_returns_vectors_chunks_with_content_and_metadata(service) -> None:
    """For a paraphrase, hybrid's chunks are vector's, with the same content and metadata."""
    runtime, client, admin = service
    caller = await configured_tenant(runtime, client, admin, language="es")
    documents = [
        await ingested(client, caller, f"d{i}.txt", text, collection="Docs")
        for i, text in enumerate(SPANISH)
    ]
    leave = documents[2]
    for top_k in (1, 2, len(SPANISH)):
        vector = await _search(client, caller, PARAPHRASE, top_k=top_k)
        hybrid = await _search(client, caller, PARAPHRASE, top_k=top_k, mode="hybrid")
        assert sorted(_chunks(hybrid)) == sorted(_chunks(vector)), (top_k, hybrid, vector)
        assert vector[0]["document_id"] == hybrid[0]["document_id"] == leave["id"]
        by_chunk = {(r["document_id"], r["chunk_index"]): r for r in vector}
        for result in hybrid:
            twin = by_chunk[(result["document_id"], result["chunk_index"])]
            assert result["content"] == twin["content"] and result["content"]
            assert result["metadata"] == twin["metadata"]
            assert result["filename"] == twin["filename"]
            assert result["similarity"] == pytest.approx(twin["similarity"], abs=1e-6)
            metadata = result["metadata"]
            assert metadata["source_id"] == result["document_id"]
            assert metadata["chunk_index"] == result["chunk_index"]
            assert metadata["collection"] == result["collection"] == "Docs"
            assert "generation" not in metadata


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
