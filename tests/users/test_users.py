"""Users through HTTP: CRUD, uniqueness, disabling and deleting, demotion, tenant isolation."""

import httpx
from sqlalchemy.engine import URL

from tests.helpers import PASSWORD, Caller, bearer, create_key, create_user, error_of, login, sql

USER_FIELDS = {
    "id",
    "tenant_id",
    "email",
    "username",
    "full_name",
    "role",
    "is_active",
    "timezone",
    "settings",
    "last_login_at",
    "created_at",
    "updated_at",
}


async def _user_count(url: URL) -> int:
    """How many user rows the database holds."""
    return (await sql(url, "SELECT count(*) AS n FROM users"))[0]["n"]


async def test_create_read_update_and_delete_a_user(
    client: httpx.AsyncClient, tenant_a: Caller, fresh_db: URL
) -> None:
    created = await create_user(
        client,
        tenant_a.headers,
        "Ada@Example.com",
        username="ada",
        full_name="Ada Lovelace",
        password=PASSWORD,
        role="viewer",
        timezone="Europe/London",
        settings={"theme": "dark"},
    )

    assert set(created) == USER_FIELDS
    assert created["email"] == "ada@example.com"
    assert created["tenant_id"] == tenant_a.tenant_id
    assert (created["role"], created["is_active"], created["settings"]) == (
        "viewer",
        True,
        {"theme": "dark"},
    )
    user_url = f"/api/v1/users/{created['id']}"
    shown = await client.get(user_url, headers=tenant_a.headers)
    assert shown.status_code == 200 and shown.json() == created
    listed = await client.get("/api/v1/users", headers=tenant_a.headers)
    assert [u["id"] for u in listed.json()["items"]] == [created["id"]]

    updated = await client.patch(
        user_url,
        json={"full_name": "Countess Lovelace", "role": "member"},
        headers=tenant_a.headers,
    )
    assert updated.status_code == 200
    assert updated.json()["full_name"] == "Countess Lovelace"
    assert updated.json()["role"] == "member"
    assert updated.json()["username"] == "ada"  # Omitted fields stay as they were.
    assert updated.json()["updated_at"] >= created["updated_at"]

    deleted = await client.delete(user_url, headers=tenant_a.headers)
    assert deleted.status_code == 204
    error_of(await client.get(user_url, headers=tenant_a.headers), 404, "not_found")
    error_of(await client.delete(user_url, headers=tenant_a.headers), 404, "not_found")
    assert await _user_count(fresh_db) == 0


async def test_a_duplicate_email_is_a_conflict(
    client: httpx.AsyncClient, tenant_a: Caller, fresh_db: URL
) -> None:
    await create_user(client, tenant_a.headers, "bo@example.com")

    same_email = await client.post(
        "/api/v1/users", json={"email": "BO@example.com"}, headers=tenant_a.headers
    )

    assert "email" in error_of(same_email, 409, "conflict")["message"]
    assert await _user_count(fresh_db) == 1


async def test_a_duplicate_username_is_a_conflict_within_a_tenant_only(
    client: httpx.AsyncClient, tenant_a: Caller, tenant_b: Caller, fresh_db: URL
) -> None:
    await create_user(client, tenant_a.headers, "bo@example.com", username="bo")
    other = await create_user(client, tenant_a.headers, "cy@example.com", username="cy")

    same_username = await client.post(
        "/api/v1/users",
        json={"email": "new@example.com", "username": "bo"},
        headers=tenant_a.headers,
    )
    renamed_onto = await client.patch(
        f"/api/v1/users/{other['id']}", json={"username": "bo"}, headers=tenant_a.headers
    )
    elsewhere = await client.post(
        "/api/v1/users",
        json={"email": "bo@b.example.com", "username": "bo"},
        headers=tenant_b.headers,
    )

    assert "username" in error_of(same_username, 409, "conflict")["message"]
    error_of(renamed_onto, 409, "conflict")
    assert elsewhere.status_code == 201, elsewhere.text
    rows = await sql(fresh_db, "SELECT tenant_id, username FROM users ORDER BY tenant_id, username")
    assert [(r["tenant_id"], r["username"]) for r in rows] == [
        (tenant_a.tenant_id, "bo"),
        (tenant_a.tenant_id, "cy"),
        (tenant_b.tenant_id, "bo"),
    ]


