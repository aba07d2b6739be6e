"""A model API cannot hold a run forever nor fill the service's memory: one deadline covers the
whole answer (a server that drips a byte at a time still ends at it), an answer is read no
further than its byte cap, streamed text no further than its character cap, and one answer
cannot ask for more tool calls than a turn runs. Each ends the run as failed with a message
that names the bound; the stand-in sees the service hang up. The agent's own limits
(`config.max_steps`, `config.timeout_s`, `max_tokens`) are bounded in the schema: 422 naming
the field."""

import pytest
from sqlalchemy.engine import URL

from orchestrator_service.agents.llm import MAX_TOOL_CALLS
from orchestrator_service.config import Settings
from tests.agents.helpers import create_scripted_agent, get_json, run_agent, sse_events
from tests.helpers import Caller, error_of, sql
from tests.scripted_model import Call, Calls, Chatter, Drip, Flood, ScriptedModel

MIB = 1024 * 1024
CAP = Settings.model_fields["model_max_response_bytes"].default
CHARS = Settings.model_fields["model_max_stream_chars"].default


async def _failed_run(client, caller: Caller, agent_id: int, *, stream: bool) -> tuple[dict, dict]:
    """Run the agent; the error (body or `error` event) and the failed execution."""
    response = await run_agent(client, caller, agent_id, "Hello", stream=stream)
    if stream:
        assert response.status_code == 200, response.text
        name, error = sse_events(response.text)[-1]
        assert name == "error"
    else:
        error = error_of(response, 502, "run_failed")
    execution = await get_json(client, caller, f"/executions/{error['details']['execution_id']}")
    assert execution["status"] == "failed"
    assert execution["completed_at"] is not None
    return error, execution


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
async def test_a_model_that_drips_bytes_forever_ends_at_the_deadline(
    client, tenant_a: Caller, llm_key: str, model: ScriptedModel, stream: bool
) -> None:
    agent = await create_scripted_agent(client, tenant_a, model, config={"timeout_s": 0.5})
    drip = Drip()
    model.play(drip)

    error, execution = await _failed_run(client, tenant_a, agent["id"], stream=stream)

    assert error["details"]["reason"] == "model_timeout"
    assert "did not answer in time (the deadline is 0.5 s" in error["message"]
    assert execution["error_code"] == "model_timeout"
    assert drip.ended.wait(10) and drip.hung_up  # the service hung up; the drip did not end
    assert drip.sent > 1  # it was dripping, so no single read ever waited out a timeout


@pytest.mark.parametrize(
    ("stream", "declared"),
    [(False, None), (True, None), (False, 64 * 1024 * MIB)],
    ids=["whole", "streamed-one-endless-line", "declared-length"],
)
async def test_an_endless_answer_is_refused_at_the_byte_cap_without_holding_it(
    client, tenant_a: Caller, llm_key: str, model: ScriptedModel, stream: bool, declared
) -> None:
    agent = await create_scripted_agent(client, tenant_a, model)
    flood = Flood(declared=declared)
    model.play(flood)

    error, execution = await _failed_run(client, tenant_a, agent["id"], stream=stream)

    assert error["details"]["reason"] == "model_failed"
    assert f"sent an answer larger than {CAP} bytes; it was cut off" in error["message"]
    assert execution["error_code"] == "model_failed"
    assert flood.ended.wait(10) and flood.hung_up
    # What got out is the cap plus what the sockets buffer, not the endless rest.
    assert flood.sent < CAP + 64 * MIB
    if declared:
        assert flood.sent < 64 * MIB  # refused on the header, before reading the body


