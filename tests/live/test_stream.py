"""Live events over server-sent events: scoped to tenant and user, replayed after a
reconnect, bounded per user, ended when the key is revoked; over a real loopback socket with
httpx streaming (the in-process transport buffers whole responses)."""

import uuid
from collections.abc import AsyncIterator

import httpx
import pytest

from orchestrator_service.bootstrap import Runtime, boot
from orchestrator_service.config import Settings
from orchestrator_service.db.urls import normalize_url
from orchestrator_service.live.hub import APPLICATION_NAME
from orchestrator_service.live.publish import publish
from orchestrator_service.main import create_app
from tests.helpers import (
    PASSWORD,
    Caller,
    bearer,
    create_user,
    error_of,
    login,
    served_over_http,
    sql,
)
from tests.live.helpers import STREAM, open_stream


def url_of(settings: Settings):
    assert settings.database_url is not None
    return normalize_url(settings.database_url.get_secret_value())


async def send(runtime: Runtime, tenant_id: int, user_id: uuid.UUID | None, n: int) -> int:
    async with runtime.sessionmaker.begin() as session:
        return await publish(
            session, tenant_id=tenant_id, user_id=user_id, event="test.note", data={"n": n}
        )


@pytest.fixture
async def base(settings: Settings, runtime: Runtime) -> AsyncIterator[str]:
    async with served_over_http(create_app(settings, runtime=runtime)) as url:
        yield url


async def member(client: httpx.AsyncClient, admin: Caller, email: str) -> tuple[str, uuid.UUID]:
    user = await create_user(client, admin.headers, email, password=PASSWORD)
    return await login(client, email), uuid.UUID(user["id"])


async def test_a_user_receives_their_own_and_tenant_wide_events_only(
    client: httpx.AsyncClient, runtime: Runtime, base: str, tenant_a: Caller, tenant_b: Caller
) -> None:
    assert tenant_a.tenant_id is not None and tenant_b.tenant_id is not None
    ann, ann_id = await member(client, tenant_a, "ann@example.com")
    _, bob_id = await member(client, tenant_a, "bob@example.com")
    _, zed_id = await member(client, tenant_b, "zed@example.com")
    async with open_stream(base, ann) as frames:
        await send(runtime, tenant_a.tenant_id, bob_id, 1)  # another user's: never shown
        await send(runtime, tenant_b.tenant_id, zed_id, 2)  # another tenant's
        await send(runtime, tenant_b.tenant_id, None, 3)  # another tenant's, tenant-wide
        mine = await send(runtime, tenant_a.tenant_id, ann_id, 4)
        wide = await send(runtime, tenant_a.tenant_id, None, 5)
        first, second = await frames.until("test.note"), await frames.until("test.note")
    assert (first["data"], first["id"]) == ({"n": 4}, str(mine))
    assert (second["data"], second["id"]) == ({"n": 5}, str(wide))


async def test_a_rolled_back_event_is_never_sent(
    client: httpx.AsyncClient, runtime: Runtime, base: str, tenant_a: Caller
) -> None:
    assert tenant_a.tenant_id is not None
    ann, ann_id = await member(client, tenant_a, "ann@example.com")
    async with open_stream(base, ann) as frames:
        async with runtime.sessionmaker() as session:
            await publish(
                session,
                tenant_id=tenant_a.tenant_id,
                user_id=ann_id,
                event="test.note",
                data={"n": "rolled back"},
            )
            await session.rollback()
        await send(runtime, tenant_a.tenant_id, ann_id, 2)
        assert (await frames.until("test.note"))["data"] == {"n": 2}


