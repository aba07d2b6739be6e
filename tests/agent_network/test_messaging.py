"""`message_agent`: one agent asks a connected agent, which answers with a run of its own; the
exchange is stored under one conversation id; ping-pong stops at the depth limit, a run's
messages at the per-run limit; paused, blocked and wrong-way connections refuse. The agents
talk to the scripted model (one script serves both, in the order the calls happen)."""

import dataclasses
import json

import httpx
from sqlalchemy import select

from orchestrator_service.bootstrap import Runtime
from orchestrator_service.live.models import LiveEvent
from tests.agents.helpers import create_scripted_agent, get_json, run_agent
from tests.helpers import Caller, all_pages, create_agent, error_of
from tests.scripted_model import Call, Say, ScriptedModel

TOOLS = ["message_agent"]


async def pair(
    client: httpx.AsyncClient, caller: Caller, model: ScriptedModel, **connection: str
) -> tuple[int, int, str]:
    """Agents A and B on the scripted model, both with message_agent, connected."""
    a = await create_scripted_agent(client, caller, model, name="Planner", enabled_tools=TOOLS)
    b = await create_scripted_agent(client, caller, model, name="Expert", enabled_tools=TOOLS)
    response = await client.post(
        "/api/v1/agent-connections",
        headers=caller.headers,
        json={"agent1_id": a["id"], "agent2_id": b["id"], **connection},
    )
    assert response.status_code == 201, response.text
    return a["id"], b["id"], response.json()["id"]


def tool_results(body: dict) -> list[dict]:
    """The tool results a model request carries."""
    return [json.loads(m["content"]) for m in body["messages"] if m["role"] == "tool"]


async def messages(client: httpx.AsyncClient, caller: Caller, **params: object) -> list[dict]:
    items = await all_pages(client, "/api/v1/agent-messages", caller.headers, **params)
    return sorted(items, key=lambda m: (m["depth"], m["in_reply_to"] is not None))


async def test_two_agents_exchange_messages_and_the_exchange_is_stored(
    client: httpx.AsyncClient,
    runtime: Runtime,
    tenant_a: Caller,
    model: ScriptedModel,
    llm_key: str,
) -> None:
    a, b, _ = await pair(client, tenant_a, model)
    model.play(
        Call("message_agent", {"agent_id": b, "message": "What is the capital of Peru?"}),
        Say("Lima."),  # B's own run
        Say("The expert says Lima."),
    )
    run = await run_agent(client, tenant_a, a, "Ask the expert about Peru")
    assert run.status_code == 200, run.text
    assert run.json()["output"] == "The expert says Lima."

    # B was asked in a run of its own, with the message as its user input.
    asked = model.bodies[1]["messages"]
    assert asked[-1] == {"role": "user", "content": "What is the capital of Peru?"}
    (result,) = tool_results(model.bodies[2])
    assert result["answer"] == "Lima." and result["agent_id"] == b and result["depth"] == 1

    request, reply = await messages(client, tenant_a)
    assert request["conversation_id"] == reply["conversation_id"] == result["conversation_id"]
    assert (request["from_agent_id"], request["to_agent_id"]) == (a, b)
    assert (reply["from_agent_id"], reply["to_agent_id"]) == (b, a)
    assert request["content"] == "What is the capital of Peru?" and reply["content"] == "Lima."
    assert reply["in_reply_to"] == request["id"] and request["in_reply_to"] is None
    assert request["execution_id"] == run.json()["execution_id"]
    b_run = await get_json(client, tenant_a, f"/executions/{reply['execution_id']}")
    assert b_run["agent_id"] == b and b_run["status"] == "completed"
    assert await messages(client, tenant_a, conversation_id=request["conversation_id"]) == [
        request,
        reply,
    ]

    # Each message was announced to its receiving agent's owner as a live event.
    async with runtime.sessionmaker() as session:
        events = list(await session.scalars(select(LiveEvent).order_by(LiveEvent.id)))
    assert [(e.event, e.data["message_id"], e.scope) for e in events] == [
        ("agent.message", request["id"], "agents:read"),
        ("agent.message", reply["id"], "agents:read"),
    ]


async def test_a_continued_exchange_keeps_the_receivers_history(
    client: httpx.AsyncClient, tenant_a: Caller, model: ScriptedModel, llm_key: str
) -> None:
    a, b, _ = await pair(client, tenant_a, model)
    model.play(
        Call("message_agent", {"agent_id": b, "message": "Remember: blue."}),
        Say("Noted."),
        Say("Told it."),
    )
    assert (await run_agent(client, tenant_a, a, "Tell B a colour")).status_code == 200
    conversation = (await messages(client, tenant_a))[0]["conversation_id"]
    model.play(
        Call(
            "message_agent",
            {"agent_id": b, "message": "Which colour?", "conversation_id": conversation},
        ),
        Say("Blue."),
        Say("B remembers blue."),
    )
    assert (await run_agent(client, tenant_a, a, "Ask B the colour")).status_code == 200
    second_ask = model.bodies[4]["messages"]
    contents = [m["content"] for m in second_ask if m["role"] in ("user", "assistant")]
    assert contents == ["Remember: blue.", "Noted.", "Which colour?"]
    assert {m["conversation_id"] for m in await messages(client, tenant_a)} == {conversation}


