"""Helpers of the agent-run tests: a tenant's agent on the scripted model, its runs through the
HTTP API, and a service booted of its own that can reach the model."""

import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx

from orchestrator_service.bootstrap import Runtime, boot
from orchestrator_service.config import Settings
from orchestrator_service.main import create_app
from tests.helpers import Caller, new_tenant
from tests.scripted_model import ScriptedModel

LLM_KEY = f"sk-scripted-{uuid.uuid4().hex}"
TEMPLATE = "You are {{ bot }}, the assistant of {{ company }}. Greet {{ customer }} by name."
VARIABLES = {"bot": "Ana", "company": "Acme Peru", "customer": "Rosa"}
RENDERED = "You are Ana, the assistant of Acme Peru. Greet Rosa by name."


async def store_llm_key(client: httpx.AsyncClient, caller: Caller) -> None:
    """Put the LLM key into the caller's vault as OPENAI_API_KEY, allowed to go to 127.0.0.1
    (where the scripted model is; an openai key with no hosts goes only to api.openai.com)."""
    response = await client.post(
        "/api/v1/credentials",
        headers=caller.headers,
        json={
            "name": "OPENAI_API_KEY",
            "value": LLM_KEY,
            "category": "openai",
            "allowed_hosts": ["127.0.0.1"],
        },
    )
    assert response.status_code == 201, response.text


# The scripted model's catalogue entry: its prices (US dollars per million tokens).
SCRIPTED_PRICES = (1.5, 6.0)


async def add_catalogue_model(
    client: httpx.AsyncClient, caller: Caller, model: str, provider: str = "openai_compatible"
) -> dict:
    """Put `model` into the caller's own catalogue (a run refuses a model not in it), or find
    it there; the catalogue entry."""
    body = {
        "name": f"Stand-in {model}",
        "provider": provider,
        "model": model,
        "context_window": 128_000,
        "max_output_tokens": 8192,
        "input_price_per_million": SCRIPTED_PRICES[0],
        "output_price_per_million": SCRIPTED_PRICES[1],
    }
    response = await client.post("/api/v1/models", headers=caller.headers, json=body)
    if response.status_code == 409:
        listed = await client.get(
            "/api/v1/models", headers=caller.headers, params={"provider": provider, "limit": 200}
        )
        return next(m for m in listed.json()["items"] if m["model"] == model)
    assert response.status_code == 201, response.text
    return response.json()


async def create_scripted_agent(
    client: httpx.AsyncClient,
    caller: Caller,
    model: ScriptedModel,
    *,
    config: dict | None = None,
    **fields: Any,
) -> dict:
    """Create an agent that talks to the scripted model, with `get_current_time` enabled."""
    body = {
        "name": "Concierge",
        "system_prompt_template": TEMPLATE,
        "model_version": "scripted-1",
        "model_provider": "openai_compatible",
        "temperature": 0.2,
        "max_tokens": 300,
        "enabled_tools": ["get_current_time"],
        "config": {"base_url": model.base_url, "timeout_s": 5, **(config or {})},
        **fields,
    }
    await add_catalogue_model(client, caller, body["model_version"], body["model_provider"])
    response = await client.post("/api/v1/agents", headers=caller.headers, json=body)
    assert response.status_code == 201, response.text
    return response.json()


async def run_agent(
    client: httpx.AsyncClient, caller: Caller, agent_id: int, text: str, **body: Any
) -> httpx.Response:
    """POST a run of the agent."""
    return await client.post(
        f"/api/v1/agents/{agent_id}/runs", headers=caller.headers, json={"input": text, **body}
    )


async def get_json(client: httpx.AsyncClient, caller: Caller, path: str, **params: Any) -> Any:
    """GET an API path as the caller; the JSON body of a 200."""
    response = await client.get(f"/api/v1{path}", headers=caller.headers, params=params)
    assert response.status_code == 200, response.text
    return response.json()


async def messages_of(client: httpx.AsyncClient, caller: Caller, conversation_id: str) -> list:
    """A conversation's messages, oldest first."""
    page = await get_json(client, caller, f"/conversations/{conversation_id}/messages", limit=200)
    return list(reversed(page["items"]))


def sse_events(text: str) -> list[tuple[str, dict]]:
    """The (event, data) pairs of a server-sent-event stream."""
    events = []
    for block in text.strip().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines())
        events.append((fields["event"], json.loads(fields["data"])))
    return events


@dataclass
class Service:
    """A booted service, a client talking to it, and a tenant with the LLM key in its vault."""

    runtime: Runtime
    client: httpx.AsyncClient
    tenant: Caller


@asynccontextmanager
async def serve(settings: Settings) -> AsyncIterator[Service]:
    """Boot a service of its own on `settings`, able to reach the scripted model."""
    async with boot(settings) as runtime:
        runtime.guard.allow("127.0.0.1")
        transport = httpx.ASGITransport(app=create_app(settings, runtime=runtime))
        async with httpx.AsyncClient(transport=transport, base_url="http://agents.test") as client:
            tenant = await new_tenant(runtime, f"served-{uuid.uuid4().hex[:6]}")
            await store_llm_key(client, tenant)
            yield Service(runtime, client, tenant)
