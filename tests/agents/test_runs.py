"""Agent runs against a scripted model: a tool-calling run leaves a consistent record
(conversation, messages, execution, steps, metrics), the model is sent the rendered prompt, the
tool definitions and the history; streaming gives the same answer; background runs complete."""

import json
from datetime import datetime

from orchestrator_service.bootstrap import running_jobs
from tests.agents.helpers import (
    LLM_KEY,
    RENDERED,
    TEMPLATE,
    VARIABLES,
    Service,
    create_scripted_agent,
    get_json,
    messages_of,
    run_agent,
    sse_events,
)
from tests.helpers import Caller, eventually
from tests.scripted_model import Call, Refuse, Say, ScriptedModel

QUESTION = "What time is it in Lima?"
LOOKUP = Call("get_current_time", {"timezone": "America/Lima"}, call_id="call_lima", usage=(31, 7))
ANSWER = "In Lima it is morning, a good time to call the shop."


def script(model: ScriptedModel) -> None:
    """The model asks for the time in Lima, then answers."""
    model.play(LOOKUP, Say(ANSWER, usage=(52, 11)))


def _at(value: str) -> datetime:
    """A timestamp of the API as a datetime."""
    return datetime.fromisoformat(value)


def _shape(execution: dict) -> list[tuple]:
    """What a run's steps did, without their timings: (type, name, status, tokens)."""
    shape = []
    for step in execution["steps"]:
        output = step["output"] if step["step_type"] == "llm" else {}
        tokens = (output.get("tokens_in"), output.get("tokens_out"))
        shape.append((step["step_type"], step["step_name"], step["status"], tokens))
    return shape


def _metrics(execution: dict) -> dict[str, float]:
    """A run's metrics by name."""
    return {m["metric_name"]: m["metric_value"] for m in execution["metrics"]}


async def test_a_tool_calling_run_is_answered_and_recorded_consistently(
    client, tenant_a: Caller, llm_key: str, model: ScriptedModel
) -> None:
    agent = await create_scripted_agent(client, tenant_a, model)
    script(model)

    response = await run_agent(client, tenant_a, agent["id"], QUESTION, variables=VARIABLES)

    assert response.status_code == 200, response.text
    run = response.json()
    assert run["status"] == "completed"
    assert run["output"] == ANSWER
    assert run["tokens_used"] == 31 + 7 + 52 + 11

    # The conversation: user, assistant asking for the tool, tool result, answer.
    messages = await messages_of(client, tenant_a, run["conversation_id"])
    assert [m["role"] for m in messages] == ["user", "assistant", "tool", "assistant"]
    asked, called, result, answered = messages
    assert asked["content"] == QUESTION
    assert called["tool_calls"] == [LOOKUP.tool_call]
    assert called["tokens_used"] == 7
    assert result["tool_call_id"] == "call_lima"
    tool_output = json.loads(result["content"])
    assert tool_output["timezone"] == "America/Lima"
    assert _at(tool_output["now"]).utcoffset().total_seconds() == -5 * 3600
    assert answered["content"] == ANSWER
    assert answered["tokens_used"] == 11
    conversation = await get_json(client, tenant_a, f"/conversations/{run['conversation_id']}")
    assert conversation["agent_id"] == agent["id"]
    assert conversation["total_tokens"] == sum(m["tokens_used"] for m in messages) == 18
    assert conversation["last_message_preview"] == ANSWER
    assert _at(conversation["last_message_at"]) == _at(answered["created_at"])

    # The execution: its steps in order, with durations and tokens, and its metrics.
    execution = await get_json(client, tenant_a, f"/executions/{run['execution_id']}")
    assert execution["status"] == "completed"
    assert execution["agent_id"] == agent["id"]
    assert execution["conversation_id"] == run["conversation_id"]
    assert execution["input_prompt"] == QUESTION
    assert execution["output_response"] == ANSWER
    assert execution["model_name"] == "scripted-1"
    assert execution["tokens_used"] == run["tokens_used"]
    assert execution["error_code"] is None and execution["error_message"] is None
    assert _at(execution["started_at"]) <= _at(execution["completed_at"])
    assert _shape(execution) == [
        ("prompt", "render_system_prompt", "completed", (None, None)),
        ("llm", "chat_completion", "completed", (31, 7)),
        ("tool", "get_current_time", "completed", (None, None)),
        ("llm", "chat_completion", "completed", (52, 11)),
    ]
    assert [s["step_index"] for s in execution["steps"]] == [0, 1, 2, 3]
    for step in execution["steps"]:
        assert step["execution_time_ms"] >= 0
        assert _at(step["started_at"]) <= _at(step["completed_at"])
        assert step["error_code"] is None
    prompt, first, tool, second = execution["steps"]
    assert prompt["input"] == VARIABLES
    assert prompt["output"] == {"prompt": RENDERED, "missing": []}
    assert first["output"]["tool_calls"] == [LOOKUP.tool_call]
    assert tool["input"] == {"timezone": "America/Lima"}
    assert tool["output"] == tool_output
    assert second["output"]["content"] == ANSWER
    assert _metrics(execution) == {
        "latency_ms": execution["execution_time_ms"],
        "tokens_in": 31 + 52,
        "tokens_out": 7 + 11,
        "tool_calls": 1,
    }

    # What the model was sent: the key, the rendered prompt, the tools, then the tool result.
    assert [r.path for r in model.requests] == ["/v1/chat/completions"] * 2
    assert {r.authorization for r in model.requests} == {f"Bearer {LLM_KEY}"}
    definitions = await get_json(client, tenant_a, f"/agents/{agent['id']}/tools")
    opening = [{"role": "system", "content": RENDERED}, {"role": "user", "content": QUESTION}]
    for body in model.bodies:
        assert body["model"] == "scripted-1"
        assert body["temperature"] == 0.2 and body["max_tokens"] == 300
        assert not body.get("stream")
        assert body["tools"] == [
            {"type": "function", "function": d["function"]} for d in definitions["items"]
        ]
    assert model.bodies[0]["tools"][0]["function"]["name"] == "get_current_time"
    assert "timezone" in model.bodies[0]["tools"][0]["function"]["parameters"]["properties"]
    assert model.bodies[0]["messages"] == opening
    assert model.bodies[1]["messages"] == [
        *opening,
        {"role": "assistant", "content": None, "tool_calls": [LOOKUP.tool_call]},
        {"role": "tool", "tool_call_id": "call_lima", "content": result["content"]},
    ]