async def test_disabling_a_user_ends_their_keys_and_sessions_at_once(
    client: httpx.AsyncClient, tenant_a: Caller
) -> None:
    user = await create_user(
        client, tenant_a.headers, "dee@example.com", password=PASSWORD, role="admin"
    )
    session = await login(client, "dee@example.com")
    own_key = await create_key(client, bearer(session), "dee's key")
    assert own_key["user_id"] == user["id"]
    for headers in (bearer(session), bearer(own_key["api_key"])):
        assert (await client.get("/api/v1/me", headers=headers)).status_code == 200

    disabled = await client.patch(
        f"/api/v1/users/{user['id']}", json={"is_active": False}, headers=tenant_a.headers
    )

    assert disabled.status_code == 200 and disabled.json()["is_active"] is False
    for headers in (bearer(session), bearer(own_key["api_key"])):
        error_of(await client.get("/api/v1/me", headers=headers), 401, "unauthorized")
    refused = await client.post(
        "/api/v1/auth/login", json={"email": "dee@example.com", "password": PASSWORD}
    )
    error_of(refused, 401, "unauthorized")

    enabled = await client.patch(
        f"/api/v1/users/{user['id']}", json={"is_active": True}, headers=tenant_a.headers
    )
    assert enabled.status_code == 200
    assert (await client.get("/api/v1/me", headers=bearer(own_key["api_key"]))).status_code == 200


async def test_deleting_a_user_ends_their_keys_and_sessions(
    client: httpx.AsyncClient, tenant_a: Caller, fresh_db: URL
) -> None:
    user = await create_user(
        client, tenant_a.headers, "eve@example.com", password=PASSWORD, role="admin"
    )
    session = await login(client, "eve@example.com")
    own_key = await create_key(client, bearer(session), "eve's key")

    deleted = await client.delete(f"/api/v1/users/{user['id']}", headers=tenant_a.headers)

    assert deleted.status_code == 204
    for headers in (bearer(session), bearer(own_key["api_key"])):
        error_of(await client.get("/api/v1/me", headers=headers), 401, "unauthorized")
    for table in ("api_keys", "user_sessions"):
        rows = await sql(fresh_db, f"SELECT id FROM {table} WHERE user_id = $1::uuid", user["id"])
        assert rows == [], table


async def test_a_demoted_users_keys_lose_the_old_role(
    client: httpx.AsyncClient, tenant_a: Caller, fresh_db: URL
) -> None:
    user = await create_user(
        client, tenant_a.headers, "fay@example.com", password=PASSWORD, role="admin"
    )
    own_key = await create_key(client, bearer(await login(client, "fay@example.com")), "fay's key")

    demoted = await client.patch(
        f"/api/v1/users/{user['id']}", json={"role": "viewer"}, headers=tenant_a.headers
    )

    assert demoted.status_code == 200
    headers = bearer(own_key["api_key"])
    write = await client.post(
        "/api/v1/users", json={"email": "sneaky@example.com"}, headers=headers
    )
    error_of(write, 403, "forbidden")
    error_of(await client.get("/api/v1/api-keys", headers=headers), 403, "forbidden")
    assert await sql(fresh_db, "SELECT id FROM users WHERE email = 'sneaky@example.com'") == []


async def test_a_member_session_reads_users_but_cannot_write_them(
    client: httpx.AsyncClient, tenant_a: Caller
) -> None:
    await create_user(client, tenant_a.headers, "gus@example.com", password=PASSWORD)
    headers = bearer(await login(client, "gus@example.com"))

    assert (await client.get("/api/v1/users", headers=headers)).status_code == 200
    write = await client.post("/api/v1/users", json={"email": "h@example.com"}, headers=headers)
    error_of(write, 403, "forbidden")


async def test_tenant_b_users_are_never_visible_to_tenant_a(
    client: httpx.AsyncClient, tenant_a: Caller, tenant_b: Caller, fresh_db: URL
) -> None:
    theirs = await create_user(client, tenant_b.headers, "bee@example.com", full_name="Bee")
    ours = await create_user(client, tenant_a.headers, "ayy@example.com")
    url = f"/api/v1/users/{theirs['id']}"

    listed = await client.get("/api/v1/users", headers=tenant_a.headers)
    shown = await client.get(url, headers=tenant_a.headers)
    patched = await client.patch(url, json={"full_name": "Hijacked"}, headers=tenant_a.headers)
    deleted = await client.delete(url, headers=tenant_a.headers)

    assert [u["id"] for u in listed.json()["items"]] == [ours["id"]]
    for response in (shown, patched, deleted):
        error_of(response, 404, "not_found")
    rows = await sql(fresh_db, "SELECT full_name FROM users WHERE id = $1::uuid", theirs["id"])
    assert rows[0]["full_name"] == "Bee"
    b_view = await client.get(url, headers=tenant_b.headers)
    assert b_view.status_code == 200 and b_view.json()["full_name"] == "Bee"
