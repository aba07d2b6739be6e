"""Bad input through HTTP is always a 4xx with the one error body, never a 500 or a half-write."""

import json
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy.engine import URL

from orchestrator_service.bootstrap import Runtime
from orchestrator_service.config import Settings
from orchestrator_service.main import create_app
from tests.helpers import CLIENT_IP, PASSWORD, Caller, create_user, error_of, outcome, sql

JSON = {"Content-Type": "application/json"}
MIB = 1_048_576


async def _counts(url: URL) -> dict[str, int]:
    """Row counts of the tables a bad request must not touch."""
    rows = await sql(
        url,
        "SELECT (SELECT count(*) FROM users) AS users, (SELECT count(*) FROM api_keys) AS keys, "
        "(SELECT count(*) FROM audit_logs) AS audit, (SELECT count(*) FROM tenants) AS tenants",
    )
    return dict(rows[0])


async def _chunks(body: bytes, size: int = 64 * 1024) -> AsyncIterator[bytes]:
    """`body` as a streamed request: chunked, without a Content-Length."""
    for start in range(0, len(body), size):
        yield body[start : start + size]


def _padded_user(email: str, total: int) -> bytes:
    """A valid user body of exactly `total` bytes (padding in `settings`)."""
    empty = json.dumps({"email": email, "settings": {"pad": ""}}).encode()
    return json.dumps({"email": email, "settings": {"pad": "x" * (total - len(empty))}}).encode()


def _statuses(outcomes: dict[str, tuple[int, str]]) -> dict[str, int]:
    """Each outcome's status, after checking it carries the one error body."""
    missing = {label for label, (_, code) in outcomes.items() if code == "<no error body>"}
    assert not missing, f"no error body: {sorted(missing)}"
    return {label: status for label, (status, _) in outcomes.items()}


async def test_bad_user_bodies_are_refused_and_write_nothing(
    lenient_client: httpx.AsyncClient, tenant_a: Caller, fresh_db: URL
) -> None:
    headers = {**tenant_a.headers, **JSON}
    raw = {
        "malformed JSON": b"{bad",
        "truncated JSON": b'{"email": "a@example.com"',
        "empty body": b"",
        "a JSON array": b"[]",
        "JSON null": b"null",
        "a JSON string": b'"a@example.com"',
    }
    bodies = {
        "missing email": {"full_name": "No Mail"},
        "email a number": {"email": 123},
        "email a list": {"email": ["a@example.com"]},
        "bad email": {"email": "not-an-email"},
        "email without domain": {"email": "a@"},
        "empty email": {"email": ""},
        "email with a space": {"email": "a b@example.com"},
        "unknown role": {"email": "a@example.com", "role": "root"},
        "role a number": {"email": "a@example.com", "role": 1},
        "settings a string": {"email": "a@example.com", "settings": "x"},
        "password a number": {"email": "a@example.com", "password": 12345678901},
        "password too short": {"email": "a@example.com", "password": "short"},
        "username with a space": {"email": "a@example.com", "username": "a b"},
        "unknown field": {"email": "a@example.com", "is_admin": True},
        "client-chosen tenant": {"email": "a@example.com", "tenant_id": 2},
        "client-chosen hash": {"email": "a@example.com", "password_hash": "x"},
        "client-chosen active flag": {"email": "a@example.com", "is_active": False},
        "NUL in full_name": {"email": "a@example.com", "full_name": "a\u0000b"},
        "NUL in settings": {"email": "a@example.com", "settings": {"k": "\u0000"}},
    }
    before = await _counts(fresh_db)

    outcomes = {
        label: outcome(await lenient_client.post("/api/v1/users", content=body, headers=headers))
        for label, body in raw.items()
    } | {
        label: outcome(await lenient_client.post("/api/v1/users", json=body, headers=headers))
        for label, body in bodies.items()
    }
    text_plain = await lenient_client.post(
        "/api/v1/users",
        content=b'{"email": "a@example.com"}',
        headers={**tenant_a.headers, "Content-Type": "text/plain"},
    )
    outcomes["JSON sent as text/plain"] = outcome(text_plain)

    assert _statuses(outcomes) == dict.fromkeys(outcomes, 422)
    assert outcomes["malformed JSON"] == (422, "validation_error")
    assert await _counts(fresh_db) == before


