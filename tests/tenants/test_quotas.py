"""Per-tenant quotas: documents, stored bytes and agent runs per minute. Going over answers 429
`quota_exceeded` with `Retry-After` and a message naming the quota; the quotas are counted in
PostgreSQL, so two booted services on one database enforce one quota between them."""

import asyncio
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
from sqlalchemy.engine import URL

from orchestrator_service.bootstrap import Runtime, boot
from orchestrator_service.config import Settings
from orchestrator_service.main import create_app
from tests.helpers import Caller, error_of, new_tenant, sql
from tests.rag.helpers import DOCS, upload

DOCUMENTS = 3
STORED_BYTES = 1000
RUNS_PER_MINUTE = 3


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Quotas small enough to reach."""
    return settings.model_copy(
        update={
            "quota_documents": DOCUMENTS,
            "quota_stored_bytes": STORED_BYTES,
            "quota_runs_per_minute": RUNS_PER_MINUTE,
        }
    )


@asynccontextmanager
async def _replica(settings: Settings) -> AsyncIterator[tuple[Runtime, httpx.AsyncClient]]:
    """A second service booted on the same database, and a client of it."""
    async with boot(settings) as runtime:
        transport = httpx.ASGITransport(app=create_app(settings, runtime=runtime))
        async with httpx.AsyncClient(transport=transport, base_url="http://replica.test") as c:
            yield runtime, c


def _quota_error(response: httpx.Response, quota: str, limit: int) -> dict:
    """Assert the 429 of `quota`: Retry-After set, the message naming the quota."""
    error = error_of(response, 429, "quota_exceeded")
    assert error["details"]["quota"] == quota
    assert error["details"]["limit"] == limit
    assert quota.replace("_", " ") in error["message"]
    assert response.headers["retry-after"] == str(error["details"]["retry_after"])
    assert int(response.headers["retry-after"]) >= 1
    return error


async def test_the_documents_quota_is_429_naming_it_until_one_is_deleted(
    client: httpx.AsyncClient, tenant_a: Caller, tenant_b: Caller
) -> None:
    for i in range(DOCUMENTS):
        assert (await upload(client, tenant_a, f"{i}.txt", f"doc {i}".encode())).status_code == 202

    over = await upload(client, tenant_a, "one-more.txt", b"one more")
    same = await upload(client, tenant_a, "0-again.txt", b"doc 0")  # dedup: no new document

    error = _quota_error(over, "documents", DOCUMENTS)
    assert error["message"].startswith("The documents quota is used up")
    assert error["details"]["used"] == DOCUMENTS
    assert over.headers["retry-after"] == "3600"
    assert same.status_code == 200
    assert (await upload(client, tenant_b, "b.txt", b"tenant b")).status_code == 202
    first = (await client.get(DOCS, headers=tenant_a.headers)).json()["items"][0]["id"]
    deleted = await client.delete(f"{DOCS}/{first}", headers=tenant_a.headers)
    assert deleted.status_code in (202, 204)
    assert (await upload(client, tenant_a, "one-more.txt", b"one more")).status_code == 202


async def test_the_stored_bytes_quota_is_429_naming_it(
    client: httpx.AsyncClient, tenant_a: Caller
) -> None:
    assert (await upload(client, tenant_a, "a.txt", b"a" * 600)).status_code == 202

    over = await upload(client, tenant_a, "b.txt", b"b" * 401)
    fits = await upload(client, tenant_a, "c.txt", b"c" * 400)

    error = _quota_error(over, "stored_bytes", STORED_BYTES)
    assert "600 of 1000 bytes and this file has 401" in error["message"]
    assert fits.status_code == 202


async def test_two_services_on_one_database_share_the_documents_quota(
    settings: Settings, client: httpx.AsyncClient, tenant_a: Caller
) -> None:
    async with _replica(settings) as (_, replica):
        uploads = await asyncio.gather(
            *(
                upload(replica if i % 2 else client, tenant_a, f"{i}.txt", f"n{i}".encode())
                for i in range(DOCUMENTS + 3)
            )
        )

    statuses = sorted(r.status_code for r in uploads)
    assert statuses == [202] * DOCUMENTS + [429] * 3
    for refused in (r for r in uploads if r.status_code == 429):
        _quota_error(refused, "documents", DOCUMENTS)


async def _agent(client: httpx.AsyncClient, caller: Caller) -> int:
    response = await client.post(
        "/api/v1/agents", headers=caller.headers, json={"name": "q", "system_prompt_template": "Hi"}
    )
    assert response.status_code == 201, response.text
    return response.json()["id"]


async def _queue_run(client: httpx.AsyncClient, caller: Caller, agent_id: int) -> httpx.Response:
    """Start a background run (queued: no worker runs here, so no model is called)."""
    return await client.post(
        f"/api/v1/agents/{agent_id}/runs",
        headers=caller.headers,
        json={"input": "Hello", "background": True},
    )


async def _early_in_a_minute(database: URL) -> None:
    """Wait for a minute with time left in it, so one test's runs fall in one window."""
    while (await sql(database, "SELECT extract(second FROM now()) AS s"))[0]["s"] > 45:
        await asyncio.sleep(1)


async def test_runs_per_minute_are_429_naming_the_quota_across_two_services(
    settings: Settings, fresh_db: URL, client: httpx.AsyncClient, tenant_a: Caller
) -> None:
    agent_id = await _agent(client, tenant_a)
    tenant_b = None
    async with _replica(settings) as (runtime, replica):
        tenant_b = await new_tenant(runtime, "tenant-b")
        other_agent = await _agent(replica, tenant_b)
        await _early_in_a_minute(fresh_db)
        for i in range(RUNS_PER_MINUTE):
            response = await _queue_run(replica if i % 2 else client, tenant_a, agent_id)
            assert response.status_code == 202, response.text

        over_here = await _queue_run(client, tenant_a, agent_id)
        over_there = await _queue_run(replica, tenant_a, agent_id)
        other_tenant = await _queue_run(replica, tenant_b, other_agent)

    for over in (over_here, over_there):
        error = _quota_error(over, "runs_per_minute", RUNS_PER_MINUTE)
        assert re.fullmatch(
            r"The runs per minute quota \(3\) is used up for this minute; try again in the next "
            r"one",
            error["message"],
        )
        assert 1 <= int(over.headers["retry-after"]) <= 60
    assert other_tenant.status_code == 202
    queued = await sql(
        fresh_db,
        "SELECT count(*) AS n FROM agent_execution.executions WHERE tenant_id = $1",
        tenant_a.tenant_id,
    )
    assert queued[0]["n"] == RUNS_PER_MINUTE  # a refused run leaves no record behind
