"""Password login through HTTP: session tokens, one 401 for every failure, logout, auditing."""

from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy.engine import URL

from tests.helpers import (
    CLIENT_IP,
    PASSWORD,
    Caller,
    bearer,
    create_user,
    error_of,
    login,
    outcome,
    sql,
)

LOGIN = "/api/v1/auth/login"


async def test_login_returns_a_session_token_that_works_as_a_bearer(
    client: httpx.AsyncClient, tenant_a: Caller, fresh_db: URL
) -> None:
    user = await create_user(
        client, tenant_a.headers, "ann@example.com", password=PASSWORD, role="viewer"
    )

    response = await client.post(LOGIN, json={"email": "ANN@example.com", "password": PASSWORD})

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"token", "expires_at"}
    expires_at = datetime.fromisoformat(body["expires_at"])
    assert (
        datetime.now(UTC) + timedelta(hours=1) < expires_at < datetime.now(UTC) + timedelta(days=2)
    )
    me = await client.get("/api/v1/me", headers=bearer(body["token"]))
    assert me.status_code == 200
    assert me.json()["user_id"] == user["id"]
    assert me.json()["email"] == "ann@example.com"
    assert me.json()["tenant_id"] == tenant_a.tenant_id
    assert me.json()["role"] == "viewer"
    assert me.json()["key_id"] is None
    rows = await sql(fresh_db, "SELECT token_hash, ip_address::text AS ip FROM user_sessions")
    assert len(rows) == 1 and rows[0]["ip"].split("/")[0] == CLIENT_IP
    shown = await client.get(f"/api/v1/users/{user['id']}", headers=tenant_a.headers)
    assert shown.json()["last_login_at"] is not None


async def test_a_session_carries_the_users_role(
    client: httpx.AsyncClient, tenant_a: Caller
) -> None:
    await create_user(client, tenant_a.headers, "vic@example.com", password=PASSWORD, role="viewer")
    headers = bearer(await login(client, "vic@example.com"))

    assert (await client.get("/api/v1/users", headers=headers)).status_code == 200
    write = await client.post("/api/v1/users", json={"email": "x@example.com"}, headers=headers)
    error_of(write, 403, "forbidden")


async def test_every_refused_login_gets_the_same_401(
    client: httpx.AsyncClient, tenant_a: Caller, tenant_b: Caller, platform_admin: Caller
) -> None:
    await create_user(client, tenant_a.headers, "kim@example.com", password=PASSWORD)
    await create_user(client, tenant_a.headers, "nopw@example.com")
    off = await create_user(client, tenant_a.headers, "off@example.com", password=PASSWORD)
    await client.patch(
        f"/api/v1/users/{off['id']}", json={"is_active": False}, headers=tenant_a.headers
    )
    await create_user(client, tenant_b.headers, "gone@example.com", password=PASSWORD)
    await client.patch(
        f"/api/v1/tenants/{tenant_b.tenant_id}",
        json={"is_active": False},
        headers=platform_admin.headers,
    )
    attempts = {
        "wrong password": ("kim@example.com", "not-the-password"),
        "unknown email": ("nobody@example.com", PASSWORD),
        "user without password": ("nopw@example.com", PASSWORD),
        "disabled user": ("off@example.com", PASSWORD),
        "disabled tenant": ("gone@example.com", PASSWORD),
    }

    responses = {
        why: await client.post(LOGIN, json={"email": email, "password": password})
        for why, (email, password) in attempts.items()
    }

    reference = responses["wrong password"]
    error_of(reference, 401, "unauthorized")
    for why, response in responses.items():
        assert response.status_code == 401, why
        assert response.json() == reference.json(), why
        assert response.headers["WWW-Authenticate"] == reference.headers["WWW-Authenticate"], why


async def test_a_user_without_a_password_cannot_log_in(
    client: httpx.AsyncClient, tenant_a: Caller, fresh_db: URL
) -> None:
    await create_user(client, tenant_a.headers, "sso@example.com")
    # "no-such-user" is the password of the hash verified when there is none to verify.
    attempts = [PASSWORD, "no-such-user", "x"]

    outcomes = [
        outcome(await client.post(LOGIN, json={"email": "sso@example.com", "password": p}))
        for p in attempts
    ]

    assert outcomes == [(401, "unauthorized")] * len(attempts)
    assert await sql(fresh_db, "SELECT id FROM user_sessions") == []


