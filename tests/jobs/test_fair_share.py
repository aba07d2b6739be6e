"""Fair use of the job workers: ingestion and background runs each have capacity of their own,
and each tenant gets at most its share of a kind's slots, held in PostgreSQL so that two booted
services on one database enforce one limit between them."""

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from datetime import timedelta

import httpx
import pytest
from pgqueuer import RetryRequested
from pydantic import SecretStr
from sqlalchemy.engine import URL

from orchestrator_service.bootstrap import Runtime, boot, running_jobs, tenant_slots
from orchestrator_service.config import Settings
from orchestrator_service.jobs.queue import INGEST, RUN
from orchestrator_service.jobs.slots import TenantSlots
from tests.agents.helpers import (
    create_scripted_agent,
    get_json,
    run_agent,
    serve,
    store_llm_key,
)
from tests.helpers import Caller, eventually, new_tenant, sql, url_string
from tests.network import network  # noqa: F401 (autouse fence: loopback only)
from tests.rag.helpers import finished, upload
from tests.scripted_model import Say, ScriptedModel, Stall

TENANT_INGESTIONS = 2


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """One background run per tenant at once, two ingestions; two run slots per service."""
    return settings.model_copy(
        update={
            "tenant_run_concurrency": 1,
            "tenant_ingest_concurrency": TENANT_INGESTIONS,
            "run_concurrency": 2,
        }
    )


async def _documents(client: httpx.AsyncClient, caller: Caller, count: int) -> list[str]:
    """Ids of `count` uploaded documents (queued: no worker runs)."""
    ids = []
    for _ in range(count):
        response = await upload(client, caller, "d.txt", uuid.uuid4().bytes)
        assert response.status_code == 202, response.text
        ids.append(response.json()["id"])
    return ids


async def test_a_tenants_slots_hold_across_two_services(
    settings: Settings, runtime: Runtime, client: httpx.AsyncClient, tenant_a: Caller
) -> None:
    a1, a2, a3 = await _documents(client, tenant_a, 3)
    tenant_b = await new_tenant(runtime, "tenant-b")
    (b1,) = await _documents(client, tenant_b, 1)
    async with boot(settings) as other:
        here, there = tenant_slots(runtime), tenant_slots(other)

        async with here.hold(INGEST, a1, deferrals=0), there.hold(INGEST, a2, deferrals=0):
            for slots in (here, there):
                with pytest.raises(RetryRequested) as deferred:
                    async with slots.hold(INGEST, a3, deferrals=0):
                        pytest.fail("a third ingestion of the tenant got a slot")
                assert timedelta(seconds=0.5) <= deferred.value.delay <= timedelta(seconds=1)
            async with there.hold(INGEST, b1, deferrals=0):  # another tenant's share
                pass
        async with there.hold(INGEST, a3, deferrals=0):  # freed when a1 and a2 ended
            pass


async def test_a_deferral_backs_off_and_a_dead_holder_frees_its_slot(
    runtime: Runtime, fresh_db: URL, client: httpx.AsyncClient, tenant_a: Caller
) -> None:
    held = await _documents(client, tenant_a, TENANT_INGESTIONS)
    (waiting,) = await _documents(client, tenant_a, 1)
    slots = tenant_slots(runtime)
    async with AsyncExitStack() as holding:
        for document in held:
            await holding.enter_async_context(slots.hold(INGEST, document, deferrals=0))

        with pytest.raises(RetryRequested) as deferred:
            async with slots.hold(INGEST, waiting, deferrals=5):
                pytest.fail("got a slot while every one was held")
        assert timedelta(seconds=15) <= deferred.value.delay <= timedelta(seconds=30)

        # The worker holding a slot dies: its connection, and with it the slot, is gone.
        await sql(
            fresh_db,
            "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' "
            "AND objid = $1 AND pid <> pg_backend_pid() LIMIT 1",
            tenant_a.tenant_id,
        )
        assert await eventually(lambda: _try(slots, waiting), bool, attempts=50)


async def _try(slots: TenantSlots, document: str) -> bool:
    """Whether a slot can be had for `document` now."""
    try:
        async with slots.hold(INGEST, document, deferrals=0):
            return True
    except RetryRequested:
        return False


async def _until(check: Callable[[], Awaitable[bool]] | Callable[[], bool]) -> None:
    async def poll() -> bool:
        result = check()
        return await result if asyncio.iscoroutine(result) else bool(result)

    await eventually(poll, bool, attempts=600, interval=0.1)