async def test_a_second_run_sends_the_history_and_executions_filter_by_agent_status_and_time(
    client, tenant_a: Caller, llm_key: str, model: ScriptedModel
) -> None:
    agent = await create_scripted_agent(client, tenant_a, model)
    other = await create_scripted_agent(client, tenant_a, model, name="Other")
    model.play(Say("Hello Rosa!"), Say("We open at nine."), Refuse(500))

    first = (await run_agent(client, tenant_a, agent["id"], "Hi", variables=VARIABLES)).json()
    second = await run_agent(
        client,
        tenant_a,
        agent["id"],
        "When do you open?",
        conversation_id=first["conversation_id"],
        variables=VARIABLES,
    )
    assert second.status_code == 200, second.text
    assert second.json()["conversation_id"] == first["conversation_id"]
    failed = await run_agent(client, tenant_a, other["id"], "Hi")
    assert failed.status_code == 502, failed.text

    assert model.bodies[1]["messages"] == [
        {"role": "system", "content": RENDERED},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello Rosa!"},
        {"role": "user", "content": "When do you open?"},
    ]
    messages = await messages_of(client, tenant_a, first["conversation_id"])
    assert [m["content"] for m in messages] == [
        "Hi",
        "Hello Rosa!",
        "When do you open?",
        "We open at nine.",
    ]
    conversation = await get_json(client, tenant_a, f"/conversations/{first['conversation_id']}")
    assert conversation["total_tokens"] == sum(m["tokens_used"] for m in messages) == 9 + 9
    assert conversation["last_message_preview"] == "We open at nine."

    async def ids(**filters: object) -> list[str]:
        """The ids of the executions listed with these filters, newest first."""
        page = await get_json(client, tenant_a, "/executions", **filters)
        return [e["id"] for e in page["items"]]

    failed_id = failed.json()["error"]["details"]["execution_id"]
    completed = [second.json()["execution_id"], first["execution_id"]]  # newest first
    assert await ids() == [failed_id, *completed]
    assert await ids(agent_id=agent["id"]) == completed
    assert await ids(agent_id=other["id"]) == [failed_id]
    assert await ids(status="completed") == completed
    assert await ids(status="failed") == [failed_id]
    assert await ids(agent_id=agent["id"], status="failed") == []
    assert await ids(status="queued") == []
    oldest = await get_json(client, tenant_a, f"/executions/{first['execution_id']}")
    assert await ids(since=oldest["started_at"]) == [failed_id, *completed]
    assert await ids(until=oldest["started_at"]) == []
    assert await ids(since="2999-01-01T00:00:00Z") == []


