"""API keys through HTTP: shown once, hashed at rest, revocable, expiring, scoped and role-bound."""

from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy.engine import URL

from tests.helpers import (
    PASSWORD,
    Caller,
    bearer,
    create_key,
    create_user,
    error_of,
    login,
    outcome,
    sql,
)

KEY_FIELDS = {
    "id",
    "name",
    "prefix",
    "role",
    "scopes",
    "user_id",
    "parent_key_id",
    "expires_at",
    "last_used_at",
    "revoked_at",
    "created_at",
}


async def test_a_new_key_is_shown_once_and_works_as_a_bearer_token(
    client: httpx.AsyncClient, tenant_a: Caller, fresh_db: URL
) -> None:
    created = await create_key(client, tenant_a.headers, "ci deploys", role="member")
    plaintext = created["api_key"]

    assert set(created) == KEY_FIELDS | {"api_key"}
    assert plaintext.startswith(created["prefix"] + "_")
    assert created["role"] == "member" and created["scopes"] == ["*"]
    me = await client.get("/api/v1/me", headers=bearer(plaintext))
    assert me.status_code == 200
    assert me.json()["key_id"] == created["id"]
    assert me.json()["tenant_id"] == tenant_a.tenant_id
    assert me.json()["role"] == "member"

    listed = await client.get("/api/v1/api-keys", headers=tenant_a.headers)
    shown = await client.get(f"/api/v1/api-keys/{created['id']}", headers=tenant_a.headers)
    (stored_hash,) = [
        r["key_hash"]
        for r in await sql(fresh_db, "SELECT key_hash FROM api_keys WHERE name = $1", "ci deploys")
    ]
    for response in (listed, shown):
        assert response.status_code == 200
        assert plaintext not in response.text
        assert stored_hash not in response.text
    assert set(shown.json()) == KEY_FIELDS
    assert shown.json()["prefix"] == created["prefix"]
    entry = next(k for k in listed.json()["items"] if k["id"] == created["id"])
    assert set(entry) == KEY_FIELDS
    assert entry["name"] == "ci deploys"


async def test_a_revoked_key_stops_working_at_once(
    client: httpx.AsyncClient, tenant_a: Caller
) -> None:
    key = await create_key(client, tenant_a.headers, "short-lived")
    assert (await client.get("/api/v1/users", headers=bearer(key["api_key"]))).status_code == 200

    revoked = await client.delete(f"/api/v1/api-keys/{key['id']}", headers=tenant_a.headers)

    assert revoked.status_code == 204
    refused = await client.get("/api/v1/users", headers=bearer(key["api_key"]))
    error_of(refused, 401, "unauthorized")
    assert refused.headers["WWW-Authenticate"].startswith("Bearer")
    shown = await client.get(f"/api/v1/api-keys/{key['id']}", headers=tenant_a.headers)
    assert shown.json()["revoked_at"] is not None
    again = await client.delete(f"/api/v1/api-keys/{key['id']}", headers=tenant_a.headers)
    assert again.status_code == 204


async def test_a_key_can_revoke_itself(client: httpx.AsyncClient, tenant_a: Caller) -> None:
    key = await create_key(client, tenant_a.headers, "self-destruct")

    response = await client.delete(f"/api/v1/api-keys/{key['id']}", headers=bearer(key["api_key"]))

    assert response.status_code == 204
    error_of(await client.get("/api/v1/me", headers=bearer(key["api_key"])), 401)


async def test_expired_keys_are_refused(
    client: httpx.AsyncClient, tenant_a: Caller, fresh_db: URL
) -> None:
    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    future = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    born_expired = await create_key(client, tenant_a.headers, "born expired", expires_at=past)
    later = await create_key(client, tenant_a.headers, "expires later", expires_at=future)

    error_of(await client.get("/api/v1/me", headers=bearer(born_expired["api_key"])), 401)
    assert (await client.get("/api/v1/me", headers=bearer(later["api_key"]))).status_code == 200

    await sql(
        fresh_db,
        "UPDATE api_keys SET expires_at = now() - interval '1 second' WHERE id = $1::uuid",
        later["id"],
    )
    error_of(await client.get("/api/v1/me", headers=bearer(later["api_key"])), 401)


