"""Native providers, each over a stand-in speaking its documented wire format on loopback:
Anthropic Messages, Google Gemini and OpenAI chat completions, each through its official SDK
(compatible servers' client is covered by the scripted-model tests). For each: an end-to-end
run with a tool call (whole and streamed, the streamed call split across events and network
reads), an error mid-stream, a 429 with Retry-After, and lying servers (bad JSON mid-stream,
an endless stream, one huge event, a refused destination)."""

import json
import uuid
from collections.abc import Iterator

import httpx
import pytest

from orchestrator_service.agents.llm import ModelFailed, ModelLimits, ModelTimeout
from orchestrator_service.agents.providers import open_client
from orchestrator_service.agents.sdk import Target
from orchestrator_service.tools.ssrf import BlockedDestination, Guard
from tests.agents.helpers import get_json, messages_of, run_agent, sse_events
from tests.helpers import Caller, error_of
from tests.network import NetworkSpy
from tests.provider_models import (
    BadJsonMidStream,
    Endless,
    ErrorMidStream,
    Huge,
    ProviderStandIn,
    RateLimit,
    Text,
    ToolUse,
)

KEY = f"sk-provider-{uuid.uuid4().hex}"
# protocol -> (catalogue provider, vault credential the calls carry by default)
PROVIDERS = {
    "anthropic": ("anthropic", "ANTHROPIC_API_KEY"),
    "gemini": ("google", "GEMINI_API_KEY"),
    "openai": ("openai", "OPENAI_API_KEY"),
}
LIMITS = ModelLimits(max_response_bytes=256 * 1024, max_stream_chars=20_000)
ASK = ToolUse("get_current_time", {"timezone": "America/Lima"}, call_id="call_lima")
ANSWER = "It is noon in Lima."


@pytest.fixture(params=sorted(PROVIDERS))
def stand_in(request: pytest.FixtureRequest) -> Iterator[ProviderStandIn]:
    """A stand-in of each provider in turn."""
    with ProviderStandIn(request.param) as server:
        yield server
    assert server.overruns == 0, "the service called the provider more often than scripted"


async def provider_agent(
    client: httpx.AsyncClient, caller: Caller, stand_in: ProviderStandIn, **config: object
) -> dict:
    """The provider's key in the vault, a catalogue model at the stand-in, and an agent on it."""
    provider, credential = PROVIDERS[stand_in.protocol]
    stored = await client.post(
        "/api/v1/credentials",
        headers=caller.headers,
        json={"name": credential, "value": KEY, "allowed_hosts": ["127.0.0.1"]},
    )
    assert stored.status_code == 201, stored.text
    entry = await client.post(
        "/api/v1/models",
        headers=caller.headers,
        json={
            "name": f"{provider} stand-in",
            "provider": provider,
            "model": stand_in.model,
            "context_window": 100_000,
            "max_output_tokens": 1000,
            "input_price_per_million": 3,
            "output_price_per_million": 15,
            "base_url": stand_in.base_url,
        },
    )
    assert entry.status_code == 201, entry.text
    agent = await client.post(
        "/api/v1/agents",
        headers=caller.headers,
        json={
            "name": f"{provider} agent",
            "system_prompt_template": "You tell the time.",
            "model_provider": provider,
            "model_version": stand_in.model,
            "temperature": 0.3,
            "max_tokens": 5000,
            "enabled_tools": ["get_current_time"],
            "config": {"timeout_s": 10, **config},
        },
    )
    assert agent.status_code == 201, agent.text
    return agent.json()


def _key_of(stand_in: ProviderStandIn, headers: dict[str, str]) -> str | None:
    if stand_in.protocol == "anthropic":  # the SDK sends the key as a bearer token today
        return headers.get("x-api-key") or headers.get("authorization", "").removeprefix("Bearer ")
    if stand_in.protocol == "gemini":
        return headers.get("x-goog-api-key")
    return headers.get("authorization", "").removeprefix("Bearer ")


def _tool_result_sent(stand_in: ProviderStandIn, body: dict) -> dict:
    """The tool result the second request carries, in the provider's own shape."""
    if stand_in.protocol == "anthropic":
        last = body["messages"][-1]
        assert last["role"] == "user"
        (block,) = last["content"]
        assert block["type"] == "tool_result" and block["tool_use_id"] == "call_lima"
        asked = body["messages"][-2]["content"]
        assert {
            "type": "tool_use",
            "id": "call_lima",
            "name": "get_current_time",
            "input": {"timezone": "America/Lima"},
        } in asked
        return json.loads(block["content"])
    if stand_in.protocol == "gemini":
        last = body["contents"][-1]
        (part,) = last["parts"]
        response = part["functionResponse"]
        assert response["name"] == "get_current_time"
        called = body["contents"][-2]["parts"]
        assert any(
            p.get("functionCall", {}).get("args") == {"timezone": "America/Lima"} for p in called
        )
        return response["response"]
    last = body["messages"][-1]
    assert last["role"] == "tool" and last["tool_call_id"] == "call_lima"
    return json.loads(last["content"])