async def test_a_streamed_run_gives_the_same_answer_and_record_as_a_plain_one(
    client, tenant_a: Caller, llm_key: str, model: ScriptedModel
) -> None:
    agent = await create_scripted_agent(client, tenant_a, model)
    script(model)
    plain = await run_agent(client, tenant_a, agent["id"], QUESTION, variables=VARIABLES)
    assert plain.status_code == 200, plain.text
    script(model)

    streamed = await run_agent(
        client, tenant_a, agent["id"], QUESTION, variables=VARIABLES, stream=True
    )

    assert streamed.status_code == 200, streamed.text
    assert streamed.headers["content-type"].startswith("text/event-stream")
    events = sse_events(streamed.text)
    names = [name for name, _ in events]
    assert names[0] == "tool" and names[-1] == "done"
    assert set(names[1:-1]) == {"delta"} and len(names) > 3
    assert events[0][1] == {"name": "get_current_time"}
    text = "".join(data["content"] for name, data in events if name == "delta")
    done = events[-1][1]
    assert text == done["output"] == plain.json()["output"] == ANSWER

    # The model was asked to stream, with usage, and was sent the same conversation.
    for body in model.bodies[2:]:
        assert body["stream"] is True
        assert body["stream_options"] == {"include_usage": True}
    assert model.bodies[2]["messages"] == model.bodies[0]["messages"]

    # Recorded the same way as the plain run.
    runs = [plain.json()["execution_id"], done["execution_id"]]
    recorded = [await get_json(client, tenant_a, f"/executions/{i}") for i in runs]
    assert recorded[1]["status"] == "completed"
    assert recorded[1]["output_response"] == ANSWER
    assert _shape(recorded[1]) == _shape(recorded[0])
    for execution in recorded:
        metrics = _metrics(execution)
        assert metrics.pop("latency_ms") == execution["execution_time_ms"]
        assert metrics == {"tokens_in": 83, "tokens_out": 18, "tool_calls": 1}
    conversations = [e["conversation_id"] for e in recorded]
    assert conversations[0] != conversations[1]
    plain_messages, streamed_messages = [
        await messages_of(client, tenant_a, c) for c in conversations
    ]

    def kept(message: dict) -> tuple:
        """What must match between the runs' messages (the tool's time may differ)."""
        content = message["content"] if message["role"] != "tool" else "(the time)"
        return message["role"], content, message["tool_calls"], message["tokens_used"]

    assert [kept(m) for m in streamed_messages] == [kept(m) for m in plain_messages]


async def test_a_background_run_is_queued_then_completed_by_the_worker(
    any_service: Service, model: ScriptedModel
) -> None:
    service = any_service
    client, tenant = service.client, service.tenant
    agent = await create_scripted_agent(client, tenant, model)
    script(model)

    response = await run_agent(
        client, tenant, agent["id"], QUESTION, variables=VARIABLES, background=True
    )

    assert response.status_code == 202, response.text
    queued = response.json()
    assert queued["status"] == "queued"
    assert queued["output"] is None
    path = f"/executions/{queued['execution_id']}"
    assert (await get_json(client, tenant, path))["status"] == "queued"
    assert model.requests == []

    async with running_jobs(service.runtime):
        execution = await eventually(
            lambda: get_json(client, tenant, path),
            lambda e: e["status"] in ("completed", "failed"),
            attempts=100,
        )

    assert execution["status"] == "completed", execution
    assert execution["output_response"] == ANSWER
    assert execution["conversation_id"] == queued["conversation_id"]
    assert [s["step_type"] for s in execution["steps"]] == ["prompt", "llm", "tool", "llm"]
    messages = await messages_of(client, tenant, queued["conversation_id"])
    assert [m["role"] for m in messages] == ["user", "assistant", "tool", "assistant"]
    assert {r.authorization for r in model.requests} == {f"Bearer {LLM_KEY}"}


async def test_a_long_history_is_cut_at_a_whole_turn_never_leaving_a_tool_result_orphaned(
    client, tenant_a: Caller, llm_key: str, model: ScriptedModel
) -> None:
    agent = await create_scripted_agent(client, tenant_a, model)
    opened = await client.post(
        "/api/v1/conversations", headers=tenant_a.headers, json={"agent_id": agent["id"]}
    )
    assert opened.status_code == 201, opened.text
    conversation = opened.json()["id"]
    earlier = [
        {"role": "user", "content": "What time is it?"},
        {"role": "assistant", "content": "", "tool_calls": [LOOKUP.tool_call]},
        {"role": "tool", "content": '{"now": "09:00"}', "tool_call_id": "call_lima"},
        {"role": "assistant", "content": "It is nine."},
    ]
    for turn in range(9):
        earlier += [
            {"role": "user", "content": f"Question {turn}"},
            {"role": "assistant", "content": f"Answer {turn}"},
        ]
    for message in earlier:  # 22 messages: more than the history a run sends (20)
        added = await client.post(
            f"/api/v1/conversations/{conversation}/messages", headers=tenant_a.headers, json=message
        )
        assert added.status_code == 201, added.text
    model.play(Say("Anything else?"))

    response = await run_agent(
        client, tenant_a, agent["id"], "Thanks", conversation_id=conversation
    )

    assert response.status_code == 200, response.text
    sent = model.bodies[0]["messages"]
    assert sent[0] == {"role": "system", "content": TEMPLATE}
    assert sent[-1] == {"role": "user", "content": "Thanks"}
    assert sent[-3:-1] == [
        {"role": "user", "content": "Question 8"},
        {"role": "assistant", "content": "Answer 8"},
    ]
    # Every tool result the model gets follows the assistant message that asked for it, as
    # chat-completions APIs require (they refuse an orphaned `tool` message).
    history = sent[1:]
    for index, message in enumerate(history):
        if message["role"] == "tool":
            asked = [c["id"] for m in history[:index] for c in m.get("tool_calls") or []]
            assert message["tool_call_id"] in asked, history