async def test_a_key_with_narrowed_scopes_can_only_do_what_they_allow(
    client: httpx.AsyncClient, tenant_a: Caller
) -> None:
    key = await create_key(client, tenant_a.headers, "read users", scopes=["users:read"])
    headers = bearer(key["api_key"])

    assert key["role"] == "admin" and key["scopes"] == ["users:read"]
    assert (await client.get("/api/v1/users", headers=headers)).status_code == 200
    write = await client.post("/api/v1/users", json={"email": "x@example.com"}, headers=headers)
    error = error_of(write, 403, "forbidden")
    assert error["details"] == {"scope": "users:write"}
    error_of(await client.get("/api/v1/api-keys", headers=headers), 403, "forbidden")
    error_of(await client.get("/api/v1/audit-logs", headers=headers), 403, "forbidden")


async def test_a_narrowed_key_cannot_mint_a_wider_one(
    client: httpx.AsyncClient, tenant_a: Caller, fresh_db: URL
) -> None:
    narrow = await create_key(
        client, tenant_a.headers, "key minter", scopes=["api_keys:read", "api_keys:write"]
    )
    wider = {
        "default scopes": {"name": "wider 1"},
        "every scope": {"name": "wider 2", "scopes": ["*"]},
        "a scope it lacks": {"name": "wider 3", "scopes": ["users:write", "api_keys:write"]},
    }

    outcomes = {
        label: outcome(
            await client.post("/api/v1/api-keys", json=body, headers=bearer(narrow["api_key"]))
        )
        for label, body in wider.items()
    }

    assert outcomes == dict.fromkeys(wider, (403, "forbidden"))
    assert await sql(fresh_db, "SELECT id FROM api_keys WHERE name LIKE 'wider%'") == []


async def test_a_narrowed_key_may_mint_a_key_within_its_scopes(
    client: httpx.AsyncClient, tenant_a: Caller
) -> None:
    narrow = await create_key(
        client, tenant_a.headers, "key minter", scopes=["api_keys:write", "users:read"]
    )

    minted = await create_key(client, bearer(narrow["api_key"]), "reader", scopes=["users:read"])

    assert minted["scopes"] == ["users:read"]
    assert (await client.get("/api/v1/users", headers=bearer(minted["api_key"]))).status_code == 200


async def test_a_viewer_reads_users_but_writes_nothing(
    client: httpx.AsyncClient, tenant_a: Caller
) -> None:
    viewer = bearer(
        (await create_key(client, tenant_a.headers, "viewer", role="viewer"))["api_key"]
    )

    assert (await client.get("/api/v1/users", headers=viewer)).status_code == 200
    write = await client.post("/api/v1/users", json={"email": "v@example.com"}, headers=viewer)
    error_of(write, 403, "forbidden")
    error_of(await client.post("/api/v1/api-keys", json={"name": "x"}, headers=viewer), 403)
    error_of(await client.get("/api/v1/api-keys", headers=viewer), 403)
    error_of(await client.get("/api/v1/audit-logs", headers=viewer), 403)


async def test_a_member_cannot_create_an_admin_key(
    client: httpx.AsyncClient, tenant_a: Caller, fresh_db: URL
) -> None:
    member_key = await create_key(client, tenant_a.headers, "member key", role="member")
    await create_user(client, tenant_a.headers, "mia@example.com", password=PASSWORD)
    member_session = await login(client, "mia@example.com")
    me = await client.get("/api/v1/me", headers=bearer(member_key["api_key"]))
    assert me.json()["role"] == "member"

    for headers in (bearer(member_key["api_key"]), bearer(member_session)):
        response = await client.post(
            "/api/v1/api-keys", json={"name": "escalated", "role": "admin"}, headers=headers
        )
        error_of(response, 403, "forbidden")
    assert await sql(fresh_db, "SELECT id FROM api_keys WHERE name = 'escalated'") == []


