"""The OpenAI-compatible door, driven by the official `openai` SDK over real HTTP on loopback:
`/v1/models` lists the agents a key may run; `/v1/chat/completions` runs one on the
conversation the messages make, with its own tools run on the server, whole or streamed as
`chat.completion.chunk` events with usage in the last chunk; errors come in OpenAI's shape and
the SDK raises its own exception classes for them."""

import json

import httpx
import openai
import pytest

from tests.agents.helpers import create_scripted_agent, messages_of, store_llm_key
from tests.helpers import Caller, create_key
from tests.scripted_model import Call, Refuse, Say, ScriptedModel

LOOKUP = Call("get_current_time", {"timezone": "America/Lima"}, call_id="call_lima", usage=(31, 7))
ANSWER = "In Lima it is morning, a good time to call the shop."
HISTORY = [
    {"role": "system", "content": "You are whatever the client says."},
    {"role": "user", "content": "Hello, I am Rosa."},
    {"role": "assistant", "content": "Hello Rosa, how can I help?"},
    {"role": "user", "content": [{"type": "text", "text": "What time is it in Lima?"}]},
]


@pytest.fixture
async def agent(client: httpx.AsyncClient, tenant_a: Caller, model: ScriptedModel) -> dict:
    """Tenant A's agent on the scripted model, its key in A's vault."""
    await store_llm_key(client, tenant_a)
    return await create_scripted_agent(
        client, tenant_a, model, system_prompt_template="You are {{ bot }}."
    )


async def test_models_are_the_agents_the_key_may_run(
    client, sdk_for, tenant_a: Caller, tenant_b: Caller, agent: dict
) -> None:
    other = await create_scripted_agent(
        client, tenant_a, ScriptedModel(), name="Retired", is_active=False
    )

    models = await sdk_for(tenant_a).models.list()

    assert [m.id for m in models.data] == [f"agent-{agent['id']}"]
    assert models.data[0].owned_by == agent["name"]
    assert models.data[0].object == "model"
    assert f"agent-{other['id']}" not in {m.id for m in models.data}
    assert (await sdk_for(tenant_b).models.list()).data == []


async def test_a_completion_runs_the_agent_and_its_tools_on_the_server(
    client, sdk_for, tenant_a: Caller, agent: dict, model: ScriptedModel
) -> None:
    model.play(LOOKUP, Say(ANSWER, usage=(52, 11)))

    raw = await sdk_for(tenant_a).chat.completions.with_raw_response.create(
        model=f"agent-{agent['id']}", messages=HISTORY, metadata={"bot": "Ana"}
    )
    completion = raw.parse()

    assert completion.object == "chat.completion"
    assert completion.choices[0].message.content == ANSWER
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (83, 18)
    assert completion.usage.total_tokens == 101
    # The model was sent the agent's prompt (not the client's), the history and the tools.
    first = model.bodies[0]
    assert first["messages"][0] == {"role": "system", "content": "You are Ana."}
    assert [m["role"] for m in first["messages"][1:]] == ["user", "assistant", "user"]
    assert first["tools"][0]["function"]["name"] == "get_current_time"
    # The conversation holds the history, the tool's run on the server and the answer.
    messages = await messages_of(client, tenant_a, raw.headers["x-conversation-id"])
    assert [m["role"] for m in messages] == [
        "user",
        "assistant",
        "user",
        "assistant",
        "tool",
        "assistant",
    ]
    assert json.loads(messages[4]["content"])["timezone"] == "America/Lima"
    assert messages[2]["content"] == "What time is it in Lima?"


async def test_a_conversation_continues_by_its_id(
    client, sdk_for, tenant_a: Caller, agent: dict, model: ScriptedModel
) -> None:
    model.play(Say("Hello Rosa."), Say("You told me you are Rosa."))
    sdk = sdk_for(tenant_a)
    first = await sdk.chat.completions.with_raw_response.create(
        model=f"agent-{agent['id']}", messages=[{"role": "user", "content": "I am Rosa."}]
    )
    conversation = first.headers["x-conversation-id"]

    second = await sdk.chat.completions.create(
        model=f"agent-{agent['id']}",
        messages=[{"role": "user", "content": "Who am I?"}],
        extra_body={"conversation_id": conversation},
    )

    assert second.choices[0].message.content == "You told me you are Rosa."
    sent = [m["content"] for m in model.bodies[1]["messages"][1:]]
    assert sent == ["I am Rosa.", "Hello Rosa.", "Who am I?"]
    assert len(await messages_of(client, tenant_a, conversation)) == 4


