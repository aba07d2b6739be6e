"""Incoming agent messages and agent status reach their owner's event stream, and nobody
else's: not another member's, not a key without `agents:read`."""

import uuid
from collections.abc import AsyncIterator

import httpx
import pytest

from orchestrator_service.bootstrap import Runtime
from orchestrator_service.config import Settings
from orchestrator_service.live.publish import publish, publish_agent_status
from orchestrator_service.main import create_app
from tests.agents.helpers import create_scripted_agent, run_agent
from tests.helpers import PASSWORD, Caller, create_key, create_user, login, served_over_http
from tests.live.helpers import Frames, open_stream
from tests.scripted_model import Call, Say, ScriptedModel


@pytest.fixture
async def base(settings: Settings, runtime: Runtime) -> AsyncIterator[str]:
    async with served_over_http(create_app(settings, runtime=runtime)) as url:
        yield url


async def member(
    client: httpx.AsyncClient, admin: Caller, email: str, role: str = "member"
) -> tuple[Caller, uuid.UUID]:
    user = await create_user(client, admin.headers, email, password=PASSWORD, role=role)
    token = await login(client, email)
    return Caller(api_key=token, tenant_id=admin.tenant_id), uuid.UUID(user["id"])


async def marker(runtime: Runtime, tenant_id: int, n: int) -> None:
    """A tenant-wide event every stream of the tenant receives: what a stream shows before
    it is everything it was sent."""
    async with runtime.sessionmaker.begin() as session:
        await publish(
            session, tenant_id=tenant_id, user_id=None, event="test.marker", data={"n": n}
        )


async def before_marker(frames: Frames) -> list[dict]:
    seen = []
    while (frame := await frames.next())["event"] != "test.marker":
        seen.append(frame)
    return seen


async def test_agent_messages_reach_the_owner_only(
    client: httpx.AsyncClient,
    runtime: Runtime,
    base: str,
    tenant_a: Caller,
    model: ScriptedModel,
    llm_key: str,
) -> None:
    assert tenant_a.tenant_id is not None
    ann, _ = await member(client, tenant_a, "ann@example.com", role="admin")
    bob, _ = await member(client, tenant_a, "bob@example.com")
    narrowed = await create_key(client, ann.headers, "rag only", scopes=["rag:read"])
    a = await create_scripted_agent(client, ann, model, name="A", enabled_tools=["message_agent"])
    b = await create_scripted_agent(client, ann, model, name="B")
    response = await client.post(
        "/api/v1/agent-connections",
        headers=ann.headers,
        json={"agent1_id": a["id"], "agent2_id": b["id"]},
    )
    assert response.status_code == 201, response.text
    model.play(
        Call("message_agent", {"agent_id": b["id"], "message": "Hi B"}), Say("Hi A"), Say("ok")
    )
    async with (
        open_stream(base, ann.api_key) as ann_frames,
        open_stream(base, bob.api_key) as bob_frames,
        open_stream(base, narrowed["api_key"]) as narrowed_frames,
    ):
        assert (await run_agent(client, ann, a["id"], "Greet B")).status_code == 200
        await marker(runtime, tenant_a.tenant_id, 1)
        to_ann = await before_marker(ann_frames)
        assert await before_marker(bob_frames) == []
        assert await before_marker(narrowed_frames) == []  # no agents:read, no agent events
    assert [(f["event"], f["data"]["to_agent_id"], f["data"]["preview"]) for f in to_ann] == [
        ("agent.message", b["id"], "Hi B"),
        ("agent.message", a["id"], "Hi A"),
    ]


async def test_agent_status_reaches_its_owner_or_every_member(
    client: httpx.AsyncClient, runtime: Runtime, base: str, tenant_a: Caller
) -> None:
    assert tenant_a.tenant_id is not None
    ann, ann_id = await member(client, tenant_a, "ann@example.com")
    bob, _ = await member(client, tenant_a, "bob@example.com")
    async with (
        open_stream(base, ann.api_key) as ann_frames,
        open_stream(base, bob.api_key) as bob_frames,
    ):
        async with runtime.sessionmaker.begin() as session:
            await publish_agent_status(
                session,
                tenant_id=tenant_a.tenant_id,
                agent_id=7,
                owner_user_id=ann_id,
                status="busy",
            )
            await publish_agent_status(
                session,
                tenant_id=tenant_a.tenant_id,
                agent_id=8,
                owner_user_id=None,
                status="online",
            )
        await marker(runtime, tenant_a.tenant_id, 1)
        to_ann = [(f["event"], f["data"]) for f in await before_marker(ann_frames)]
        to_bob = [(f["event"], f["data"]) for f in await before_marker(bob_frames)]
    assert to_ann == [
        ("agent.status", {"agent_id": 7, "status": "busy"}),
        ("agent.status", {"agent_id": 8, "status": "online"}),
    ]
    assert to_bob == [("agent.status", {"agent_id": 8, "status": "online"})]