async def test_ping_pong_is_refused_past_the_depth_limit(
    client: httpx.AsyncClient,
    runtime: Runtime,
    tenant_a: Caller,
    model: ScriptedModel,
    llm_key: str,
) -> None:
    messenger = runtime.network.messenger
    messenger.limits = dataclasses.replace(messenger.limits, max_depth=2)
    a, b, _ = await pair(client, tenant_a, model)
    model.play(
        Call("message_agent", {"agent_id": b, "message": "ping"}),  # A, depth 1
        Call("message_agent", {"agent_id": a, "message": "pong"}),  # B, depth 2
        Call("message_agent", {"agent_id": b, "message": "ping again"}),  # A: depth 3, refused
        Say("I will stop here."),  # A's second run, told it may not
        Say("A stopped."),  # B
        Say("Done."),  # A's first run
    )
    run = await run_agent(client, tenant_a, a, "Start a ping-pong")
    assert run.status_code == 200, run.text
    assert run.json()["output"] == "Done."
    (refusal,) = tool_results(model.bodies[3])
    assert (
        "2 messages deep" in refusal["error"] and "ORCH_AGENT_MESSAGE_MAX_DEPTH" in refusal["error"]
    )
    stored = await messages(client, tenant_a)
    assert [(m["from_agent_id"], m["to_agent_id"], m["depth"], m["content"]) for m in stored] == [
        (a, b, 1, "ping"),
        (b, a, 1, "A stopped."),
        (b, a, 2, "pong"),
        (a, b, 2, "I will stop here."),
    ]
    assert len({m["conversation_id"] for m in stored}) == 1
    assert "ping again" not in {m["content"] for m in stored}


async def test_a_run_sends_no_more_messages_than_allowed(
    client: httpx.AsyncClient,
    runtime: Runtime,
    tenant_a: Caller,
    model: ScriptedModel,
    llm_key: str,
) -> None:
    messenger = runtime.network.messenger
    messenger.limits = dataclasses.replace(messenger.limits, max_per_run=1)
    a, b, _ = await pair(client, tenant_a, model)
    model.play(
        Call("message_agent", {"agent_id": b, "message": "one"}),
        Say("First answer."),
        Call("message_agent", {"agent_id": b, "message": "two"}, call_id="call_2"),
        Say("Only one message allowed."),
    )
    run = await run_agent(client, tenant_a, a, "Ask B twice")
    assert run.status_code == 200, run.text
    refused = tool_results(model.bodies[3])[-1]
    assert "already sent 1 messages" in refused["error"]
    assert [m["content"] for m in await messages(client, tenant_a)] == ["one", "First answer."]


async def test_paused_blocked_and_wrong_way_connections_refuse(
    client: httpx.AsyncClient, tenant_a: Caller, model: ScriptedModel, llm_key: str
) -> None:
    a, b, connection = await pair(client, tenant_a, model, connection_type="one_way")
    url = f"/api/v1/agent-connections/{connection}"

    async def invoke(sender: int, receiver: int) -> httpx.Response:
        return await client.post(
            f"/api/v1/agents/{sender}/tools/message_agent/invoke",
            headers=tenant_a.headers,
            json={"arguments": {"agent_id": receiver, "message": "hello"}},
        )

    error = error_of(await invoke(b, a), 403, "agents_not_connected")
    assert "one-way" in error["message"]
    for status in ("paused", "blocked"):
        await client.patch(url, headers=tenant_a.headers, json={"status": status})
        error = error_of(await invoke(a, b), 409, "connection_inactive")
        assert status in error["message"] and error["details"]["status"] == status

    # Inside a run the refusal goes back to the model, which answers without B.
    model.play(Call("message_agent", {"agent_id": b, "message": "hello"}), Say("B is blocked."))
    run = await run_agent(client, tenant_a, a, "Say hello to B")
    assert run.json()["output"] == "B is blocked."
    assert "blocked" in tool_results(model.bodies[1])[0]["error"]
    assert await messages(client, tenant_a) == []
    assert len(model.requests) == 2  # B never ran


async def test_unconnected_and_other_tenants_agents_cannot_be_messaged(
    client: httpx.AsyncClient,
    tenant_a: Caller,
    tenant_b: Caller,
    model: ScriptedModel,
    llm_key: str,
) -> None:
    a, _, _ = await pair(client, tenant_a, model)
    loner = (await create_agent(client, tenant_a, name="Loner"))["id"]
    theirs = (await create_agent(client, tenant_b, name="Theirs"))["id"]

    async def invoke(receiver: int) -> httpx.Response:
        return await client.post(
            f"/api/v1/agents/{a}/tools/message_agent/invoke",
            headers=tenant_a.headers,
            json={"arguments": {"agent_id": receiver, "message": "hi"}},
        )

    error_of(await invoke(loner), 403, "agents_not_connected")
    error = error_of(await invoke(theirs), 404, "not_found")
    assert error["message"] == f"Agent {theirs} not found"
    error_of(await invoke(a), 403, "agents_not_connected")  # itself: never connected
    assert model.requests == []
