"""Fixtures of the channel tests: the network fence, the Graph API stand-in, a service booted
with the stand-in's base URL as its `meta_graph_base_url`, and tenant A's WhatsApp connection
answered by an agent on the scripted model."""

import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import httpx
import pytest

from orchestrator_service.bootstrap import Runtime, boot
from orchestrator_service.config import Settings
from orchestrator_service.main import create_app
from tests.agents.helpers import create_scripted_agent, store_llm_key
from tests.channels.graph_standin import GraphStandIn
from tests.helpers import Caller, new_tenant
from tests.network import network  # noqa: F401 (autouse fence)
from tests.scripted_model import ScriptedModel

PHONE_NUMBER_ID = "106540352242922"
PAGE_ID = "1122334455"
APP_SECRET = f"app-secret-{uuid.uuid4().hex}"
ACCESS_TOKEN = f"EAAG-{uuid.uuid4().hex}"
VERIFY_TOKEN = f"verify-{uuid.uuid4().hex}"


@dataclass
class Served:
    """The booted service, a client of it, and tenant A."""

    runtime: Runtime
    client: httpx.AsyncClient
    tenant: Caller


@pytest.fixture
def graph() -> Iterator[GraphStandIn]:
    """The Graph API stand-in."""
    with GraphStandIn() as standin:
        yield standin


@pytest.fixture
async def served(settings: Settings, graph: GraphStandIn) -> AsyncIterator[Served]:
    """The service with the stand-in as its Graph API (and no wait between send retries)."""
    configured = settings.model_copy(
        update={"meta_graph_base_url": graph.base_url, "channel_send_backoff": 0.0}
    )
    async with boot(configured) as runtime:
        runtime.guard.allow("127.0.0.1")
        transport = httpx.ASGITransport(app=create_app(configured, runtime=runtime))
        async with httpx.AsyncClient(transport=transport, base_url="http://meta.test") as client:
            tenant = await new_tenant(runtime, f"channels-{uuid.uuid4().hex[:6]}")
            yield Served(runtime, client, tenant)


async def store_channel_credentials(client: httpx.AsyncClient, caller: Caller) -> None:
    """The app secret, verify token and access token (sendable to the stand-in) in the vault."""
    await store_llm_key(client, caller)
    for name, value, hosts in (
        ("META_APP_SECRET", APP_SECRET, None),
        ("META_VERIFY_TOKEN", VERIFY_TOKEN, None),
        ("META_ACCESS_TOKEN", ACCESS_TOKEN, ["127.0.0.1"]),
    ):
        body = {"name": name, "value": value, **({"allowed_hosts": hosts} if hosts else {})}
        response = await client.post("/api/v1/credentials", headers=caller.headers, json=body)
        assert response.status_code == 201, response.text


async def connect(
    client: httpx.AsyncClient,
    caller: Caller,
    agent_id: int,
    channel: str = "whatsapp",
    account: str = PHONE_NUMBER_ID,
    **fields,
) -> httpx.Response:
    """POST a channel connection."""
    return await client.post(
        "/api/v1/channels",
        headers=caller.headers,
        json={
            "channel": channel,
            "name": f"{channel} line",
            "external_account_id": account,
            "agent_id": agent_id,
            "app_secret_credential": "META_APP_SECRET",
            "access_token_credential": "META_ACCESS_TOKEN",
            "verify_token_credential": "META_VERIFY_TOKEN",
            **fields,
        },
    )


@pytest.fixture
async def whatsapp(served: Served, model: ScriptedModel) -> dict:
    """Tenant A's WhatsApp connection, answered by an agent that lists whatsapp."""
    await store_channel_credentials(served.client, served.tenant)
    agent = await create_scripted_agent(
        served.client,
        served.tenant,
        model,
        system_prompt_template="You are the shop's assistant.",
        enabled_tools=[],
        channels=["whatsapp", "facebook", "instagram"],
    )
    response = await connect(
        served.client,
        served.tenant,
        agent["id"],
        reengagement_template={"name": "hello_again", "language": "es"},
    )
    assert response.status_code == 201, response.text
    return response.json()
