"""An exchange between agents started from a private agent, or from a run in a private
conversation, carries its user's data: its messages are private to that user (another member
of the tenant does not see them in /agent-messages, even by exchange or agent id), and the
receiving agent answers in a conversation private to that user. A tenant-wide exchange stays
visible to every member."""

import httpx

from tests.agents.helpers import create_scripted_agent, get_json, run_agent
from tests.helpers import (
    PASSWORD,
    Caller,
    all_pages,
    create_agent,
    create_user,
    error_of,
    login,
)
from tests.scripted_model import Call, Say, ScriptedModel

SECRET = "Alice's salary review: 5000 a month"


async def _member(client: httpx.AsyncClient, admin: Caller, email: str) -> Caller:
    await create_user(client, admin.headers, email, role="member", password=PASSWORD)
    return Caller(api_key=await login(client, email), tenant_id=admin.tenant_id)


async def _messages(client: httpx.AsyncClient, caller: Caller, **params: object) -> list[dict]:
    return await all_pages(client, "/api/v1/agent-messages", caller.headers, **params)


async def _exchange(
    client: httpx.AsyncClient, caller: Caller, model: ScriptedModel, sender: int, to: int, **run
) -> None:
    model.play(Call("message_agent", {"agent_id": to, "message": SECRET}), Say("Noted."), Say("ok"))
    response = await run_agent(client, caller, sender, "Tell the expert", **run)
    assert response.status_code == 200, response.text


async def test_a_private_agents_exchange_is_its_users_alone(
    client: httpx.AsyncClient, tenant_a: Caller, model: ScriptedModel, llm_key: str
) -> None:
    alice = await _member(client, tenant_a, "alice@example.com")
    eve = await _member(client, tenant_a, "eve@example.com")
    # A member may not point an agent at a model API: the admin's catalogue entry does.
    entry = await client.post(
        "/api/v1/models",
        headers=tenant_a.headers,
        json={
            "name": "Stand-in for members",
            "provider": "openai_compatible",
            "model": "scripted-members",
            "base_url": model.base_url,
            "context_window": 128_000,
            "max_output_tokens": 8192,
            "input_price_per_million": 0,
            "output_price_per_million": 0,
        },
    )
    assert entry.status_code == 201, entry.text
    mine = await create_agent(
        client,
        alice,
        name="Mine",
        model_version="scripted-members",
        model_provider="openai_compatible",
        enabled_tools=["message_agent"],
        visibility="private",
    )
    expert = await create_scripted_agent(client, tenant_a, model, name="Expert")
    connected = await client.post(
        "/api/v1/agent-connections",
        headers=alice.headers,
        json={"agent1_id": mine["id"], "agent2_id": expert["id"]},
    )
    assert connected.status_code == 201, connected.text

    await _exchange(client, alice, model, mine["id"], expert["id"])

    request, reply = sorted(await _messages(client, alice), key=lambda m: m["in_reply_to"] or "")
    assert request["content"] == SECRET
    assert await _messages(client, eve) == []
    exchange = request["conversation_id"]
    assert await _messages(client, eve, conversation_id=exchange) == []
    assert await _messages(client, eve, agent_id=expert["id"]) == []
    answered = await get_json(client, alice, f"/executions/{reply['execution_id']}")
    peek = await client.get(
        f"/api/v1/conversations/{answered['conversation_id']}", headers=eve.headers
    )
    error_of(peek, 404, "not_found")


async def test_a_run_in_a_private_conversation_keeps_its_exchange_private(
    client: httpx.AsyncClient, tenant_a: Caller, model: ScriptedModel, llm_key: str
) -> None:
    alice = await _member(client, tenant_a, "alice@example.com")
    eve = await _member(client, tenant_a, "eve@example.com")
    planner = await create_scripted_agent(
        client, tenant_a, model, name="Planner", enabled_tools=["message_agent"]
    )
    expert = await create_scripted_agent(client, tenant_a, model, name="Expert")
    connected = await client.post(
        "/api/v1/agent-connections",
        headers=tenant_a.headers,
        json={"agent1_id": planner["id"], "agent2_id": expert["id"]},
    )
    assert connected.status_code == 201, connected.text

    await _exchange(client, alice, model, planner["id"], expert["id"], visibility="private")
    private = await _messages(client, alice)
    await _exchange(client, alice, model, planner["id"], expert["id"])  # tenant-wide

    assert len(private) == 2
    seen = await _messages(client, eve)
    assert len(seen) == 2 and not {m["id"] for m in seen} & {m["id"] for m in private}
    assert len(await _messages(client, alice)) == 4
