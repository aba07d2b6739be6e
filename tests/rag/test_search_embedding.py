"""How search embeds its questions: concurrent searches (of several tenants) share model runs
and each still gets exactly its own answer, and a question asked again is not embedded again."""

import asyncio
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import numpy as np
from pydantic import SecretStr
from sqlalchemy.engine import URL

from orchestrator_service.bootstrap import Runtime, boot, running_jobs
from orchestrator_service.config import Settings
from orchestrator_service.main import create_app
from orchestrator_service.rag.embedders.local import LocalEmbedder
from tests.helpers import Caller, eventually, new_tenant, url_string
from tests.rag.helpers import finished, upload

SEARCH = "/api/v1/rag/search"
A_DOCS = {
    "horario.txt": "La oficina abre a las nueve de la mañana y cierra a las seis.",
    "refunds.txt": "Refunds are paid within ten days to the original card.",
}
B_DOCS = {
    "office.txt": "The office opens at nine in the morning.",
    "shipping.txt": "Shipping to Lima takes three working days.",
}
QUESTIONS = [
    "When does the office open?",
    "How long do refunds take?",
    "shipping to Lima",
    "¿A qué hora abre la oficina?",
    "original card",
    "working days",
]


class Runs:
    """Records the texts of each run of the local model's query batcher; the first run can be
    held until `release` is set (the model busy while other searches arrive)."""

    def __init__(self, runtime: Runtime) -> None:
        local = runtime.embedders.local
        assert isinstance(local, LocalEmbedder)
        self.batcher = local._queries
        self.texts: list[list[str]] = []
        self.release = threading.Event()
        self.release.set()
        self._run = self.batcher._run
        self.batcher._run = self

    def __call__(self, texts: list[str]) -> np.ndarray:
        self.texts.append(list(texts))
        if len(self.texts) == 1:
            self.release.wait(60)
        return self._run(texts)

    async def pending(self) -> int:
        """Queries in the first run or queued for the next."""
        queued = sum(len(queue.waiting) for queue in self.batcher._queues.values())
        return queued + (len(self.texts[0]) if self.texts else 0)


@asynccontextmanager
async def _serving(
    settings: Settings, vectors: URL, cache_entries: int
) -> AsyncIterator[tuple[Runtime, httpx.AsyncClient, Caller, Caller]]:
    configured = settings.model_copy(
        update={
            "vector_database_url": SecretStr(url_string(vectors)),
            "query_vector_cache_entries": cache_entries,
        }
    )
    async with boot(configured) as runtime:
        transport = httpx.ASGITransport(app=create_app(configured, runtime=runtime))
        async with httpx.AsyncClient(transport=transport, base_url="http://rag.test") as client:
            a = await new_tenant(runtime, "batch-a")
            b = await new_tenant(runtime, "batch-b")
            # The workers ingest, then stop: the searches run with nothing else going on.
            async with running_jobs(runtime):
                for caller, docs in ((a, A_DOCS), (b, B_DOCS)):
                    for name, text in docs.items():
                        uploaded = await upload(client, caller, name, text.encode())
                        document = await finished(client, caller, uploaded.json()["id"])
                        assert document["status"] == "ready"
            yield runtime, client, a, b


async def _search(client: httpx.AsyncClient, caller: Caller, query: str) -> list[dict]:
    response = await client.post(SEARCH, headers=caller.headers, json={"query": query})
    assert response.status_code == 200, response.text
    return response.json()["items"]


async def test_concurrent_searches_of_two_tenants_share_runs_and_get_their_own_answers(
    settings: Settings, vectors_db: URL
) -> None:
    async with _serving(settings, vectors_db, cache_entries=0) as (runtime, client, a, b):
        asks = [(caller, q) for q in QUESTIONS for caller in (a, b)]
        alone = [await _search(client, caller, q) for caller, q in asks]
        runs = Runs(runtime)
        runs.release.clear()

        searches = [asyncio.ensure_future(_search(client, caller, q)) for caller, q in asks]
        # The first run keeps the model busy until every other question waits for it.
        await eventually(runs.pending, lambda pending: pending == len(asks))
        runs.release.set()
        together = await asyncio.gather(*searches)

    # Two runs: the questions that found the model idle (those that arrived in the same turn
    # of the event loop), then all the others, of both tenants, together.
    assert len(runs.texts) == 2
    assert len(runs.texts[0]) + len(runs.texts[1]) == len(asks)
    assert len(runs.texts[1]) > len(runs.texts[0])
    assert sorted(t for run in runs.texts for t in run) == sorted(q for _, q in asks)
    for (caller, _), mine, own in zip(asks, together, alone, strict=True):
        names = A_DOCS if caller is a else B_DOCS
        assert {hit["filename"] for hit in mine} <= set(names)  # never the other tenant's
        assert [hit["document_id"] for hit in mine] == [hit["document_id"] for hit in own]
        assert np.allclose(
            [hit["similarity"] for hit in mine], [hit["similarity"] for hit in own], atol=1e-4
        )


async def test_a_question_asked_again_is_not_embedded_again(
    settings: Settings, vectors_db: URL
) -> None:
    async with _serving(settings, vectors_db, cache_entries=16) as (runtime, client, a, b):
        runs = Runs(runtime)
        first = await _search(client, a, "When does the office open?")
        again = await _search(client, a, "When does the office open?")
        other_tenant = await _search(client, b, "When does the office open?")

    # Embedded once for tenant A, and again for tenant B (the cache is per tenant).
    assert runs.texts == [["When does the office open?"], ["When does the office open?"]]
    assert again == first
    assert {hit["filename"] for hit in other_tenant} <= set(B_DOCS)
