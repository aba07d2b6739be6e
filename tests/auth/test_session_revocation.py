"""A password change or a disable revokes the user's sessions (they used to stay alive: a
stolen session outlived the password it came from, and a re-enabled user got every old session
back). API keys are separate credentials: a password change leaves them working, a disable
suspends them until the user is enabled again."""

import httpx
from sqlalchemy.engine import URL

from tests.helpers import PASSWORD, Caller, bearer, create_key, create_user, error_of, login, sql

NEW_PASSWORD = "another-horse-battery-staple"


async def _me(client: httpx.AsyncClient, token: str) -> int:
    return (await client.get("/api/v1/me", headers=bearer(token))).status_code


async def test_an_admin_changing_a_password_ends_every_session_of_that_user(
    client: httpx.AsyncClient, tenant_a: Caller, fresh_db: URL
) -> None:
    user = await create_user(
        client, tenant_a.headers, "pam@example.com", password=PASSWORD, role="admin"
    )
    laptop, phone = await login(client, user["email"]), await login(client, user["email"])
    key = await create_key(client, bearer(laptop), "pam's key")
    other = await create_user(client, tenant_a.headers, "quinn@example.com", password=PASSWORD)
    bystander = await login(client, other["email"])

    changed = await client.patch(
        f"/api/v1/users/{user['id']}", json={"password": NEW_PASSWORD}, headers=tenant_a.headers
    )

    assert changed.status_code == 200, changed.text
    for token in (laptop, phone):
        error_of(await client.get("/api/v1/me", headers=bearer(token)), 401, "unauthorized")
    assert await _me(client, key["api_key"]) == 200  # keys are not sessions
    assert await _me(client, bystander) == 200  # only that user's sessions
    assert await _me(client, await login(client, user["email"], NEW_PASSWORD)) == 200
    [entry] = await sql(
        fresh_db,
        "SELECT new_values FROM audit_logs WHERE action = 'revoke_sessions' AND resource_id = $1",
        user["id"],
    )
    assert '"password changed"' in entry["new_values"] and '"sessions": 2' in entry["new_values"]


async def test_changing_ones_own_password_keeps_the_session_that_did_it(
    client: httpx.AsyncClient, tenant_a: Caller
) -> None:
    user = await create_user(
        client, tenant_a.headers, "ray@example.com", password=PASSWORD, role="admin"
    )
    here, elsewhere = await login(client, user["email"]), await login(client, user["email"])

    changed = await client.patch(
        f"/api/v1/users/{user['id']}", json={"password": NEW_PASSWORD}, headers=bearer(here)
    )

    assert changed.status_code == 200, changed.text
    assert await _me(client, here) == 200
    assert await _me(client, elsewhere) == 401


async def test_disabling_a_user_ends_their_sessions_for_good_and_suspends_their_keys(
    client: httpx.AsyncClient, tenant_a: Caller
) -> None:
    user = await create_user(
        client, tenant_a.headers, "sol@example.com", password=PASSWORD, role="admin"
    )
    session = await login(client, user["email"])
    key = await create_key(client, bearer(session), "sol's key")
    url = f"/api/v1/users/{user['id']}"

    disabled = await client.patch(url, json={"is_active": False}, headers=tenant_a.headers)
    assert disabled.status_code == 200
    assert (await _me(client, session), await _me(client, key["api_key"])) == (401, 401)

    enabled = await client.patch(url, json={"is_active": True}, headers=tenant_a.headers)
    assert enabled.status_code == 200
    assert await _me(client, session) == 401  # revoked, not merely suspended
    assert await _me(client, key["api_key"]) == 200  # suspended, back with the user


async def test_other_changes_leave_sessions_alone(
    client: httpx.AsyncClient, tenant_a: Caller
) -> None:
    user = await create_user(client, tenant_a.headers, "tam@example.com", password=PASSWORD)
    session = await login(client, user["email"])

    for change in ({"full_name": "Tam"}, {"role": "viewer"}, {"is_active": True}):
        response = await client.patch(
            f"/api/v1/users/{user['id']}", json=change, headers=tenant_a.headers
        )
        assert response.status_code == 200, response.text

    assert await _me(client, session) == 200
