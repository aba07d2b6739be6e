"""Outbound failures during a run are fixed messages (class of failure and host): what the model
is handed, the stored conversation and the run's record hold no library text and no secret; a
key the model API echoes back, streamed or not, is scrubbed before anyone sees it."""

import json
import uuid

import httpx

from tests.agents.helpers import LLM_KEY, get_json, messages_of, run_agent, sse_events
from tests.agents.helpers import create_scripted_agent as create_agent
from tests.helpers import Caller, error_of
from tests.scripted_model import Call, EchoKey, HangUp, Say, ScriptedModel
from tests.tools.helpers import HUGE_BYTES, ToolServer, fake_resolver

HUNG_UP = (
    "The model API at 127.0.0.1 failed: the connection closed early or the answer was not "
    "valid HTTP (RemoteProtocolError)"
)


async def _everything_about(client: httpx.AsyncClient, caller: Caller, execution_id: str) -> str:
    """The run's record and its conversation's messages, as the API serves them."""
    execution = await get_json(client, caller, f"/executions/{execution_id}")
    messages = await messages_of(client, caller, execution["conversation_id"])
    return json.dumps([execution, messages])


async def test_a_tool_error_handed_to_the_model_holds_no_secret(
    client, tenant_a: Caller, llm_key: str, model: ScriptedModel
) -> None:
    secret = f"sk-crm-{uuid.uuid4().hex}"
    response = await client.post(
        "/api/v1/credentials",
        headers=tenant_a.headers,
        json={"name": "CRM_TOKEN", "value": secret, "allowed_hosts": ["tools.test"]},
    )
    assert response.status_code == 201, response.text
    response = await client.post(
        "/api/v1/tools",
        headers=tenant_a.headers,
        json={
            "name": "crm",
            "type": "http",
            "config": {
                "url": "http://tools.test/lookup",
                "headers": {"Authorization": "Bearer {{credential:CRM_TOKEN}}{{suffix}}"},
            },
        },
    )
    assert response.status_code == 201, response.text
    agent = await create_agent(client, tenant_a, model, enabled_tools=["crm"])
    # The model asks for a header value the HTTP client would refuse, quoting the secret.
    model.play(Call("crm", {"suffix": "\r\nX-Injected: 1"}), Say("Sorry, it failed."))

    response = await run_agent(client, tenant_a, agent["id"], "Look me up")

    assert response.status_code == 200, response.text
    told = json.loads(model.bodies[1]["messages"][-1]["content"])
    assert told["error"].startswith("The tool's header 'Authorization' would hold characters")
    assert all(secret not in json.dumps(body) for body in model.bodies)
    record = await _everything_about(client, tenant_a, response.json()["execution_id"])
    assert told["error"] in record and secret not in record


async def test_a_model_api_that_hangs_up_fails_the_run_with_a_fixed_message(
    client, tenant_a: Caller, llm_key: str, model: ScriptedModel
) -> None:
    agent = await create_agent(client, tenant_a, model)
    model.play(HangUp(), HangUp())

    plain = await run_agent(client, tenant_a, agent["id"], "Hi")
    streamed = await run_agent(client, tenant_a, agent["id"], "Hi", stream=True)

    error = error_of(plain, 502, "run_failed")
    assert error["message"] == f"The run failed: {HUNG_UP}"
    [data] = [data for name, data in sse_events(streamed.text) if name == "error"]
    assert data["message"] == f"The run failed: {HUNG_UP}"
    record = await _everything_about(client, tenant_a, error["details"]["execution_id"])
    assert HUNG_UP in record and "Server disconnected" not in record


async def test_a_key_the_model_api_echoes_is_scrubbed_streamed_or_not(
    client, tenant_a: Caller, llm_key: str, model: ScriptedModel
) -> None:
    agent = await create_agent(client, tenant_a, model)
    model.play(EchoKey(), EchoKey())

    plain = await run_agent(client, tenant_a, agent["id"], "Hi")
    streamed = await run_agent(client, tenant_a, agent["id"], "Hi", stream=True)

    assert [r.authorization for r in model.requests] == [f"Bearer {LLM_KEY}"] * 2
    assert plain.json()["output"] == "You sent me Bearer [SECRET], thanks."
    events = sse_events(streamed.text)
    deltas = "".join(data["content"] for name, data in events if name == "delta")
    assert deltas == events[-1][1]["output"] == "You sent me Bearer [SECRET], thanks."
    executions = [plain.json()["execution_id"], events[-1][1]["execution_id"]]
    for response, execution_id in zip((plain, streamed), executions, strict=True):
        assert LLM_KEY not in response.text
        assert LLM_KEY not in await _everything_about(client, tenant_a, execution_id)


async def test_a_model_key_a_header_cannot_carry_is_refused_before_connecting(
    client, tenant_a: Caller, loopback_guard: None, model: ScriptedModel
) -> None:
    odd_key = f"sk-odd-{uuid.uuid4().hex}\x01"
    response = await client.post(
        "/api/v1/credentials",
        headers=tenant_a.headers,
        json={
            "name": "ODD_KEY",
            "value": odd_key,
            "category": "openai",
            "allowed_hosts": ["127.0.0.1"],
        },
    )
    assert response.status_code == 201, response.text
    agent = await create_agent(client, tenant_a, model, config={"api_key_credential": "ODD_KEY"})

    response = await run_agent(client, tenant_a, agent["id"], "Hi")

    assert response.status_code < 500 or response.json()["error"]["code"] == "run_failed"
    assert "HTTP header cannot carry" in response.json()["error"]["message"]
    assert odd_key[:-1] not in response.text
    assert model.requests == []


async def test_a_tool_answer_too_long_for_a_message_is_told_to_the_model_not_a_500(
    client, runtime, tenant_a: Caller, llm_key: str, model: ScriptedModel
) -> None:
    # Found while probing the run path: a 256 KiB answer made the stored tool message fail its
    # schema, a 500 that left the run "running".
    runtime.guard.resolver = fake_resolver
    with ToolServer() as tools:
        response = await client.post(
            "/api/v1/tools",
            headers=tenant_a.headers,
            json={"name": "big", "type": "http", "config": {"url": tools.url("/huge")}},
        )
        assert response.status_code == 201, response.text
        agent = await create_agent(client, tenant_a, model, enabled_tools=["big"])
        model.play(Call("big"), Say("It was too long."))

        response = await run_agent(client, tenant_a, agent["id"], "Go")

    assert response.status_code == 200, response.text
    told = json.loads(model.bodies[1]["messages"][-1]["content"])
    assert told["error"].startswith(f"the tool's answer ({HUGE_BYTES + 2} characters)")
    execution = await get_json(client, tenant_a, f"/executions/{response.json()['execution_id']}")
    assert execution["status"] == "completed"


async def test_a_model_answer_too_long_for_a_message_fails_the_run_not_a_500(
    client, tenant_a: Caller, llm_key: str, model: ScriptedModel
) -> None:
    agent = await create_agent(client, tenant_a, model)
    model.play(Say("x" * 200_001))

    response = await run_agent(client, tenant_a, agent["id"], "Go")

    error = error_of(response, 502, "run_failed")
    assert "more text than a message may hold" in error["message"]
    assert error["details"]["reason"] == "model_failed"