@pytest.mark.parametrize("streamed", [False, True], ids=["whole", "streamed"])
async def test_a_run_with_a_tool_call_speaks_each_providers_protocol(
    client: httpx.AsyncClient,
    tenant_a: Caller,
    loopback_guard: None,
    stand_in: ProviderStandIn,
    streamed: bool,
) -> None:
    agent = await provider_agent(client, tenant_a, stand_in)
    stand_in.play(ASK, Text(ANSWER, usage=(52, 11)))

    response = await run_agent(
        client, tenant_a, agent["id"], "What time is it in Lima?", stream=streamed
    )

    assert response.status_code == 200, response.text
    if streamed:
        events = sse_events(response.text)
        kinds = [kind for kind, _ in events]
        assert kinds[-1] == "done" and "tool" in kinds, kinds
        deltas = "".join(d["content"] for kind, d in events if kind == "delta")
        assert deltas.endswith(ANSWER)
        run = events[-1][1]
        assert run["output"] == ANSWER
    else:
        run = response.json()
        assert run["status"] == "completed" and run["output"] == ANSWER
    execution = await get_json(client, tenant_a, f"/executions/{run['execution_id']}")
    tool_steps = [s for s in execution["steps"] if s["step_type"] == "tool"]
    # The call, streamed in pieces, arrived whole: its arguments are the ones the model sent.
    assert [s["input"] for s in tool_steps] == [{"timezone": "America/Lima"}]
    messages = await messages_of(client, tenant_a, run["conversation_id"])
    assert [m["role"] for m in messages] == ["user", "assistant", "tool", "assistant"]
    assert messages[1]["tool_calls"][0]["function"]["name"] == "get_current_time"

    # What the provider got: its own request shape, the key in its own header, the tool result.
    assert len(stand_in.requests) == 2
    assert {_key_of(stand_in, r.headers) for r in stand_in.requests} == {KEY}
    first, second = stand_in.bodies
    if stand_in.protocol == "anthropic":
        assert all(r.path == "/v1/messages" for r in stand_in.requests)
        assert first["system"] == "You tell the time."
        assert first["max_tokens"] == 1000  # the agent's 5000, capped by the catalogue's limit
        assert first["tools"][0]["name"] == "get_current_time"
        assert "input_schema" in first["tools"][0]
        assert bool(first.get("stream")) is streamed
    elif stand_in.protocol == "gemini":
        verb = "streamGenerateContent" if streamed else "generateContent"
        assert all(
            r.path.startswith(f"/v1beta/models/{stand_in.model}:{verb}") for r in stand_in.requests
        )
        assert first["systemInstruction"]["parts"] == [{"text": "You tell the time."}]
        assert first["generationConfig"]["maxOutputTokens"] == 1000
        declaration = first["tools"][0]["functionDeclarations"][0]
        assert declaration["name"] == "get_current_time"
    else:
        assert first["max_tokens"] == 1000 and first["model"] == stand_in.model
    assert _tool_result_sent(stand_in, second)["timezone"] == "America/Lima"

    # Usage: each call recorded with its tokens and the catalogue's prices.
    usage = await get_json(client, tenant_a, "/usage", group_by="model")
    (bucket,) = usage["buckets"]
    provider = PROVIDERS[stand_in.protocol][0]
    assert bucket["key"] == f"{provider}/{stand_in.model}"
    assert (bucket["calls"], bucket["tokens_in"], bucket["tokens_out"]) == (2, 30 + 52, 7 + 11)
    assert bucket["cost"] == pytest.approx(((30 + 52) * 3 + (7 + 11) * 15) / 1_000_000)
    assert KEY not in response.text


async def test_an_error_mid_stream_fails_the_run_and_says_so(
    client: httpx.AsyncClient, tenant_a: Caller, loopback_guard: None, stand_in: ProviderStandIn
) -> None:
    agent = await provider_agent(client, tenant_a, stand_in)
    stand_in.play(ErrorMidStream())

    response = await run_agent(client, tenant_a, agent["id"], "Hi", stream=True)

    kind, error = sse_events(response.text)[-1]
    assert kind == "error" and error["code"] == "run_failed"
    assert "mid-stream" in error["message"]
    assert error["details"]["reason"] == "model_failed"
    assert KEY not in response.text
    execution = await get_json(client, tenant_a, f"/executions/{error['details']['execution_id']}")
    assert execution["status"] == "failed" and execution["output_response"] is None
    performance = await get_json(client, tenant_a, "/usage/models")
    (model,) = performance["models"]
    assert (model["calls"], model["errors"], model["error_rate"]) == (1, 1, 1.0)


async def test_a_rate_limit_says_when_to_retry(
    client: httpx.AsyncClient, tenant_a: Caller, loopback_guard: None, stand_in: ProviderStandIn
) -> None:
    agent = await provider_agent(client, tenant_a, stand_in)
    stand_in.play(RateLimit("7"), RateLimit("Wed, 21 Oct 2015 07:28:00 GMT"))

    told = await run_agent(client, tenant_a, agent["id"], "Hi")
    vague = await run_agent(client, tenant_a, agent["id"], "Hi", stream=True)

    error = error_of(told, 502, "run_failed")
    assert "429" in error["message"] and "retry after 7 s" in error["message"]
    kind, streamed = sse_events(vague.text)[-1]
    assert (
        kind == "error"
        and "429" in streamed["message"]
        and "retry after" not in streamed["message"]
    )
    assert KEY not in told.text + vague.text
    assert len(stand_in.requests) == 2  # no retries of the SDK's own


