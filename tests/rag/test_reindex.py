"""Re-embedding into another model without downtime, through an OpenAI-compatible embeddings
server that the test runs on loopback (the external edge, faked)."""

import hashlib
import json
from collections.abc import Iterator

import httpx
import numpy as np
import pytest
from pydantic import SecretStr

from orchestrator_service.bootstrap import boot, running_jobs
from orchestrator_service.main import create_app
from tests.helpers import new_tenant, sql, url_string
from tests.rag.helpers import DOCS, embeddings_standin, finished, upload

API_KEY = "sk-embeddings-Narwhal-5e7d9c"


def _vector(text: str) -> list[float]:
    seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")
    vector = np.random.default_rng(seed).standard_normal(384)
    return (vector / np.linalg.norm(vector)).tolist()


@pytest.fixture
def embeddings_server() -> Iterator[tuple[str, list[dict]]]:
    """An OpenAI-compatible /v1/embeddings on loopback; records what it was sent."""
    with embeddings_standin(_vector) as server:
        yield server


async def test_reindex_writes_the_new_model_first_then_switches_and_cleans_up(
    settings, vectors_db, embeddings_server
) -> None:
    base_url, seen = embeddings_server
    configured = settings.model_copy(
        update={
            "vector_database_url": SecretStr(url_string(vectors_db)),
            "openai_embedding_base_url": base_url,
            "openai_embedding_model": "text-embedding-3-small",
            "outbound_allowed_hosts": "127.0.0.1",  # the stand-in on loopback
        }
    )
    async with boot(configured) as runtime, running_jobs(runtime):
        tenant = await new_tenant(runtime, "reindex")
        app = create_app(configured, runtime=runtime)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://rag.test"
        ) as client:
            await client.post(
                "/api/v1/credentials",
                headers=tenant.headers,
                json={
                    "name": "OPENAI_API_KEY",
                    "value": API_KEY,
                    "category": "openai",
                    "allowed_hosts": ["127.0.0.1"],  # the embeddings stand-in, not OpenAI
                },
            )
            uploaded = await upload(client, tenant, "faq.txt", b"Returns are free in Peru.")
            document = await finished(client, tenant, uploaded.json()["id"])
            assert document["embedding_model"] == runtime.embedders.local.model_id

            await runtime.ingestor.ingest(document["id"], embedder_name="openai")

            after = (await client.get(f"{DOCS}/{document['id']}", headers=tenant.headers)).json()
            logs = (
                await client.get("/api/v1/audit-logs?action=use", headers=tenant.headers)
            ).json()

    assert after["status"] == "ready" and after["error"] is None
    assert after["embedding_model"] == "openai:text-embedding-3-small:384"
    rows = await sql(
        vectors_db,
        "SELECT DISTINCT embedding_model FROM documents WHERE source_id = $1",
        document["id"],
    )
    assert [r["embedding_model"] for r in rows] == ["openai:text-embedding-3-small:384"]
    assert seen and seen[0]["auth"] == f"Bearer {API_KEY}"
    assert seen[0]["body"]["dimensions"] == 384
    assert any(e["new_values"]["consumer"] == "embedder" for e in logs["items"])
    assert API_KEY not in json.dumps(logs)


async def test_a_failed_reindex_keeps_the_ready_copy(settings, vectors_db) -> None:
    configured = settings.model_copy(
        update={
            "vector_database_url": SecretStr(url_string(vectors_db)),
            "openai_embedding_base_url": "http://127.0.0.1:9/v1",
        }
    )
    async with boot(configured) as runtime, running_jobs(runtime):
        tenant = await new_tenant(runtime, "reindex-fail")
        app = create_app(configured, runtime=runtime)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://rag.test"
        ) as client:
            document = await finished(
                client, tenant, (await upload(client, tenant, "a.txt", b"Hola.")).json()["id"]
            )
            # No OPENAI_API_KEY credential in this tenant's vault: the reindex cannot start.
            await runtime.ingestor.ingest(document["id"], embedder_name="openai")
            after = (await client.get(f"{DOCS}/{document['id']}", headers=tenant.headers)).json()

    assert after["status"] == "ready"
    assert "OPENAI_API_KEY" in after["error"]
    assert after["embedding_model"] == document["embedding_model"]
    rows = await sql(
        vectors_db, "SELECT count(*) AS n FROM documents WHERE source_id = $1", document["id"]
    )
    assert rows[0]["n"] == document["chunk_count"]
