"""A run whose model key is missing or unusable is the tenant's configuration to fix: 409 with a
code that says what (`model_credential_missing`, `model_credential_unusable`), naming the
credential, the run on record as failed with that code, and the model never called. It used to
be a 502 `run_failed`, as if the model had failed."""

import pytest

from tests.agents.helpers import LLM_KEY, create_scripted_agent, get_json, run_agent, sse_events
from tests.helpers import Caller, error_of, sql
from tests.scripted_model import ScriptedModel


async def _store(client, caller: Caller, name: str, **fields) -> dict:
    response = await client.post(
        "/api/v1/credentials",
        headers=caller.headers,
        json={"name": name, "value": LLM_KEY, **fields},
    )
    assert response.status_code == 201, response.text
    return response.json()


async def _failed_with(client, caller: Caller, execution_id: str, code: str) -> dict:
    execution = await get_json(client, caller, f"/executions/{execution_id}")
    assert (execution["status"], execution["error_code"]) == ("failed", code)
    assert execution["completed_at"] is not None
    return execution


@pytest.mark.usefixtures("loopback_guard")
async def test_a_missing_model_key_is_409_model_credential_missing(
    client, tenant_a: Caller, model: ScriptedModel
) -> None:
    agent = await create_scripted_agent(
        client, tenant_a, model, config={"api_key_credential": "ANTHROPIC_KEY"}
    )

    response = await run_agent(client, tenant_a, agent["id"], "Hello")

    error = error_of(response, 409, "model_credential_missing")
    assert error["details"]["credential"] == "ANTHROPIC_KEY"
    assert "ANTHROPIC_KEY" in error["message"] and "/api/v1/credentials" in error["message"]
    await _failed_with(client, tenant_a, error["details"]["execution_id"], error["code"])
    assert model.requests == []


@pytest.mark.usefixtures("loopback_guard")
async def test_a_model_key_not_allowed_to_the_models_host_is_409_unusable(
    client, tenant_a: Caller, model: ScriptedModel
) -> None:
    # An openai key with no allowed_hosts may go to api.openai.com only, not to this model.
    await _store(client, tenant_a, "OPENAI_API_KEY", category="openai")
    agent = await create_scripted_agent(client, tenant_a, model)

    response = await run_agent(client, tenant_a, agent["id"], "Hello")

    error = error_of(response, 409, "model_credential_unusable")
    assert error["details"]["reason"] == "host_not_allowed"
    assert error["details"]["host"] == "127.0.0.1"
    assert "allowed_hosts" in error["message"]
    assert LLM_KEY not in response.text
    await _failed_with(client, tenant_a, error["details"]["execution_id"], error["code"])
    assert model.requests == []


@pytest.mark.usefixtures("loopback_guard")
async def test_a_model_key_to_enter_again_is_409_unusable(
    client, tenant_a: Caller, model: ScriptedModel, fresh_db
) -> None:
    await _store(client, tenant_a, "OPENAI_API_KEY", category="openai", allowed_hosts=["127.0.0.1"])
    await sql(fresh_db, "UPDATE credentials SET status = 'needs_reentry'")
    agent = await create_scripted_agent(client, tenant_a, model)

    response = await run_agent(client, tenant_a, agent["id"], "Hello")

    error = error_of(response, 409, "model_credential_unusable")
    assert error["details"]["reason"] == "needs_reentry"
    assert "again" in error["message"]
    await _failed_with(client, tenant_a, error["details"]["execution_id"], error["code"])
    assert model.requests == []


@pytest.mark.usefixtures("loopback_guard")
async def test_a_streamed_run_without_its_key_ends_with_the_same_code(
    client, tenant_a: Caller, model: ScriptedModel
) -> None:
    agent = await create_scripted_agent(client, tenant_a, model)

    response = await run_agent(client, tenant_a, agent["id"], "Hello", stream=True)

    assert response.status_code == 200, response.text
    [(event, error)] = sse_events(response.text)
    assert (event, error["code"]) == ("error", "model_credential_missing")
    assert error["details"]["credential"] == "OPENAI_API_KEY"
    await _failed_with(client, tenant_a, error["details"]["execution_id"], error["code"])