async def test_bad_api_key_bodies_are_refused_and_write_nothing(
    lenient_client: httpx.AsyncClient, tenant_a: Caller, fresh_db: URL
) -> None:
    bodies = {
        "missing name": {"role": "viewer"},
        "empty name": {"name": ""},
        "blank name": {"name": "   "},
        "name too long": {"name": "n" * 101},
        "name a number": {"name": 5},
        "unknown scope": {"name": "k", "scopes": ["users:delete"]},
        "unknown scope beside *": {"name": "k", "scopes": ["*", "nope"]},
        "scope of no resource": {"name": "k", "scopes": ["admin"]},
        "scopes a string": {"name": "k", "scopes": "users:read"},
        "too many scopes": {"name": "k", "scopes": ["users:read"] * 100},
        "unknown role": {"name": "k", "role": "owner"},
        "platform-admin role": {"name": "k", "role": "platform_admin"},
        "naive expiry": {"name": "k", "expires_at": "2030-01-01T00:00:00"},
        "expiry not a time": {"name": "k", "expires_at": "soon"},
        "client-chosen tenant": {"name": "k", "tenant_id": 2},
        "client-chosen owner": {"name": "k", "user_id": "00000000-0000-0000-0000-000000000000"},
        "client-chosen key": {"name": "k", "api_key": "orch_000000000000_mine"},
        "NUL in name": {"name": "k\u0000"},
    }
    before = await _counts(fresh_db)

    outcomes = {
        label: outcome(
            await lenient_client.post("/api/v1/api-keys", json=body, headers=tenant_a.headers)
        )
        for label, body in bodies.items()
    }

    assert _statuses(outcomes) == dict.fromkeys(outcomes, 422)
    assert await _counts(fresh_db) == before


async def test_bad_user_updates_are_refused_and_change_nothing(
    lenient_client: httpx.AsyncClient, tenant_a: Caller, fresh_db: URL
) -> None:
    user = await create_user(lenient_client, tenant_a.headers, "keep@example.com", full_name="K")
    url = f"/api/v1/users/{user['id']}"
    bodies = {
        "email is not changeable": {"email": "new@example.com"},
        "tenant is not changeable": {"tenant_id": 2},
        "unknown role": {"role": "root"},
        "active flag not a boolean": {"is_active": "maybe"},
        "password too short": {"password": "short"},
        "null active flag": {"is_active": None},
        "null role": {"role": None},
        "null timezone": {"timezone": None},
        "null settings": {"settings": None},
        "NUL in full_name": {"full_name": "a\u0000b"},
        "NUL in settings": {"settings": {"k": "a\u0000"}},
    }
    snapshot = "SELECT * FROM users WHERE id = $1::uuid"
    before_row = await sql(fresh_db, snapshot, user["id"])
    before = await _counts(fresh_db)

    outcomes = {
        label: outcome(await lenient_client.patch(url, json=body, headers=tenant_a.headers))
        for label, body in bodies.items()
    }
    malformed = await lenient_client.patch(
        url, content=b"{bad", headers={**tenant_a.headers, **JSON}
    )
    outcomes["malformed JSON"] = outcome(malformed)

    assert _statuses(outcomes) == dict.fromkeys(outcomes, 422)
    assert await sql(fresh_db, snapshot, user["id"]) == before_row
    assert await _counts(fresh_db) == before


async def test_bad_tenant_input_is_refused_and_changes_nothing(
    lenient_client: httpx.AsyncClient, tenant_a: Caller, platform_admin: Caller, fresh_db: URL
) -> None:
    h = platform_admin.headers
    url = f"/api/v1/tenants/{tenant_a.tenant_id}"
    requests = {
        "create without a name": ("POST", "/api/v1/tenants", {}),
        "create with an empty name": ("POST", "/api/v1/tenants", {"name": ""}),
        "create with a chosen id": ("POST", "/api/v1/tenants", {"name": "x", "id": 7}),
        "create with NUL in the name": ("POST", "/api/v1/tenants", {"name": "x\u0000"}),
        "rename to null": ("PATCH", url, {"name": None}),
        "null active flag": ("PATCH", url, {"is_active": None}),
        "null settings": ("PATCH", url, {"settings": None}),
        "active flag not a boolean": ("PATCH", url, {"is_active": "maybe"}),
    }
    snapshot = "SELECT * FROM tenants ORDER BY id"
    before_rows = await sql(fresh_db, snapshot)
    before = await _counts(fresh_db)

    outcomes = {
        label: outcome(await lenient_client.request(method, path, json=body, headers=h))
        for label, (method, path, body) in requests.items()
    }

    assert _statuses(outcomes) == dict.fromkeys(outcomes, 422)
    assert await sql(fresh_db, snapshot) == before_rows
    assert await _counts(fresh_db) == before


async def test_bad_ids_in_paths_are_refused(
    lenient_client: httpx.AsyncClient, tenant_a: Caller, platform_admin: Caller
) -> None:
    tenant_paths = {
        "tenant id not a number": "/api/v1/tenants/abc",
        "tenant id beyond int32": "/api/v1/tenants/99999999999",
        "tenant id beyond int64": f"/api/v1/tenants/{10**30}",
        "tenant id negative": "/api/v1/tenants/-1",
    }
    tenant_outcomes = {
        label: outcome(await lenient_client.get(path, headers=platform_admin.headers))
        for label, path in tenant_paths.items()
    } | {
        f"rename {label}": outcome(
            await lenient_client.patch(path, json={"name": "n"}, headers=platform_admin.headers)
        )
        for label, path in tenant_paths.items()
    }
    uuid_paths = {
        "user id not a uuid": "/api/v1/users/not-a-uuid",
        "key id a number": "/api/v1/api-keys/123",
        "audit id not a uuid": "/api/v1/audit-logs/zzz",
    }
    uuid_outcomes = {
        label: outcome(await lenient_client.get(path, headers=tenant_a.headers))
        for label, path in uuid_paths.items()
    }

    # No such tenant (404) or an id out of range (422): either way a refusal, not a crash.
    statuses = _statuses(tenant_outcomes)
    assert {label: s for label, s in statuses.items() if s not in (404, 422)} == {}
    assert uuid_outcomes == dict.fromkeys(uuid_outcomes, (422, "validation_error"))