async def test_an_endless_stream_of_text_is_refused_at_the_character_cap(
    client, tenant_a: Caller, llm_key: str, model: ScriptedModel
) -> None:
    agent = await create_scripted_agent(client, tenant_a, model)
    chatter = Chatter()
    model.play(chatter)

    error, execution = await _failed_run(client, tenant_a, agent["id"], stream=True)

    assert error["details"]["reason"] == "model_failed"
    assert f"streamed more than {CHARS} characters" in error["message"]
    assert execution["error_code"] == "model_failed"
    assert chatter.ended.wait(10) and chatter.hung_up
    assert chatter.sent < CAP


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
async def test_an_answer_asking_for_too_many_tool_calls_runs_none(
    client, tenant_a: Caller, llm_key: str, model: ScriptedModel, stream: bool
) -> None:
    agent = await create_scripted_agent(client, tenant_a, model)
    calls = [Call("get_current_time", call_id=f"c{i}") for i in range(MAX_TOOL_CALLS + 1)]
    model.play(Calls(calls))

    error, execution = await _failed_run(client, tenant_a, agent["id"], stream=stream)

    assert f"more than {MAX_TOOL_CALLS} tool calls at once" in error["message"]
    assert [s["step_type"] for s in execution["steps"]] == ["prompt", "llm"]


BOUNDS = [
    ({"config": {"max_steps": 0}}, "config.max_steps"),
    ({"config": {"max_steps": 51}}, "config.max_steps"),
    ({"config": {"timeout_s": 0}}, "config.timeout_s"),
    ({"config": {"timeout_s": 601}}, "config.timeout_s"),
    ({"max_tokens": 0}, "max_tokens"),
    ({"max_tokens": 131_073}, "max_tokens"),
]


@pytest.mark.parametrize(("fields", "field"), BOUNDS)
async def test_agent_limits_out_of_bounds_are_422_naming_the_field(
    client, tenant_a: Caller, fields: dict, field: str
) -> None:
    created = await client.post(
        "/api/v1/agents",
        headers=tenant_a.headers,
        json={"name": "bounded", "system_prompt_template": "Hi", **fields},
    )
    error = error_of(created, 422, "validation_error")
    assert field in error["message"]

    agent = await client.post(
        "/api/v1/agents",
        headers=tenant_a.headers,
        json={"name": "ok", "system_prompt_template": "Hi"},
    )
    patched = await client.patch(
        f"/api/v1/agents/{agent.json()['id']}", headers=tenant_a.headers, json=fields
    )
    assert field in error_of(patched, 422, "validation_error")["message"]


async def test_the_schema_states_the_limits_and_other_config_keys_are_kept(
    client, tenant_a: Caller
) -> None:
    schema = (await client.get("/openapi.json")).json()["components"]["schemas"]
    config = schema["AgentConfig"]["properties"]
    assert _bounds(config["max_steps"]) == (1, 50)
    assert _bounds(config["timeout_s"]) == (0.1, 600)
    assert _bounds(schema["AgentCreate"]["properties"]["max_tokens"]) == (1, 131_072)

    body = {"max_steps": 50, "timeout_s": 600, "shadow_rag": True, "tone": "warm"}
    created = await client.post(
        "/api/v1/agents",
        headers=tenant_a.headers,
        json={"name": "at the bounds", "system_prompt_template": "Hi", "config": body},
    )
    assert created.status_code == 201, created.text
    assert created.json()["config"] == body


def _bounds(prop: dict) -> tuple[float, float]:
    """A property's (minimum, maximum), looking inside `anyOf` (an optional field)."""
    for option in prop.get("anyOf", [prop]):
        if "minimum" in option:
            return option["minimum"], option["maximum"]
    raise AssertionError(f"no bounds in {prop}")


async def test_a_stored_limit_out_of_bounds_fails_the_run_naming_the_field(
    client, fresh_db: URL, tenant_a: Caller, llm_key: str, model: ScriptedModel
) -> None:
    agent = await create_scripted_agent(client, tenant_a, model)
    # As a row written before the bounds existed would hold it.
    await sql(
        fresh_db,
        "UPDATE agents SET config = config || '{\"max_steps\": 1000}'::jsonb WHERE id = $1",
        agent["id"],
    )

    error, execution = await _failed_run(client, tenant_a, agent["id"], stream=False)

    assert error["details"]["reason"] == "invalid_input"
    assert "config.max_steps" in error["message"]
    assert execution["error_code"] == "invalid_input"
    assert model.requests == []
