"""Agent memory: the `remember` and `recall` tools keep facts per agent and per user (the
conversation's contact) across conversations; expired facts are never recalled or listed and
are purged."""

import json

import httpx

from orchestrator_service.agents.memory import purge_expired
from orchestrator_service.bootstrap import Runtime
from tests.agents.helpers import create_scripted_agent, get_json, run_agent
from tests.helpers import Caller, sql
from tests.scripted_model import Call, Say, ScriptedModel

MEMORY_TOOLS = ["remember", "recall"]
ROSA, LUIS = "+51 900 000 001", "+51 900 000 002"


async def _conversation(
    client: httpx.AsyncClient, caller: Caller, agent_id: int, contact: str
) -> str:
    """Open a WhatsApp conversation of the agent with `contact`; its id."""
    response = await client.post(
        "/api/v1/conversations",
        headers=caller.headers,
        json={"channel": "whatsapp", "display_name": contact, "agent_id": agent_id},
    )
    assert response.status_code == 201, response.text
    return response.json()["id"]


async def _recalled(
    client: httpx.AsyncClient,
    caller: Caller,
    model: ScriptedModel,
    agent_id: int,
    contact: str,
) -> list[dict]:
    """Run the agent for `contact` with a model that calls `recall`; the facts it was sent."""
    model.play(Call("recall"), Say("Here is what I know."))
    conversation = await _conversation(client, caller, agent_id, contact)
    response = await run_agent(
        client, caller, agent_id, "What do you know about me?", conversation_id=conversation
    )
    assert response.status_code == 200, response.text
    sent = model.bodies[-1]["messages"][-1]
    assert sent["role"] == "tool"
    return json.loads(sent["content"])["facts"]


async def test_facts_remembered_in_one_conversation_are_recalled_per_agent_and_user(
    client, tenant_a: Caller, llm_key: str, model: ScriptedModel
) -> None:
    agent = await create_scripted_agent(client, tenant_a, model, enabled_tools=MEMORY_TOOLS)
    other = await create_scripted_agent(
        client, tenant_a, model, name="Other", enabled_tools=MEMORY_TOOLS
    )
    remember = Call(
        "remember",
        {"key": "favourite_colour", "value": "green", "memory_type": "preference", "importance": 8},
    )
    model.play(remember, Say("Noted, green it is."))
    first = await _conversation(client, tenant_a, agent["id"], ROSA)

    response = await run_agent(
        client, tenant_a, agent["id"], "My favourite colour is green", conversation_id=first
    )

    assert response.status_code == 200, response.text
    stored = json.loads(model.bodies[-1]["messages"][-1]["content"])
    assert stored["status"] == "remembered" and stored["key"] == "favourite_colour"
    memories = await get_json(client, tenant_a, f"/agents/{agent['id']}/memories", user_key=ROSA)
    [fact] = memories["items"]
    assert fact["id"] == stored["id"]
    assert fact["user_key"] == ROSA
    assert fact["key"] == "favourite_colour"
    assert fact["value"] == {"value": "green"}
    assert fact["memory_type"] == "preference"
    assert fact["importance_score"] == 8
    assert fact["expires_at"] is None

    # A later conversation with the same contact recalls it; another contact or agent does not.
    green = [{"key": "favourite_colour", "value": "green", "type": "preference"}]
    assert await _recalled(client, tenant_a, model, agent["id"], ROSA) == green
    assert await _recalled(client, tenant_a, model, agent["id"], LUIS) == []
    assert await _recalled(client, tenant_a, model, other["id"], ROSA) == []
    assert (await get_json(client, tenant_a, f"/agents/{other['id']}/memories"))["items"] == []
    luis = await get_json(client, tenant_a, f"/agents/{agent['id']}/memories", user_key=LUIS)
    assert luis["items"] == []


async def test_expired_facts_are_never_returned_and_are_purged(
    client, tenant_a: Caller, runtime: Runtime, fresh_db, model: ScriptedModel
) -> None:
    agent = await create_scripted_agent(client, tenant_a, model, enabled_tools=MEMORY_TOOLS)
    tools = f"/api/v1/agents/{agent['id']}/tools"

    async def invoke(tool: str, **arguments: object) -> dict:
        """Invoke one of the agent's tools through the API; its output."""
        response = await client.post(
            f"{tools}/{tool}/invoke", headers=tenant_a.headers, json={"arguments": arguments}
        )
        assert response.status_code == 200, response.text
        return response.json()["output"]

    await invoke("remember", key="promo", value="10% off today", ttl_seconds=1)
    await invoke("remember", key="name", value="Rosa")
    taught = await client.post(
        f"/api/v1/agents/{agent['id']}/memories",
        headers=tenant_a.headers,
        json={"user_key": LUIS, "key": "promo", "value": "free shipping", "ttl_seconds": 1},
    )
    assert taught.status_code == 201, taught.text
    assert taught.json()["expires_at"] is not None
    rows = await sql(fresh_db, "SELECT key, expires_at, created_at FROM agent_memory ORDER BY key")
    assert [(r["key"], r["expires_at"] is None) for r in rows] == [
        ("name", True),
        ("promo", False),
        ("promo", False),
    ]
    for row in rows[1:]:  # a second to live from their creation
        assert 0.9 <= (row["expires_at"] - row["created_at"]).total_seconds() < 5

    # An hour passes for the facts: each is now far past its expiry.
    await sql(
        fresh_db,
        "UPDATE agent_memory SET created_at = created_at - interval '1 hour', "
        "expires_at = expires_at - interval '1 hour'",
    )

    assert (await invoke("recall"))["facts"] == [{"key": "name", "value": "Rosa", "type": "fact"}]
    assert (await invoke("recall", key="promo"))["facts"] == []
    listed = await get_json(client, tenant_a, f"/agents/{agent['id']}/memories")
    assert [m["key"] for m in listed["items"]] == ["name"]
    of_luis = await get_json(client, tenant_a, f"/agents/{agent['id']}/memories", user_key=LUIS)
    assert of_luis["items"] == []

    async with runtime.sessionmaker.begin() as session:
        assert await purge_expired(session) == 2
    rows = await sql(fresh_db, "SELECT key FROM agent_memory")
    assert [r["key"] for r in rows] == ["name"]
    async with runtime.sessionmaker.begin() as session:
        assert await purge_expired(session) == 0