@pytest.mark.parametrize("lie", ["bad JSON mid-stream", "bad JSON whole"])
async def test_malformed_answers_fail_cleanly(
    client: httpx.AsyncClient,
    tenant_a: Caller,
    loopback_guard: None,
    stand_in: ProviderStandIn,
    lie: str,
) -> None:
    agent = await provider_agent(client, tenant_a, stand_in)
    stand_in.play(BadJsonMidStream())

    response = await run_agent(client, tenant_a, agent["id"], "Hi", stream=lie.endswith("stream"))

    if lie.endswith("stream"):
        kind, error = sse_events(response.text)[-1]
        assert kind == "error"
    else:
        error = error_of(response, 502, "run_failed")
    assert error["details"]["reason"] == "model_failed"
    assert "malformed" in error["message"]


def _client(
    stand_in: ProviderStandIn, guard: Guard, *, deadline: float = 10, base_url: str | None = None
):
    provider = PROVIDERS[stand_in.protocol][0]
    target = Target(
        protocol=stand_in.protocol,
        provider=provider,
        model=stand_in.model,
        base_url=base_url or stand_in.base_url,
        max_output_tokens=100,
    )
    return open_client(target, api_key=KEY, guard=guard, deadline=deadline, limits=LIMITS)


async def _drain(client) -> list:
    parts = []
    async for part in client.stream([{"role": "user", "content": "Hi"}], []):
        parts.append(part)
    return parts


async def test_an_endless_stream_is_cut_at_the_character_cap(stand_in: ProviderStandIn) -> None:
    endless = Endless(size=1000)
    stand_in.play(endless)
    client = _client(stand_in, Guard(["127.0.0.1"]))
    try:
        with pytest.raises(ModelFailed) as caught:
            await _drain(client)
    finally:
        await client.aclose()
    # How many bytes the stand-in pushed before the hang-up depends on socket buffers and
    # scheduling, not on the client: the refusal naming the cap is what proves the cut.
    assert f"more than {LIMITS.max_stream_chars} characters" in caught.value.message


async def test_one_huge_event_is_refused_at_the_byte_cap(stand_in: ProviderStandIn) -> None:
    stand_in.play(Huge(size=4 * LIMITS.max_response_bytes))
    client = _client(stand_in, Guard(["127.0.0.1"]))
    try:
        with pytest.raises(ModelFailed) as caught:
            await _drain(client)
    finally:
        await client.aclose()
    assert f"larger than {LIMITS.max_response_bytes} bytes" in caught.value.message
    assert KEY not in caught.value.message


async def test_a_drip_fed_stream_meets_one_deadline(stand_in: ProviderStandIn) -> None:
    drip = Endless(size=1, pause=0.05)
    stand_in.play(drip)
    client = _client(stand_in, Guard(["127.0.0.1"]), deadline=0.5)
    try:
        with pytest.raises(ModelTimeout) as caught:
            await _drain(client)
    finally:
        await client.aclose()
    assert "did not answer in time" in caught.value.message
    assert drip.sent < LIMITS.max_response_bytes  # ended by the deadline, not a cap


@pytest.mark.parametrize("address", ["169.254.169.254", "10.0.0.7", "[::1]"])
async def test_a_private_model_address_is_refused_before_connecting(
    stand_in: ProviderStandIn, network: NetworkSpy, address: str
) -> None:
    client = _client(stand_in, Guard(), base_url=f"http://{address}:8080")
    try:
        with pytest.raises(BlockedDestination):
            await client.complete([{"role": "user", "content": "Hi"}], [])
        with pytest.raises(BlockedDestination):
            await _drain(client)
    finally:
        await client.aclose()
    assert network.connections == []
    assert stand_in.requests == []


@pytest.mark.parametrize("usage", [(10**12, 5), (-40, 9)], ids=["a trillion", "negative"])
async def test_a_lying_token_count_is_refused_not_billed(
    client: httpx.AsyncClient,
    tenant_a: Caller,
    loopback_guard: None,
    stand_in: ProviderStandIn,
    usage: tuple[int, int],
) -> None:
    agent = await provider_agent(client, tenant_a, stand_in)
    stand_in.play(Text("Cheap, honestly.", usage=usage))

    response = await run_agent(client, tenant_a, agent["id"], "Hi")

    error = error_of(response, 502, "run_failed")
    assert "tokens" in error["message"] and error["details"]["reason"] == "model_failed"
    report = await get_json(client, tenant_a, "/usage")
    assert report["totals"] == {
        "calls": 1,
        "errors": 1,
        "tokens_in": 0,
        "tokens_out": 0,
        "tokens": 0,
        "cost": 0.0,
    }
