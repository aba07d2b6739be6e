"""Request ids: one `X-Request-ID` on every response, client ids echoed when sane, logs carry it."""

import logging
import re
from collections.abc import AsyncIterator

import httpx
import pytest

from orchestrator_service.bootstrap import Runtime
from orchestrator_service.config import Settings
from orchestrator_service.http import RequestIdLogFilter
from orchestrator_service.main import create_app
from tests.helpers import CLIENT_IP, Caller, create_user, error_of

GENERATED = re.compile(r"[0-9a-f]{32}")


def _request_ids(response: httpx.Response) -> list[str]:
    """Every X-Request-ID header of a response."""
    return response.headers.get_list("X-Request-ID")


async def test_every_response_carries_exactly_one_request_id(
    client: httpx.AsyncClient, tenant_a: Caller
) -> None:
    h = tenant_a.headers
    user = await create_user(client, h, "rid@example.com")
    responses = {
        200: await client.get("/api/v1/me", headers=h),
        201: await client.post("/api/v1/api-keys", json={"name": "rid"}, headers=h),
        204: await client.post("/api/v1/auth/logout", headers=h),
        401: await client.get("/api/v1/me"),
        403: await client.get("/api/v1/tenants", headers=h),
        404: await client.get("/api/v1/users/00000000-0000-0000-0000-000000000000", headers=h),
        405: await client.put("/api/v1/me", headers=h),
        409: await client.post("/api/v1/users", json={"email": user["email"]}, headers=h),
        413: await client.post(
            "/api/v1/users",
            content=b"x" * 1_048_577,
            headers={**h, "Content-Type": "application/json"},
        ),
        422: await client.post("/api/v1/users", json={}, headers=h),
    }

    assert {status: r.status_code for status, r in responses.items()} == {s: s for s in responses}
    ids = {status: _request_ids(r) for status, r in responses.items()}
    assert {s: len(v) for s, v in ids.items()} == dict.fromkeys(responses, 1), ids
    assert all(GENERATED.fullmatch(v[0]) for v in ids.values()), ids
    assert len({v[0] for v in ids.values()}) == len(ids)


async def test_a_well_formed_client_request_id_is_echoed(
    client: httpx.AsyncClient, tenant_a: Caller
) -> None:
    given = ["abc-123", "Trace.ID_42", "x" * 64]

    ok = [
        await client.get("/api/v1/me", headers={**tenant_a.headers, "X-Request-ID": g})
        for g in given
    ]
    refused = [await client.get("/api/v1/me", headers={"X-Request-ID": g}) for g in given]

    assert [r.status_code for r in ok + refused] == [200] * 3 + [401] * 3
    assert [_request_ids(r) for r in ok] == [[g] for g in given]
    assert [_request_ids(r) for r in refused] == [[g] for g in given]


async def test_a_malformed_client_request_id_is_replaced(
    client: httpx.AsyncClient, tenant_a: Caller
) -> None:
    given = ["has space", "semi;colon", "x" * 65, "ünïcode", "a/b"]

    responses = [
        await client.get("/api/v1/me", headers={**tenant_a.headers, "X-Request-ID": g.encode()})
        for g in given
    ]

    assert [r.status_code for r in responses] == [200] * len(given)
    ids = [_request_ids(r) for r in responses]
    assert all(len(i) == 1 and GENERATED.fullmatch(i[0]) for i in ids), ids


@pytest.fixture
async def failing_client(settings: Settings, runtime: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    """A client of an app with one extra route that fails with an unexpected error."""
    app = create_app(settings, runtime=runtime)

    async def boom() -> None:
        """Fail the way a bug would."""
        raise RuntimeError("boom: internal detail that must not leak")

    app.add_api_route("/boom", boom)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False, client=(CLIENT_IP, 1))
    async with httpx.AsyncClient(transport=transport, base_url="http://orchestrator.test") as c:
        yield c


async def test_an_unexpected_error_is_a_500_with_the_error_body_and_a_request_id(
    failing_client: httpx.AsyncClient,
) -> None:
    response = await failing_client.get("/boom", headers={"X-Request-ID": "boom-1"})

    error = error_of(response, 500, "internal_error")
    assert "internal detail" not in response.text and error["details"] is None
    assert _request_ids(response) == ["boom-1"]


async def test_log_records_of_a_request_carry_its_id(
    client: httpx.AsyncClient, tenant_a: Caller, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    caplog.handler.addFilter(RequestIdLogFilter())

    ok = await client.get("/api/v1/me", headers={**tenant_a.headers, "X-Request-ID": "log-ok-1"})
    refused = await client.get("/api/v1/users")
    logging.getLogger("orchestrator_service.tests").info("outside any request")

    access = [r for r in caplog.records if r.name == "orchestrator_service.access"]
    assert [(r.request_id, r.getMessage().split(" ")[:3]) for r in access] == [
        ("log-ok-1", ["GET", "/api/v1/me", "200"]),
        (_request_ids(refused)[-1], ["GET", "/api/v1/users", "401"]),
    ]
    assert ok.status_code == 200
    outside = next(r for r in caplog.records if r.getMessage() == "outside any request")
    assert outside.request_id == "-"