async def test_slow_background_runs_leave_ingestion_its_capacity(
    settings: Settings, vectors_db: URL, model: ScriptedModel
) -> None:
    configured = settings.model_copy(
        update={
            "vector_database_url": SecretStr(url_string(vectors_db)),
            "tenant_run_concurrency": 2,
        }
    )
    async with serve(configured) as service:
        client, tenant = service.client, service.tenant
        agent = await create_scripted_agent(client, tenant, model, config={"timeout_s": 120})
        model.play(Stall(120), Stall(120))
        runs = [
            (await run_agent(client, tenant, agent["id"], f"slow {i}", background=True)).json()
            for i in range(2)
        ]
        async with running_jobs(service.runtime):
            # Both slow runs are at the model: every run slot of this service is taken.
            await _until(lambda: len(model.requests) == 2)
            uploaded = await upload(client, tenant, "faq.txt", b"Returns are free in Peru.")
            document = await finished(client, tenant, uploaded.json()["id"])
            statuses = [
                (await get_json(client, tenant, f"/executions/{r['execution_id']}"))["status"]
                for r in runs
            ]
            model.release.set()
            for run in runs:
                path = f"/executions/{run['execution_id']}"
                await _until(lambda p=path: _status_is(client, tenant, p, "completed"))

    assert document["status"] == "ready"
    assert statuses == ["running", "running"]  # ingested while both runs were still running


async def _status_is(client: httpx.AsyncClient, caller: Caller, path: str, status: str) -> bool:
    return (await get_json(client, caller, path))["status"] == status


async def _tenant_with_agent(
    runtime: Runtime, client: httpx.AsyncClient, model: ScriptedModel, name: str
) -> tuple[Caller, int]:
    caller = await new_tenant(runtime, name)
    await store_llm_key(client, caller)
    agent = await create_scripted_agent(client, caller, model, config={"timeout_s": 120})
    return caller, agent["id"]


async def test_one_tenants_background_runs_wait_for_its_slot_on_another_service(
    settings: Settings,
    runtime: Runtime,
    fresh_db: URL,
    client: httpx.AsyncClient,
    model: ScriptedModel,
) -> None:
    runtime.guard.allow("127.0.0.1")
    a, a_agent = await _tenant_with_agent(runtime, client, model, "a")
    b, b_agent = await _tenant_with_agent(runtime, client, model, "b")
    c, c_agent = await _tenant_with_agent(runtime, client, model, "c")
    model.play(Stall(120), Stall(120), forever=Say("Done."))

    async def start(caller: Caller, agent_id: int, text: str) -> str:
        response = await run_agent(client, caller, agent_id, text, background=True)
        assert response.status_code == 202, response.text
        return response.json()["execution_id"]

    async def status(caller: Caller, execution_id: str) -> str:
        return (await get_json(client, caller, f"/executions/{execution_id}"))["status"]

    async with running_jobs(runtime):
        # Service one runs A's first run and B's, both held at the model: its two run slots
        # are taken, so whatever comes next is picked by service two.
        a1, b1 = await start(a, a_agent, "a1"), await start(b, b_agent, "b1")
        await _until(lambda: len(model.requests) == 2)
        a2, c1 = await start(a, a_agent, "a2"), await start(c, c_agent, "c1")
        async with boot(settings) as other:
            other.guard.allow("127.0.0.1")
            async with running_jobs(other):
                await _until(lambda: _status_is(client, c, f"/executions/{c1}", "completed"))
                await _until(lambda: _deferred(fresh_db, a2))
                waiting = await status(a, a2)
                asked = sorted(_input(body) for body in model.bodies)

                model.release.set()
                for caller, execution in ((a, a1), (b, b1), (a, a2)):
                    path = f"/executions/{execution}"
                    await _until(lambda p=path, who=caller: _status_is(client, who, p, "completed"))

    assert waiting == "queued"  # service two held it back: A's one slot was taken on service one
    assert asked == ["a1", "b1", "c1"]  # A's second run never reached the model meanwhile
    assert _input(model.bodies[-1]) == "a2"


async def _deferred(database: URL, execution_id: str) -> bool:
    """Whether the job of a background run has been put back in the queue at least once."""
    rows = await sql(
        database,
        "SELECT attempts FROM pgqueuer WHERE entrypoint = $1 AND payload = $2",
        RUN,
        execution_id.encode(),
    )
    return bool(rows and rows[0]["attempts"])


def _input(body: dict) -> str:
    """The user's input in a chat-completions request."""
    return next(m["content"] for m in reversed(body["messages"]) if m["role"] == "user")
