"""Memory about a user reaches the runs made for that user (issue 17): the most important,
most recently used facts are put into the prompt (what the scripted model received is
asserted), use is counted, `memory_limit` evicts the least important and least recently used,
and `memory_enabled` false keeps memory out of runs and refuses new facts. Another user's
facts never reach a run made for someone else, and a user's private facts reach only runs in
a conversation private to them (a tenant-wide one is read by everyone)."""

import json
import uuid

import httpx
from sqlalchemy.engine import URL

from tests.agents.helpers import create_scripted_agent, get_json, run_agent
from tests.helpers import PASSWORD, Caller, create_user, error_of, login, sql
from tests.scripted_model import Call, Say, ScriptedModel

MEMORY_HEADER = "What you remember about this user:"


async def _user(client: httpx.AsyncClient, admin: Caller) -> Caller:
    """A member of the admin's tenant, calling through a session."""
    email = f"user-{uuid.uuid4().hex[:8]}@example.com"
    await create_user(client, admin.headers, email, password=PASSWORD)
    return Caller(api_key=await login(client, email), tenant_id=admin.tenant_id)


async def _teach(
    client: httpx.AsyncClient,
    caller: Caller,
    agent_id: int,
    key: str,
    importance: int,
    visibility: str = "private",
) -> dict:
    """Teach the agent a fact about the caller."""
    response = await client.post(
        f"/api/v1/agents/{agent_id}/memories",
        headers=caller.headers,
        json={
            "key": key,
            "value": f"{key}-value",
            "importance": importance,
            "visibility": visibility,
        },
    )
    assert response.status_code == 201, response.text
    return response.json()


def _remembered(model: ScriptedModel) -> list[str] | None:
    """The fact lines of the memory message in the last prompt, or None if it had none."""
    found = [
        m["content"]
        for m in model.bodies[-1]["messages"]
        if m["role"] == "system" and m["content"].startswith(MEMORY_HEADER)
    ]
    if not found:
        return None
    [message] = found
    return message.removeprefix(MEMORY_HEADER).strip().splitlines()


async def test_the_users_most_important_most_recently_used_facts_reach_the_prompt(
    client: httpx.AsyncClient, tenant_a: Caller, llm_key: str, model: ScriptedModel
) -> None:
    agent = await create_scripted_agent(client, tenant_a, model)
    rosa, luis = await _user(client, tenant_a), await _user(client, tenant_a)
    await _teach(client, rosa, agent["id"], "pet", 2)
    await _teach(client, rosa, agent["id"], "city", 9)
    await _teach(client, rosa, agent["id"], "team", 5)
    await _teach(client, luis, agent["id"], "luis-secret", 10)

    model.play(Say("Hello Rosa."), Say("Hello Luis."))
    run = await run_agent(client, rosa, agent["id"], "Hi", visibility="private")
    assert run.status_code == 200, run.text
    assert _remembered(model) == ["- city: city-value", "- team: team-value", "- pet: pet-value"]
    # The memory message follows the system prompt and comes before the user's input.
    roles = [m["role"] for m in model.bodies[-1]["messages"]]
    assert roles == ["system", "system", "user"]

    assert (
        await run_agent(client, luis, agent["id"], "Hi", visibility="private")
    ).status_code == 200
    assert _remembered(model) == ["- luis-secret: luis-secret-value"]

    facts = (await get_json(client, rosa, f"/agents/{agent['id']}/memories"))["items"]
    assert {f["key"]: f["access_count"] for f in facts} == {"pet": 1, "city": 1, "team": 1}
    assert all(f["accessed_at"] is not None for f in facts)
    # The run's record names the facts it used, never what they say.
    detail = await get_json(client, rosa, f"/executions/{run.json()['execution_id']}")
    [step] = [s for s in detail["steps"] if s["step_type"] == "memory"]
    assert sorted(step["output"]["memories"]) == sorted(f["id"] for f in facts)
    assert "value" not in json.dumps(step)


async def test_memory_limit_evicts_the_least_important_then_least_recently_used(
    client: httpx.AsyncClient,
    tenant_a: Caller,
    llm_key: str,
    model: ScriptedModel,
    fresh_db: URL,
) -> None:
    agent = await create_scripted_agent(client, tenant_a, model, memory_limit=3)
    rosa, luis = await _user(client, tenant_a), await _user(client, tenant_a)
    for key, importance in (("a", 5), ("b", 5), ("c", 8)):
        await _teach(client, rosa, agent["id"], key, importance)
    await _teach(client, luis, agent["id"], "luis", 1)  # another user's facts count apart

    # "a" was used long ago, "b" recently: at the limit, the next fact evicts "a".
    await sql(
        fresh_db,
        "UPDATE agent_memory SET accessed_at = now() - interval '1 day' WHERE key = 'a'",
    )
    await sql(fresh_db, "UPDATE agent_memory SET accessed_at = now() WHERE key = 'b'")
    await _teach(client, rosa, agent["id"], "d", 5)
    kept = (await get_json(client, rosa, f"/agents/{agent['id']}/memories"))["items"]
    assert sorted(f["key"] for f in kept) == ["b", "c", "d"]

    # Importance outranks use: "c", used ten days ago, stays; of the equals, "d" (never used)
    # goes before "b" (used just now). The new fact is never the one evicted.
    await sql(
        fresh_db,
        "UPDATE agent_memory SET accessed_at = CASE key WHEN 'c' THEN now() - interval '10 days' "
        "ELSE now() + interval '1 hour' END WHERE key IN ('b', 'c')",
    )
    await _teach(client, rosa, agent["id"], "e", 1)
    kept = (await get_json(client, rosa, f"/agents/{agent['id']}/memories"))["items"]
    assert sorted(f["key"] for f in kept) == ["b", "c", "e"]
    luis_facts = (await get_json(client, luis, f"/agents/{agent['id']}/memories"))["items"]
    assert [f["key"] for f in luis_facts] == ["luis"]

    # The prompt holds at most memory_limit facts, most important first.
    model.play(Say("Hi."))
    assert (
        await run_agent(client, rosa, agent["id"], "Hi", visibility="private")
    ).status_code == 200
    assert _remembered(model) == ["- c: c-value", "- b: b-value", "- e: e-value"]