async def test_a_reconnecting_client_gets_what_it_missed(
    client: httpx.AsyncClient, runtime: Runtime, base: str, tenant_a: Caller
) -> None:
    assert tenant_a.tenant_id is not None
    ann, ann_id = await member(client, tenant_a, "ann@example.com")
    _, bob_id = await member(client, tenant_a, "bob@example.com")
    seen = await send(runtime, tenant_a.tenant_id, ann_id, 1)
    await send(runtime, tenant_a.tenant_id, ann_id, 2)
    await send(runtime, tenant_a.tenant_id, bob_id, 3)  # not ann's to replay
    await send(runtime, tenant_a.tenant_id, None, 4)
    async with open_stream(base, ann, **{"Last-Event-ID": str(seen)}) as frames:
        replayed = [(await frames.until("test.note"))["data"]["n"] for _ in range(2)]
        await send(runtime, tenant_a.tenant_id, ann_id, 5)
        replayed.append((await frames.until("test.note"))["data"]["n"])
    assert replayed == [2, 4, 5]


async def test_streams_per_user_are_bounded(
    client: httpx.AsyncClient, runtime: Runtime, base: str, tenant_a: Caller
) -> None:
    runtime.live.limits = type(runtime.live.limits)(streams_per_user=2)
    ann, _ = await member(client, tenant_a, "ann@example.com")
    bob, _ = await member(client, tenant_a, "bob@example.com")
    async with open_stream(base, ann), open_stream(base, ann):
        async with httpx.AsyncClient(base_url=base, timeout=30) as http:
            refused = await http.get(STREAM, headers=bearer(ann))
        error_of(refused, 429, "rate_limited")
        async with open_stream(base, bob):  # another user is not counted against ann
            pass
    async with open_stream(base, ann):  # closed streams free their place
        pass


async def test_a_platform_key_has_no_stream(
    client: httpx.AsyncClient, platform_admin: Caller
) -> None:
    error_of(await client.get(STREAM, headers=platform_admin.headers), 403, "forbidden")


async def test_no_token_no_stream(client: httpx.AsyncClient) -> None:
    error_of(await client.get(STREAM), 401)


async def test_a_bad_last_event_id_is_refused_before_streaming(
    client: httpx.AsyncClient, tenant_a: Caller
) -> None:
    for bad in ("abc", "-1", str(2**63), "1.5", ""):
        response = await client.get(STREAM, headers={**tenant_a.headers, "Last-Event-ID": bad})
        if bad == "":  # an empty header is no header: the stream would open
            continue
        error_of(response, 422)
    error_of(await client.get(STREAM, headers=tenant_a.headers, params={"after": -5}), 422)


async def test_events_cross_replicas(
    client: httpx.AsyncClient, settings: Settings, runtime: Runtime, tenant_a: Caller
) -> None:
    """A second service on the same database (another replica) streams what the first one
    publishes, also after its LISTEN connection was cut (it reconnects and catches up)."""
    assert tenant_a.tenant_id is not None
    ann, ann_id = await member(client, tenant_a, "ann@example.com")
    async with (
        boot(settings) as replica,
        served_over_http(create_app(settings, runtime=replica)) as other,
        open_stream(other, ann) as frames,
    ):
        await send(runtime, tenant_a.tenant_id, ann_id, 1)
        assert (await frames.until("test.note"))["data"] == {"n": 1}
        cut = await sql(
            url_of(settings),
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1",
            APPLICATION_NAME,
        )
        assert [row[0] for row in cut] == [True]  # the one hub that listens: the replica's
        await send(runtime, tenant_a.tenant_id, ann_id, 2)  # perhaps while nobody listens
        assert (await frames.until("test.note"))["data"] == {"n": 2}


async def test_a_revoked_session_ends_its_stream(
    client: httpx.AsyncClient, runtime: Runtime, base: str, tenant_a: Caller
) -> None:
    runtime.live.limits = type(runtime.live.limits)(heartbeat_seconds=0.2)
    ann, _ = await member(client, tenant_a, "ann@example.com")
    async with open_stream(base, ann) as frames:
        response = await client.post("/api/v1/auth/logout", headers=bearer(ann))
        assert response.status_code in (200, 204), response.text
        closed = await frames.until("closed")
    assert "no longer valid" in closed["data"]["reason"]
