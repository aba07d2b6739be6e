"""A task is as private as the conversation it runs in: a run a user starts in their private
conversation answers there, and its task (which carries that answer as `result`) is that
user's alone; another member of the tenant gets the 404 of a missing id and does not see it
listed. A task in a tenant-wide conversation stays tenant-wide."""

import httpx

from orchestrator_service.bootstrap import Runtime, running_jobs
from tests.agents.helpers import create_scripted_agent
from tests.helpers import PASSWORD, Caller, create_user, error_of, eventually, login
from tests.scripted_model import Say, ScriptedModel

API = "/api/v1"


async def _member(client: httpx.AsyncClient, admin: Caller, email: str) -> Caller:
    await create_user(client, admin.headers, email, role="member", password=PASSWORD)
    return Caller(api_key=await login(client, email), tenant_id=admin.tenant_id)


async def _task_in(
    client: httpx.AsyncClient, caller: Caller, agent_id: int, visibility: str
) -> dict:
    conversation = await client.post(
        f"{API}/conversations",
        headers=caller.headers,
        json={"agent_id": agent_id, "visibility": visibility},
    )
    assert conversation.status_code == 201, conversation.text
    started = await client.post(
        f"{API}/tasks",
        headers=caller.headers,
        json={
            "agent_id": agent_id,
            "input": "Summarise my week",
            "title": "My week",
            "conversation_id": conversation.json()["id"],
        },
    )
    assert started.status_code == 202, started.text
    return started.json()


async def test_a_task_in_a_private_conversation_is_its_owners_alone(
    client: httpx.AsyncClient,
    runtime: Runtime,
    tenant_a: Caller,
    llm_key: str,
    model: ScriptedModel,
) -> None:
    alice = await _member(client, tenant_a, "alice@example.com")
    eve = await _member(client, tenant_a, "eve@example.com")
    agent = await create_scripted_agent(client, tenant_a, model, enabled_tools=[])
    # One task at a time: the scripted model answers in the order it is asked, and two tasks
    # running at once may ask in either order.
    tasks = {}
    for visibility, answer in (
        ("private", "Alice: dentist on Tuesday, salary review on Friday."),
        ("tenant", "Team lunch."),
    ):
        model.play(Say(answer))
        task = await _task_in(client, alice, agent["id"], visibility)
        async with running_jobs(runtime):
            await eventually(
                lambda task=task: client.get(f"{API}/tasks/{task['id']}", headers=alice.headers),
                lambda r: r.json()["status"] not in ("pending", "running"),
                attempts=100,
            )
        tasks[visibility] = task
    private, shared = tasks["private"], tasks["tenant"]

    own = await client.get(f"{API}/tasks/{private['id']}", headers=alice.headers)
    assert own.json()["result"] == "Alice: dentist on Tuesday, salary review on Friday."
    peek = await client.get(f"{API}/tasks/{private['id']}", headers=eve.headers)
    assert error_of(peek, 404, "not_found")["message"] == "Task not found"
    cancel = await client.post(f"{API}/tasks/{private['id']}/cancel", headers=eve.headers)
    error_of(cancel, 404, "not_found")
    listed = await client.get(f"{API}/tasks", headers=eve.headers)
    assert [t["id"] for t in listed.json()["items"]] == [shared["id"]]
    assert "dentist" not in listed.text
    seen = await client.get(f"{API}/tasks/{shared['id']}", headers=eve.headers)
    assert seen.status_code == 200 and seen.json()["result"] == "Team lunch."