async def test_memory_disabled_keeps_facts_out_of_runs_and_refuses_new_ones(
    client: httpx.AsyncClient, tenant_a: Caller, llm_key: str, model: ScriptedModel
) -> None:
    agent = await create_scripted_agent(
        client, tenant_a, model, enabled_tools=["remember", "recall"]
    )
    rosa = await _user(client, tenant_a)
    await _teach(client, rosa, agent["id"], "city", 9)
    off = await client.patch(
        f"/api/v1/agents/{agent['id']}", headers=tenant_a.headers, json={"memory_enabled": False}
    )
    assert off.status_code == 200, off.text

    model.play(Call("remember", {"key": "x", "value": "y"}), Say("I cannot remember."))
    assert (
        await run_agent(client, rosa, agent["id"], "Remember x", visibility="private")
    ).status_code == 200
    first_prompt = model.bodies[-2]["messages"]
    assert not any(m["content"].startswith(MEMORY_HEADER) for m in first_prompt if m["content"])
    told = json.loads(model.bodies[-1]["messages"][-1]["content"])
    assert "memory is disabled" in told["error"]
    refused = await client.post(
        f"/api/v1/agents/{agent['id']}/memories",
        headers=rosa.headers,
        json={"key": "z", "value": 1},
    )
    error_of(refused, 409, "conflict")
    facts = (await get_json(client, rosa, f"/agents/{agent['id']}/memories"))["items"]
    assert [(f["key"], f["access_count"]) for f in facts] == [("city", 0)]


async def test_what_a_users_run_remembers_is_private_to_that_user(
    client: httpx.AsyncClient, tenant_a: Caller, llm_key: str, model: ScriptedModel
) -> None:
    agent = await create_scripted_agent(
        client, tenant_a, model, enabled_tools=["remember", "recall"]
    )
    rosa, luis = await _user(client, tenant_a), await _user(client, tenant_a)
    rosa_id = (await client.get("/api/v1/me", headers=rosa.headers)).json()["user_id"]
    model.play(Call("remember", {"key": "diagnosis", "value": "asthma"}), Say("Noted."))
    assert (
        await run_agent(client, rosa, agent["id"], "I have asthma", visibility="private")
    ).status_code == 200

    [fact] = (await get_json(client, rosa, f"/agents/{agent['id']}/memories"))["items"]
    assert (fact["owner_user_id"], fact["visibility"]) == (rosa_id, "private")
    for other in (luis, tenant_a):
        assert (await get_json(client, other, f"/agents/{agent['id']}/memories"))["items"] == []
        forget = await client.delete(
            f"/api/v1/agents/{agent['id']}/memories/{fact['id']}", headers=other.headers
        )
        error_of(forget, 404, "not_found")

    # Luis's run neither sees it in the prompt nor recalls it.
    model.play(Call("recall"), Say("I know nothing about you."))
    assert (
        await run_agent(client, luis, agent["id"], "What do you know?", visibility="private")
    ).status_code == 200
    assert _remembered(model) is None
    assert json.loads(model.bodies[-1]["messages"][-1]["content"]) == {"facts": []}


async def test_private_facts_stay_out_of_tenant_wide_conversations(
    client: httpx.AsyncClient, tenant_a: Caller, llm_key: str, model: ScriptedModel
) -> None:
    """B edits nothing and reads A's tenant-wide conversations: A's private facts must not be
    in them, through the prompt (and so the answer) or through the `recall` tool."""
    agent = await create_scripted_agent(client, tenant_a, model, enabled_tools=["recall"])
    rosa = await _user(client, tenant_a)
    await _teach(client, rosa, agent["id"], "diagnosis", 9)
    await _teach(client, rosa, agent["id"], "language", 5, visibility="tenant")

    model.play(Call("recall"), Say("Hola."))
    shared = await run_agent(client, rosa, agent["id"], "Hi")  # a tenant-wide conversation
    assert shared.status_code == 200, shared.text
    assert _remembered(model) == ["- language: language-value"]
    recalled = json.loads(model.bodies[-1]["messages"][-1]["content"])["facts"]
    assert [f["key"] for f in recalled] == ["language"]

    model.play(Call("recall"), Say("Hola."))
    private = await run_agent(client, rosa, agent["id"], "Hi", visibility="private")
    assert private.status_code == 200, private.text
    assert _remembered(model) == ["- diagnosis: diagnosis-value", "- language: language-value"]
    recalled = json.loads(model.bodies[-1]["messages"][-1]["content"])["facts"]
    assert [f["key"] for f in recalled] == ["diagnosis", "language"]
    conversation = await get_json(
        client, rosa, f"/conversations/{private.json()['conversation_id']}"
    )
    assert conversation["visibility"] == "private"
