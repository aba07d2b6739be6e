"""Model failures end the run as `failed` with the reason on record, and the caller gets a
clear error: 502 `run_failed` naming the execution (an `error` event when streaming), never a
500. Covered: a timeout, 429, 500, malformed JSON, a call to a tool the agent lacks, and a loop
of tool calls that never ends. A model key that is missing or unusable is the tenant's
configuration, not a failure: 409 (tests/agents/test_model_credentials.py)."""

from dataclasses import dataclass, field

from tests.agents.helpers import (
    LLM_KEY,
    create_scripted_agent,
    get_json,
    messages_of,
    run_agent,
    sse_events,
)
from tests.helpers import Caller, error_of
from tests.scripted_model import Call, Malformed, Refuse, Reply, ScriptedModel, Stall


@dataclass
class Failure:
    """A scripted failure and what the record must say about it."""

    script: list[Reply]
    code: str
    reason: str
    steps: list[tuple[str, str]]
    config: dict = field(default_factory=dict)


FAILED_CALL = [("prompt", "completed"), ("llm", "failed")]
FAILURES = {
    "timeout": Failure(
        [Stall(5)], "model_timeout", "did not answer in time", FAILED_CALL, {"timeout_s": 0.5}
    ),
    "429": Failure([Refuse(429)], "model_failed", "429", FAILED_CALL),
    "500": Failure([Refuse(500)], "model_failed", "500", FAILED_CALL),
    "malformed JSON": Failure([Malformed()], "model_failed", "malformed", FAILED_CALL),
    "unknown tool": Failure(
        [Call("transfer_funds", {"amount": 1000})],
        "model_failed",
        "transfer_funds",
        [("prompt", "completed"), ("llm", "completed")],
    ),
}


def _steps(execution: dict) -> list[tuple[str, str]]:
    """A run's steps as (type, status)."""
    return [(s["step_type"], s["status"]) for s in execution["steps"]]


async def test_each_model_failure_fails_the_run_with_its_reason(
    client, tenant_a: Caller, llm_key: str, model: ScriptedModel, subtests
) -> None:
    for case, failure in FAILURES.items():
        with subtests.test(msg=case):
            agent = await create_scripted_agent(
                client, tenant_a, model, name=case, config=failure.config
            )
            model.play(*failure.script)
            asked = len(model.requests)

            response = await run_agent(client, tenant_a, agent["id"], "Send me the invoice")

            error = error_of(response, 502, "run_failed")
            assert failure.reason.lower() in error["message"].lower()
            assert error["details"]["reason"] == failure.code
            assert LLM_KEY not in response.text
            execution_id = error["details"]["execution_id"]
            execution = await get_json(client, tenant_a, f"/executions/{execution_id}")
            assert execution["agent_id"] == agent["id"]
            assert execution["status"] == "failed"
            assert execution["error_code"] == failure.code
            assert failure.reason.lower() in execution["error_message"].lower()
            assert execution["output_response"] is None
            assert execution["completed_at"] is not None
            assert _steps(execution) == failure.steps
            last = execution["steps"][-1]
            if last["status"] == "failed":
                assert last["error_code"] == failure.code
                assert failure.reason.lower() in last["error_message"].lower()
                assert last["execution_time_ms"] >= 0
            assert {m["metric_name"] for m in execution["metrics"]} == {
                "latency_ms",
                "tokens_in",
                "tokens_out",
                "tool_calls",
            }
            messages = await messages_of(client, tenant_a, execution["conversation_id"])
            assert messages[0]["role"] == "user"
            assert all(m["role"] != "assistant" or m["tool_calls"] for m in messages)  # no answer
            failed = await get_json(
                client, tenant_a, "/executions", agent_id=agent["id"], status="failed"
            )
            assert [e["id"] for e in failed["items"]] == [execution_id]
            assert len(model.requests) - asked == len(failure.script)


async def test_a_model_that_never_stops_calling_tools_hits_the_step_limit(
    client, tenant_a: Caller, llm_key: str, model: ScriptedModel
) -> None:
    agent = await create_scripted_agent(client, tenant_a, model, config={"max_steps": 3})
    model.play(forever=Call("get_current_time", {"timezone": "UTC"}))

    response = await run_agent(client, tenant_a, agent["id"], "What time is it?")

    error = error_of(response, 502, "run_failed")
    assert error["details"]["reason"] == "model_failed"
    execution = await get_json(client, tenant_a, f"/executions/{error['details']['execution_id']}")
    assert execution["status"] == "failed"
    assert execution["error_code"] == "model_failed"
    loop = [("llm", "completed"), ("tool", "completed")] * 3
    assert _steps(execution) == [("prompt", "completed"), *loop]
    metrics = {m["metric_name"]: m["metric_value"] for m in execution["metrics"]}
    assert metrics["tool_calls"] == 3
    assert metrics["tokens_in"] == 3 * 30 and metrics["tokens_out"] == 3 * 7
    assert len(model.requests) == 3
    assert [len(b["messages"]) for b in model.bodies] == [2, 4, 6]  # each result sent back
    # The reason names the limit this agent has, not the service's default.
    assert "step limit (3)" in execution["error_message"]


STREAMED_FAILURES = {
    name: FAILURES[name] for name in ("timeout", "429", "malformed JSON", "unknown tool")
}


async def test_a_streamed_run_that_fails_ends_with_an_error_event(
    client, tenant_a: Caller, llm_key: str, model: ScriptedModel, subtests
) -> None:
    for case, failure in STREAMED_FAILURES.items():
        with subtests.test(msg=case):
            agent = await create_scripted_agent(
                client, tenant_a, model, name=case, config=failure.config
            )
            model.play(*failure.script)

            response = await run_agent(
                client, tenant_a, agent["id"], "Send me the invoice", stream=True
            )

            assert response.status_code == 200, response.text
            assert LLM_KEY not in response.text
            events = sse_events(response.text)
            assert [name for name, _ in events] == ["error"]
            error = events[-1][1]
            assert error["code"] == "run_failed"
            assert failure.reason.lower() in error["message"].lower()
            assert error["details"]["reason"] == failure.code
            execution_id = error["details"]["execution_id"]
            execution = await get_json(client, tenant_a, f"/executions/{execution_id}")
            assert execution["agent_id"] == agent["id"]
            assert execution["status"] == "failed"
            assert execution["error_code"] == failure.code
            assert _steps(execution) == failure.steps
