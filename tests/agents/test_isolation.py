"""Tenant isolation and bad input around runs: another tenant's agents, runs, executions,
conversations, messages and memories are 404 (and stay untouched); a malformed run request is
a 4xx with the one error body, records nothing and never reaches the model."""

import uuid

from tests.agents.helpers import create_scripted_agent, get_json, messages_of, run_agent
from tests.helpers import Caller, error_of
from tests.scripted_model import Say, ScriptedModel


async def test_another_tenants_runs_executions_conversations_and_memories_are_404(
    client, tenant_a: Caller, tenant_b: Caller, llm_key: str, model: ScriptedModel
) -> None:
    agent = await create_scripted_agent(client, tenant_a, model)
    mine = await create_scripted_agent(client, tenant_b, model, name="B's own")
    model.play(Say("Hello from A."))
    run = (await run_agent(client, tenant_a, agent["id"], "Hi")).json()
    memory = await client.post(
        f"/api/v1/agents/{agent['id']}/memories",
        headers=tenant_a.headers,
        json={"user_key": "rosa", "key": "vip", "value": True},
    )
    assert memory.status_code == 201, memory.text
    before = await messages_of(client, tenant_a, run["conversation_id"])
    conversation = f"/api/v1/conversations/{run['conversation_id']}"
    memories = f"/api/v1/agents/{agent['id']}/memories"
    b = tenant_b.headers

    refused = {
        "run A's agent": await run_agent(client, tenant_b, agent["id"], "Hi"),
        "stream A's agent": await run_agent(client, tenant_b, agent["id"], "Hi", stream=True),
        "queue A's agent": await run_agent(client, tenant_b, agent["id"], "Hi", background=True),
        "run in A's conversation": await run_agent(
            client, tenant_b, mine["id"], "Hi", conversation_id=run["conversation_id"]
        ),
        "read A's execution": await client.get(
            f"/api/v1/executions/{run['execution_id']}", headers=b
        ),
        "read A's conversation": await client.get(conversation, headers=b),
        "read A's messages": await client.get(f"{conversation}/messages", headers=b),
        "add to A's messages": await client.post(
            f"{conversation}/messages", headers=b, json={"role": "user", "content": "hijack"}
        ),
        "close A's conversation": await client.patch(
            conversation, headers=b, json={"status": "closed"}
        ),
        "delete A's conversation": await client.delete(conversation, headers=b),
        "read A's memories": await client.get(memories, headers=b),
        "teach A's agent": await client.post(
            memories, headers=b, json={"user_key": "rosa", "key": "vip", "value": False}
        ),
        "forget A's memory": await client.delete(f"{memories}/{memory.json()['id']}", headers=b),
    }
    for what, response in refused.items():
        assert response.status_code == 404, f"{what}: {response.text}"
        error_of(response, 404, "not_found")

    # B's lists do not show A's records.
    assert (await get_json(client, tenant_b, "/executions"))["items"] == []
    assert (await get_json(client, tenant_b, "/executions", agent_id=agent["id"]))["items"] == []
    assert (await get_json(client, tenant_b, "/conversations"))["items"] == []
    # And A's records are as they were; the model was asked once, for A.
    assert len(model.requests) == 1
    assert await messages_of(client, tenant_a, run["conversation_id"]) == before
    still = await get_json(client, tenant_a, f"/conversations/{run['conversation_id']}")
    assert still["status"] == "active"
    [fact] = (await get_json(client, tenant_a, f"/agents/{agent['id']}/memories"))["items"]
    assert fact["value"] == {"value": True}
    execution = await get_json(client, tenant_a, f"/executions/{run['execution_id']}")
    assert execution["status"] == "completed"


BAD_RUNS = {
    "empty input": ({"input": ""}, "body.input"),
    "blank input": ({"input": "   "}, "body.input"),
    "no input": ({}, "body.input"),
    "unknown field": ({"input": "Hi", "temperature": 2}, "body.temperature"),
    "conversation id not a uuid": ({"input": "Hi", "conversation_id": "x"}, "conversation_id"),
    "nested variable": ({"input": "Hi", "variables": {"a": {"b": 1}}}, "body.variables.a"),
    "stream not a boolean": ({"input": "Hi", "stream": "sometimes"}, "body.stream"),
}


async def test_a_malformed_run_request_is_422_with_the_field(
    client, tenant_a: Caller, llm_key: str, model: ScriptedModel, subtests
) -> None:
    agent = await create_scripted_agent(client, tenant_a, model)
    for case, (body, field) in BAD_RUNS.items():
        with subtests.test(msg=case):
            response = await client.post(
                f"/api/v1/agents/{agent['id']}/runs", headers=tenant_a.headers, json=body
            )

            error = error_of(response, 422, "validation_error")
            assert field in error["message"]
    assert (await get_json(client, tenant_a, "/executions"))["items"] == []
    assert (await get_json(client, tenant_a, "/conversations"))["items"] == []
    assert model.requests == []


async def test_a_run_of_an_unknown_agent_or_conversation_is_404_and_records_nothing(
    client, tenant_a: Caller, tenant_b: Caller, llm_key: str, model: ScriptedModel
) -> None:
    agent = await create_scripted_agent(client, tenant_a, model)
    theirs = await client.post(
        "/api/v1/conversations", headers=tenant_b.headers, json={"channel": "web"}
    )
    assert theirs.status_code == 201, theirs.text

    unknown_agent = await run_agent(client, tenant_a, 2_000_000, "Hi")
    unknown_conversation = await run_agent(
        client, tenant_a, agent["id"], "Hi", conversation_id=str(uuid.uuid4())
    )
    their_conversation = await run_agent(
        client, tenant_a, agent["id"], "Hi", conversation_id=theirs.json()["id"]
    )
    agent_id_out_of_range = await run_agent(client, tenant_a, 2**31, "Hi")

    assert "Agent" in error_of(unknown_agent, 404, "not_found")["message"]
    assert "Conversation" in error_of(unknown_conversation, 404, "not_found")["message"]
    assert "Conversation" in error_of(their_conversation, 404, "not_found")["message"]
    error_of(agent_id_out_of_range, 422, "validation_error")
    assert (await get_json(client, tenant_a, "/executions"))["items"] == []
    assert (await get_json(client, tenant_a, "/conversations"))["items"] == []
    assert (await get_json(client, tenant_b, "/executions"))["items"] == []
    assert model.requests == []