async def test_bad_audit_filters_are_refused(
    lenient_client: httpx.AsyncClient, tenant_a: Caller
) -> None:
    filters = {
        "since not a time": {"since": "yesterday"},
        "until with month 13": {"until": "2024-13-01T00:00:00Z"},
        "actor too long": {"actor": "a" * 256},
        "NUL in action": {"action": "\u0000"},
        "NUL in resource id": {"resource_id": "x\u0000"},
        "since before year 1 in UTC": {"since": "0001-01-01T00:00:00+14:00"},
        "until after year 9999 in UTC": {"until": "9999-12-31T23:59:59-14:00"},
    }

    outcomes = {
        label: outcome(
            await lenient_client.get("/api/v1/audit-logs", params=query, headers=tenant_a.headers)
        )
        for label, query in filters.items()
    }

    assert _statuses(outcomes) == dict.fromkeys(outcomes, 422)


async def test_an_oversized_body_is_413_and_writes_nothing(
    client: httpx.AsyncClient, tenant_a: Caller, fresh_db: URL
) -> None:
    body = _padded_user("big@example.com", MIB + 1)
    before = await _counts(fresh_db)

    response = await client.post(
        "/api/v1/users", content=body, headers={**tenant_a.headers, **JSON}
    )

    error = error_of(response, 413, "body_too_large")
    assert error["details"] == {"max_bytes": MIB}
    assert response.headers["X-Request-ID"]
    assert await _counts(fresh_db) == before


async def test_an_oversized_streamed_body_is_413_and_writes_nothing(
    lenient_client: httpx.AsyncClient, tenant_a: Caller, fresh_db: URL
) -> None:
    body = _padded_user("streamed@example.com", 2 * MIB)
    before = await _counts(fresh_db)
    request = lenient_client.build_request(
        "POST", "/api/v1/users", content=_chunks(body), headers={**tenant_a.headers, **JSON}
    )
    assert "content-length" not in request.headers
    assert request.headers["transfer-encoding"] == "chunked"

    response = await lenient_client.send(request)

    assert outcome(response) == (413, "body_too_large")
    assert await _counts(fresh_db) == before


@pytest.fixture
async def small_limit_client(
    settings: Settings, runtime: Runtime
) -> AsyncIterator[httpx.AsyncClient]:
    """A client of an app whose body limit is 4096 bytes."""
    app = create_app(settings.model_copy(update={"max_body_bytes": 4096}), runtime=runtime)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False, client=(CLIENT_IP, 1))
    async with httpx.AsyncClient(transport=transport, base_url="http://orchestrator.test") as c:
        yield c


@pytest.mark.parametrize("streamed", [False, True], ids=["content-length", "chunked"])
async def test_the_body_limit_is_exact(
    small_limit_client: httpx.AsyncClient, tenant_a: Caller, fresh_db: URL, streamed: bool
) -> None:
    headers = {**tenant_a.headers, **JSON}
    at_limit = _padded_user("at@example.com", 4096)
    over_limit = _padded_user("over@example.com", 4097)

    def content(body: bytes) -> bytes | AsyncIterator[bytes]:
        """The body as sent: whole, or streamed in small chunks."""
        return _chunks(body, 1000) if streamed else body

    accepted = await small_limit_client.post(
        "/api/v1/users", content=content(at_limit), headers=headers
    )
    refused = await small_limit_client.post(
        "/api/v1/users", content=content(over_limit), headers=headers
    )

    assert accepted.status_code == 201, accepted.text
    assert outcome(refused) == (413, "body_too_large")
    emails = {r["email"] for r in await sql(fresh_db, "SELECT email FROM users")}
    assert emails == {"at@example.com"}


async def test_a_conflicting_create_leaves_the_existing_user_untouched(
    client: httpx.AsyncClient, tenant_a: Caller, fresh_db: URL
) -> None:
    await create_user(client, tenant_a.headers, "pw@example.com", password=PASSWORD)
    before = await sql(fresh_db, "SELECT * FROM users")

    response = await client.post(
        "/api/v1/users",
        json={"email": "pw@example.com", "password": "another-password-1"},
        headers=tenant_a.headers,
    )

    error_of(response, 409, "conflict")
    assert await sql(fresh_db, "SELECT * FROM users") == before


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/business-assets?asset_type=a%00b",
        "/api/v1/notes/search?q=%00",
        "/api/v1/conversations/search?q=x%00",
        "/api/v1/audit-logs?action=%00",
    ],
)
async def test_a_nul_in_the_url_is_a_422_not_a_500(
    client: httpx.AsyncClient, tenant_a: Caller, url: str
) -> None:
    """PostgreSQL text cannot hold NUL: every route refuses it before it reaches a query."""
    response = await client.get(url, headers=tenant_a.headers)
    assert "NUL" in error_of(response, 422, "invalid_input")["message"]