async def test_a_streamed_completion_is_chunks_with_usage_last(
    client, sdk_for, tenant_a: Caller, agent: dict, model: ScriptedModel
) -> None:
    model.play(LOOKUP, Say(ANSWER, usage=(52, 11)))

    stream = await sdk_for(tenant_a).chat.completions.create(
        model=f"agent-{agent['id']}",
        messages=HISTORY,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = [chunk async for chunk in stream]

    assert all(c.object == "chat.completion.chunk" for c in chunks)
    assert len({c.id for c in chunks}) == 1
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == ANSWER
    assert chunks[0].choices[0].delta.role == "assistant"
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert finishes[-1] == "stop" and set(finishes[:-1]) == {None}
    *body, last = chunks
    assert last.choices == [] and last.usage is not None
    assert (last.usage.prompt_tokens, last.usage.completion_tokens) == (83, 18)
    assert all(c.usage is None for c in body)


async def test_without_include_usage_the_usage_rides_on_the_finishing_chunk(
    sdk_for, tenant_a: Caller, agent: dict, model: ScriptedModel
) -> None:
    model.play(Say(ANSWER, usage=(52, 11)))

    stream = await sdk_for(tenant_a).chat.completions.create(
        model=f"agent-{agent['id']}", messages=[{"role": "user", "content": "Hi"}], stream=True
    )
    chunks = [chunk async for chunk in stream]

    # Every chunk has its choice, for clients that read choices[0] of each.
    assert all(len(c.choices) == 1 for c in chunks)
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == ANSWER
    *body, last = chunks
    assert last.choices[0].finish_reason == "stop"
    assert last.usage is not None and last.usage.total_tokens == 63
    assert all(c.usage is None for c in body)


async def test_a_streamed_failure_raises_the_sdk_error(
    sdk_for, tenant_a: Caller, agent: dict, model: ScriptedModel
) -> None:
    model.play(Refuse(500))

    stream = await sdk_for(tenant_a).chat.completions.create(
        model=f"agent-{agent['id']}", messages=[{"role": "user", "content": "Hi"}], stream=True
    )
    with pytest.raises(openai.APIError) as raised:
        _ = [chunk async for chunk in stream]

    assert "The run failed" in raised.value.message
    assert raised.value.code == "run_failed"


async def test_a_failed_completion_is_an_openai_error(
    sdk_for, tenant_a: Caller, agent: dict, model: ScriptedModel
) -> None:
    model.play(Refuse(500))

    with pytest.raises(openai.InternalServerError) as raised:
        await sdk_for(tenant_a).chat.completions.create(
            model=f"agent-{agent['id']}", messages=[{"role": "user", "content": "Hi"}]
        )

    assert raised.value.status_code == 502
    assert raised.value.code == "run_failed"
    assert raised.value.type == "api_error"


async def test_another_tenants_agent_is_a_missing_model(
    sdk_for, tenant_b: Caller, agent: dict, model: ScriptedModel
) -> None:
    for name in (f"agent-{agent['id']}", agent["name"], "agent-99999999999", "gpt-4o"):
        with pytest.raises(openai.NotFoundError) as raised:
            await sdk_for(tenant_b).chat.completions.create(
                model=name, messages=[{"role": "user", "content": "Hi"}]
            )
        assert raised.value.param == "model", name
        assert raised.value.type == "not_found_error"
    assert model.bodies == []


async def test_credentials_and_scopes_are_checked(
    client, sdk_for, tenant_a: Caller, agent: dict, model: ScriptedModel
) -> None:
    reader = await create_key(client, tenant_a.headers, "reader", scopes=["agents:read"])
    request = {"model": f"agent-{agent['id']}", "messages": [{"role": "user", "content": "Hi"}]}

    with pytest.raises(openai.AuthenticationError) as unknown:
        await sdk_for("orch_000000000000_" + "A" * 43).chat.completions.create(**request)
    with pytest.raises(openai.PermissionDeniedError) as narrow:
        await sdk_for(reader["api_key"]).chat.completions.create(**request)
    with pytest.raises(openai.PermissionDeniedError):
        await sdk_for(reader["api_key"]).models.list()

    assert unknown.value.type == "authentication_error"
    assert narrow.value.code == "forbidden"
    assert model.bodies == []


@pytest.mark.parametrize(
    ("request_body", "param"),
    [
        ({"messages": [{"role": "assistant", "content": "Hi"}]}, "messages"),
        ({"messages": [{"role": "user", "content": "   "}]}, "messages"),
        (
            {
                "messages": [
                    {"role": "tool", "tool_call_id": "x", "content": "42"},
                    {"role": "user", "content": "Hi"},
                ]
            },
            "messages.0",
        ),
        ({"messages": []}, "messages"),
        ({"messages": [{"role": "user", "content": "Hi"}], "n": 2}, "n"),
        (
            {
                "messages": [{"role": "user", "content": "Hi"}],
                "tools": [{"type": "function", "function": {"name": "mine"}}],
            },
            "tools",
        ),
        (
            {
                "messages": [
                    {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}
                ]
            },
            "messages.0.content",
        ),
        ({"messages": [{"role": "user", "content": "Hi\x00there"}]}, ""),
        ({"messages": [{"role": "user", "content": "Hi"}], "metadata": {"bot": "\x00"}}, ""),
    ],
    ids=[
        "ends-with-assistant",
        "blank",
        "tool-result",
        "empty",
        "n",
        "client-tools",
        "image",
        "nul-text",
        "nul-variable",
    ],
)
async def test_bad_requests_are_refused_in_openai_shape(
    http: httpx.AsyncClient,
    tenant_a: Caller,
    agent: dict,
    model: ScriptedModel,
    request_body,
    param,
) -> None:
    response = await http.post(
        "/v1/chat/completions",
        headers=tenant_a.headers,
        json={"model": f"agent-{agent['id']}", **request_body},
    )

    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["type"] == "invalid_request_error"
    assert (error["param"] or "").startswith(param), error
    assert model.bodies == []


async def test_a_continued_conversation_of_another_tenant_is_missing(
    client, sdk_for, tenant_a: Caller, tenant_b: Caller, agent: dict, model: ScriptedModel
) -> None:
    model.play(Say("Hello."))
    first = await sdk_for(tenant_a).chat.completions.with_raw_response.create(
        model=f"agent-{agent['id']}", messages=[{"role": "user", "content": "Secret plans"}]
    )
    await store_llm_key(client, tenant_b)
    b_agent = await create_scripted_agent(client, tenant_b, model)

    with pytest.raises(openai.NotFoundError):
        await sdk_for(tenant_b).chat.completions.create(
            model=f"agent-{b_agent['id']}",
            messages=[{"role": "user", "content": "What were we saying?"}],
            extra_body={"conversation_id": first.headers["x-conversation-id"]},
        )
    assert len(model.bodies) == 1
