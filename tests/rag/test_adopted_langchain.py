"""A LangChain-built vector table, adopted at boot, serves search through the API with the
tenant's OpenAI embedder at the vectors' own 1536 dimensions (an OpenAI-compatible stand-in on
loopback), never across tenants; what adoption could not link is the reconciler's to report."""

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy.engine import URL

from orchestrator_service.bootstrap import boot
from orchestrator_service.config import Settings
from orchestrator_service.main import create_app
from orchestrator_service.rag.embedders.openai import model_of
from tests.db.langchain import build_langchain_table, seed_documents, seed_rows, vector
from tests.helpers import Caller, DatabaseFactory, new_tenant, sql, url_string
from tests.rag.helpers import embeddings_standin

API_KEY = "sk-adopted-Heron-8c1f2a"
MODEL = "openai:text-embedding-3-small:1536"


@pytest.fixture
async def langchain_db(databases: DatabaseFactory) -> AsyncIterator[URL]:
    """An empty vector database of the test's own, for LangChain's set-up SQL."""
    url = await databases.create("lc")
    yield url
    await databases.drop(url)


@pytest.fixture
def openai_embeddings() -> Iterator[tuple[str, list[dict]]]:
    """OpenAI's /v1/embeddings on loopback: each text's vector as `tests.db.langchain` made the
    LangChain rows' (so a chunk's own text finds it first); records the requests."""
    with embeddings_standin(vector) as server:
        yield server


async def _tenants(settings: Settings) -> tuple[Caller, Caller]:
    """Two tenants with API keys and their OpenAI key in the vault (before any vectors)."""
    async with boot(settings) as runtime:
        callers = (await new_tenant(runtime, "Clínica"), await new_tenant(runtime, "Tienda"))
        app = create_app(settings, runtime=runtime)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://rag.test"
        ) as client:
            for caller in callers:
                response = await client.post(
                    "/api/v1/credentials",
                    headers=caller.headers,
                    json={
                        "name": "OPENAI_API_KEY",
                        "value": API_KEY,
                        "category": "openai",
                        "allowed_hosts": ["127.0.0.1"],  # the stand-in, not OpenAI
                    },
                )
                assert response.status_code == 201, response.text
    return callers


async def test_adopted_documents_are_searched_per_tenant_and_orphans_reported(
    settings: Settings,
    fresh_db: URL,
    langchain_db: URL,
    openai_embeddings: tuple[str, list[dict]],
) -> None:
    tenant_a, tenant_b = await _tenants(settings)
    a, b = tenant_a.tenant_id, tenant_b.tenant_id
    assert a is not None and b is not None
    await seed_documents(fresh_db, a, b)
    rows = seed_rows(a, b)
    await build_langchain_table(langchain_db, rows)
    base_url, seen = openai_embeddings
    configured = settings.model_copy(
        update={
            "vector_database_url": SecretStr(url_string(langchain_db)),
            "openai_embedding_base_url": base_url,
            "outbound_allowed_hosts": "127.0.0.1",  # the stand-in on loopback
        }
    )

    async with boot(configured) as runtime:
        applied = {x["kind"] for x in runtime.heal_reports["vectors"].applied}
        assert {"adopt_backfill", "adopt_link_documents", "adopt_uuid_key"} <= applied
        app = create_app(configured, runtime=runtime)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://rag.test"
        ) as client:
            # A's question is B's forged chunk's own words, and an orphan's: neither comes back.
            found = {}
            for caller, query in (
                (tenant_a, rows[1][0]),
                (tenant_a, rows[6][0]),
                (tenant_a, rows[5][0]),
                (tenant_b, rows[1][0]),
                (tenant_b, rows[3][0]),
            ):
                response = await client.post(
                    "/api/v1/rag/search",
                    headers=caller.headers,
                    json={"query": query, "top_k": 10},
                )
                assert response.status_code == 200, response.text
                found[(caller.tenant_id, query)] = response.json()["items"]
        report = await runtime.reconciler.reconcile(dry_run=True)

    first = found[(a, rows[1][0])]
    assert first[0]["content"] == rows[1][0] and first[0]["similarity"] == pytest.approx(1.0)
    for (tenant, _), results in found.items():
        own = {"doc-a1", "doc-a2"} if tenant == a else {"doc-b1"}
        assert results and {r["document_id"] for r in results} <= own
        contents = {r["content"] for r in results}
        assert not contents & {rows[5][0], rows[6][0], rows[7][0], rows[8][0]}
    assert {r["content"] for r in found[(b, rows[3][0])]} == {rows[3][0], rows[4][0]}
    # The question was embedded by the adopted model at the vectors' own dimension.
    assert {(s["body"]["model"], s["body"]["dimensions"]) for s in seen} == {
        ("text-embedding-3-small", 1536)
    }

    # What adoption could not link stays, for the reconciler to report.
    orphans = {(o["tenant_id"], o["source_id"], o["chunks"]) for o in report.orphan_vectors}
    assert orphans == {(a, "doc-gone", 1), (b, "doc-a1", 1), (0, "doc-a1", 1), (0, "", 1)}
    left = await sql(langchain_db, "SELECT count(*) AS n FROM documents")
    assert left[0]["n"] == len(rows)


@pytest.mark.parametrize(
    ("model_id", "expected"),
    [
        ("openai:text-embedding-3-small:1536", ("text-embedding-3-small", 1536)),
        ("openai:nomic-embed-text:latest:768", ("nomic-embed-text:latest", 768)),
        ("openai:text-embedding-3-small:0", None),
        ("openai:text-embedding-3-small:16001", None),
        ("openai:text-embedding-3-small:١٥٣٦", None),  # digits, but not ASCII ones
        ("openai:text-embedding-3-small:-5", None),
        ("openai::1536", None),
        ("openai:1536", None),
        ("sentence-transformers/all-MiniLM-L6-v2", None),
        (None, None),
    ],
)
def test_the_openai_embedder_of_a_documents_model_id(
    model_id: str | None, expected: tuple[str, int] | None
) -> None:
    assert model_of(model_id) == expected