async def test_last_used_at_is_set_when_a_key_is_used(
    client: httpx.AsyncClient, tenant_a: Caller
) -> None:
    key = await create_key(client, tenant_a.headers, "tracked")
    before = await client.get(f"/api/v1/api-keys/{key['id']}", headers=tenant_a.headers)
    assert before.json()["last_used_at"] is None
    started = datetime.now(UTC)

    assert (await client.get("/api/v1/me", headers=bearer(key["api_key"]))).status_code == 200

    after = await client.get(f"/api/v1/api-keys/{key['id']}", headers=tenant_a.headers)
    used = datetime.fromisoformat(after.json()["last_used_at"])
    assert started - timedelta(seconds=5) <= used <= datetime.now(UTC) + timedelta(seconds=5)


async def test_a_duplicate_key_name_is_a_conflict_within_a_tenant_only(
    client: httpx.AsyncClient, tenant_a: Caller, tenant_b: Caller, fresh_db: URL
) -> None:
    await create_key(client, tenant_a.headers, "deploy")

    duplicate = await client.post(
        "/api/v1/api-keys", json={"name": "deploy"}, headers=tenant_a.headers
    )
    elsewhere = await client.post(
        "/api/v1/api-keys", json={"name": "deploy"}, headers=tenant_b.headers
    )

    error = error_of(duplicate, 409, "conflict")
    assert "already exists" in error["message"]
    assert elsewhere.status_code == 201
    rows = await sql(fresh_db, "SELECT tenant_id FROM api_keys WHERE name = 'deploy' ORDER BY 1")
    assert [r["tenant_id"] for r in rows] == [tenant_a.tenant_id, tenant_b.tenant_id]


async def test_another_tenants_key_is_not_found(
    client: httpx.AsyncClient, tenant_a: Caller, tenant_b: Caller
) -> None:
    key = await create_key(client, tenant_a.headers, "a's key")

    shown = await client.get(f"/api/v1/api-keys/{key['id']}", headers=tenant_b.headers)
    revoked = await client.delete(f"/api/v1/api-keys/{key['id']}", headers=tenant_b.headers)
    listed = await client.get("/api/v1/api-keys", headers=tenant_b.headers)

    error_of(shown, 404, "not_found")
    error_of(revoked, 404, "not_found")
    assert key["id"] not in listed.text
    assert (await client.get("/api/v1/me", headers=bearer(key["api_key"]))).status_code == 200


async def test_platform_and_tenant_keys_stay_on_their_side(
    client: httpx.AsyncClient, tenant_a: Caller, platform_admin: Caller
) -> None:
    error_of(await client.get("/api/v1/users", headers=platform_admin.headers), 403, "forbidden")
    error_of(await client.get("/api/v1/tenants", headers=tenant_a.headers), 403, "forbidden")
    assert (await client.get("/api/v1/tenants", headers=platform_admin.headers)).status_code == 200


async def test_missing_or_unknown_credentials_get_401(client: httpx.AsyncClient) -> None:
    authorizations = {
        "no header": None,
        "basic auth": "Basic dXNlcjpwYXNz",
        "bearer without token": "Bearer",
        "not a token": "Bearer not-a-token",
        "unknown key": "Bearer orch_000000000000_unknownsecret",
        "unknown session": "Bearer orchs_000000000000_unknownsecret",
    }

    responses = {
        label: await client.get("/api/v1/me", headers={"Authorization": value} if value else {})
        for label, value in authorizations.items()
    }

    assert {k: outcome(r) for k, r in responses.items()} == dict.fromkeys(
        authorizations, (401, "unauthorized")
    )
    assert all(r.headers["WWW-Authenticate"].startswith("Bearer") for r in responses.values())


async def test_a_key_with_a_tampered_secret_is_refused(
    client: httpx.AsyncClient, tenant_a: Caller
) -> None:
    token = tenant_a.api_key
    tampered = token[:-1] + ("A" if token[-1] != "A" else "B")

    response = await client.get("/api/v1/me", headers=bearer(tampered))

    error_of(response, 401, "unauthorized")
