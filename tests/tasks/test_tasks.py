"""Tasks: a background run started as a task shows its status, phases and progress from its
execution; priority orders the job queue; a task is cancelled, and is another tenant's 404."""

import uuid
from datetime import timedelta

import httpx
from pgqueuer import AsyncpgDriver, Queries
from pgqueuer.ports.repository import EntrypointExecutionParameter

from orchestrator_service.bootstrap import Runtime, running_jobs
from orchestrator_service.db.connect import connect
from orchestrator_service.jobs.queue import RUN
from tests.agents.helpers import create_scripted_agent
from tests.helpers import Caller, error_of, eventually
from tests.scripted_model import Say, ScriptedModel

API = "/api/v1"


async def start(
    client: httpx.AsyncClient, caller: Caller, agent_id: int, title: str, priority: int
) -> dict:
    """Start a run as a task."""
    response = await client.post(
        f"{API}/tasks",
        headers=caller.headers,
        json={"agent_id": agent_id, "input": title, "title": title, "priority": priority},
    )
    assert response.status_code == 202, response.text
    return response.json()


async def task(client: httpx.AsyncClient, caller: Caller, task_id: str) -> dict:
    """One task."""
    response = await client.get(f"{API}/tasks/{task_id}", headers=caller.headers)
    assert response.status_code == 200, response.text
    return response.json()


async def test_priority_orders_the_job_queue(
    client: httpx.AsyncClient,
    runtime: Runtime,
    tenant_a: Caller,
    llm_key: str,
    model: ScriptedModel,
) -> None:
    agent = await create_scripted_agent(client, tenant_a, model, enabled_tools=[])
    low = await start(client, tenant_a, agent["id"], "Monthly report", priority=1)
    middle = await start(client, tenant_a, agent["id"], "Weekly digest", priority=3)
    high = await start(client, tenant_a, agent["id"], "Urgent reply", priority=5)

    # What a worker takes from the real queue, one job at a time: the highest priority first.
    connection = await connect(runtime.databases.metadata, timeout=5)
    try:
        queries = Queries(AsyncpgDriver(connection))
        taken = []
        for _ in range(3):
            [job] = await queries.dequeue(
                batch_size=1,
                entrypoints={RUN: EntrypointExecutionParameter(concurrency_limit=0)},
                queue_manager_id=uuid.uuid4(),
                global_concurrency_limit=None,
                heartbeat_timeout=timedelta(seconds=30),
            )
            taken.append((job.payload or b"").decode())
    finally:
        await connection.close()
    assert taken == [high["execution_id"], middle["execution_id"], low["execution_id"]]


async def test_a_task_follows_its_run_from_queued_to_finished(
    client: httpx.AsyncClient,
    runtime: Runtime,
    tenant_a: Caller,
    llm_key: str,
    model: ScriptedModel,
) -> None:
    agent = await create_scripted_agent(client, tenant_a, model, enabled_tools=[])
    model.play(Say("Here is the report."))
    queued = await start(client, tenant_a, agent["id"], "Monthly report", priority=2)
    assert (queued["status"], queued["current_phase"], queued["progress_percentage"]) == (
        "pending",
        1,
        0,
    )
    assert queued["phases"] == ["queued", "running", "finished"] and queued["total_phases"] == 3
    assert queued["started_at"] is None and queued["result"] is None

    async with running_jobs(runtime):
        done = await eventually(
            lambda: task(client, tenant_a, queued["id"]),
            lambda t: t["status"] not in ("pending", "running"),
            attempts=100,
        )

    assert done["status"] == "completed", done
    assert (done["current_phase"], done["progress_percentage"]) == (3, 100)
    assert done["result"] == "Here is the report."
    assert done["started_at"] <= done["completed_at"]
    listed = await client.get(
        f"{API}/tasks", headers=tenant_a.headers, params={"status": "completed"}
    )
    assert [t["id"] for t in listed.json()["items"]] == [queued["id"]]
    pending = await client.get(
        f"{API}/tasks", headers=tenant_a.headers, params={"status": "pending"}
    )
    assert pending.json()["items"] == []


async def test_a_task_is_cancelled_and_another_tenant_cannot_see_or_cancel_it(
    client: httpx.AsyncClient,
    runtime: Runtime,
    tenant_a: Caller,
    tenant_b: Caller,
    llm_key: str,
    model: ScriptedModel,
) -> None:
    agent = await create_scripted_agent(client, tenant_a, model, enabled_tools=[])
    queued = await start(client, tenant_a, agent["id"], "Never mind", priority=3)

    cancel = f"{API}/tasks/{queued['id']}/cancel"
    error_of(await client.post(cancel, headers=tenant_b.headers), 404, "not_found")
    error_of(await client.get(f"{API}/tasks/{queued['id']}", headers=tenant_b.headers), 404)
    response = await client.post(cancel, headers=tenant_a.headers)

    assert response.status_code == 202, response.text
    cancelled = response.json()
    assert cancelled["status"] == "cancelled" and cancelled["progress_percentage"] == 100
    error_of(await client.post(cancel, headers=tenant_a.headers), 409, "conflict")
    listed = await client.get(f"{API}/tasks", headers=tenant_b.headers)
    assert listed.json()["items"] == []
    assert (await task(client, tenant_a, queued["id"]))["status"] == "cancelled"
    assert model.requests == []


async def test_a_task_for_another_tenants_agent_or_a_bad_priority_is_refused(
    client: httpx.AsyncClient,
    runtime: Runtime,
    tenant_a: Caller,
    tenant_b: Caller,
    llm_key: str,
    model: ScriptedModel,
) -> None:
    agent = await create_scripted_agent(client, tenant_a, model, enabled_tools=[])
    body = {"agent_id": agent["id"], "input": "hi", "title": "x"}
    error_of(await client.post(f"{API}/tasks", headers=tenant_b.headers, json=body), 404)
    for priority in (0, 6, True):
        response = await client.post(
            f"{API}/tasks", headers=tenant_a.headers, json={**body, "priority": priority}
        )
        error_of(response, 422)
    assert (await client.get(f"{API}/tasks", headers=tenant_a.headers)).json()["items"] == []