async def test_logout_ends_the_session(
    client: httpx.AsyncClient, tenant_a: Caller, fresh_db: URL
) -> None:
    await create_user(client, tenant_a.headers, "lou@example.com", password=PASSWORD)
    token = await login(client, "lou@example.com")
    other = await login(client, "lou@example.com")

    logout = await client.post("/api/v1/auth/logout", headers=bearer(token))

    assert logout.status_code == 204
    error_of(await client.get("/api/v1/me", headers=bearer(token)), 401, "unauthorized")
    error_of(await client.post("/api/v1/auth/logout", headers=bearer(token)), 401)
    # Only that session ended: the user's other login still works.
    assert (await client.get("/api/v1/me", headers=bearer(other))).status_code == 200
    rows = await sql(
        fresh_db, "SELECT count(*) AS n FROM user_sessions WHERE revoked_at IS NOT NULL"
    )
    assert rows[0]["n"] == 1


async def test_logout_with_an_api_key_leaves_the_key_working(
    client: httpx.AsyncClient, tenant_a: Caller
) -> None:
    response = await client.post("/api/v1/auth/logout", headers=tenant_a.headers)

    assert response.status_code == 204
    assert (await client.get("/api/v1/me", headers=tenant_a.headers)).status_code == 200


async def test_a_session_token_is_not_an_api_key_and_vice_versa(
    client: httpx.AsyncClient, tenant_a: Caller
) -> None:
    await create_user(client, tenant_a.headers, "sam@example.com", password=PASSWORD)
    token = await login(client, "sam@example.com")
    # Same secret, other kind: the marker decides which table is searched, and neither matches.
    as_key = "orch_" + token.removeprefix("orchs_")
    as_session = "orchs_" + tenant_a.api_key.removeprefix("orch_")

    for forged in (as_key, as_session):
        error_of(await client.get("/api/v1/me", headers=bearer(forged)), 401, "unauthorized")


async def test_successful_and_failed_logins_are_audited(
    client: httpx.AsyncClient, tenant_a: Caller, fresh_db: URL
) -> None:
    user = await create_user(client, tenant_a.headers, "aud@example.com", password=PASSWORD)
    context = {"User-Agent": "login-test/2.0"}

    failed = await client.post(
        LOGIN,
        json={"email": "aud@example.com", "password": "wrong-password"},
        headers={**context, "X-Request-ID": "login-failed-1"},
    )
    unknown = await client.post(
        LOGIN,
        json={"email": "ghost@example.com", "password": "wrong-password"},
        headers={**context, "X-Request-ID": "login-unknown-1"},
    )
    ok = await client.post(
        LOGIN,
        json={"email": "aud@example.com", "password": PASSWORD},
        headers={**context, "X-Request-ID": "login-ok-1"},
    )

    assert (failed.status_code, unknown.status_code, ok.status_code) == (401, 401, 200)
    logs = await client.get(
        "/api/v1/audit-logs", params={"resource_type": "session"}, headers=tenant_a.headers
    )
    entries = {e["request_id"]: e for e in logs.json()["items"]}
    assert set(entries) == {"login-failed-1", "login-ok-1"}
    refused, accepted = entries["login-failed-1"], entries["login-ok-1"]
    assert refused["action"] == "login_failed"
    assert refused["new_values"] == {"email": "aud@example.com"}
    assert accepted["action"] == "login"
    (session_id,) = [r["id"] for r in await sql(fresh_db, "SELECT id FROM user_sessions")]
    assert accepted["resource_id"] == str(session_id)
    for entry in (refused, accepted):
        assert entry["actor"] == f"user:{user['id']}"
        assert entry["user_id"] == user["id"]
        assert entry["tenant_id"] == tenant_a.tenant_id
        assert entry["ip_address"] == CLIENT_IP
        assert entry["user_agent"] == "login-test/2.0"
    # A refused login of an unknown email belongs to no tenant, but is recorded all the same.
    rows = await sql(
        fresh_db,
        "SELECT tenant_id, actor, action, new_values::text AS new FROM audit_logs "
        "WHERE request_id = 'login-unknown-1'",
    )
    assert len(rows) == 1
    assert (rows[0]["tenant_id"], rows[0]["actor"], rows[0]["action"]) == (
        None,
        "anonymous",
        "login_failed",
    )
    assert "ghost@example.com" in rows[0]["new"]


async def test_a_malformed_login_is_a_422_and_records_nothing(
    client: httpx.AsyncClient, tenant_a: Caller, fresh_db: URL
) -> None:
    bodies = {
        "no password": {"email": "ann@example.com"},
        "no email": {"password": PASSWORD},
        "bad email": {"email": "not-an-email", "password": PASSWORD},
        "empty password": {"email": "ann@example.com", "password": ""},
        "password too long": {"email": "ann@example.com", "password": "p" * 257},
        "client-chosen tenant": {"email": "ann@example.com", "password": PASSWORD, "tenant_id": 1},
    }

    outcomes = {label: outcome(await client.post(LOGIN, json=b)) for label, b in bodies.items()}

    assert outcomes == dict.fromkeys(bodies, (422, "validation_error"))
    assert await sql(fresh_db, "SELECT id FROM audit_logs WHERE action = 'login_failed'") == []
