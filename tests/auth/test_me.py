"""`/me` (issue 17): a user changes their own profile, and their own password with the current
one, which ends their other sessions and says how many. A wrong current password is a 403 that
counts against the login throttle; a weak or unchanged new password is a 422 naming the field;
a key acting for no user has no profile to change."""

import httpx
from sqlalchemy.engine import URL

from tests.helpers import PASSWORD, Caller, bearer, create_key, create_user, error_of, login, sql

STRONG = "quartz-lantern-ferry-meadow"


async def _me(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.get("/api/v1/me", headers=bearer(token))


async def test_a_user_changes_their_own_profile_and_nothing_an_admin_decides(
    client: httpx.AsyncClient, tenant_a: Caller
) -> None:
    user = await create_user(client, tenant_a.headers, "sol@example.com", password=PASSWORD)
    token = await login(client, user["email"])

    changed = await client.patch(
        "/api/v1/me",
        headers=bearer(token),
        json={"full_name": "Sol Ríos", "username": "sol", "timezone": "America/Lima"},
    )

    assert changed.status_code == 200, changed.text
    body = changed.json()
    assert (body["full_name"], body["username"], body["timezone"]) == (
        "Sol Ríos",
        "sol",
        "America/Lima",
    )
    for field, value in {"role": "admin", "is_active": False, "email": "x@example.com"}.items():
        refused = await client.patch("/api/v1/me", headers=bearer(token), json={field: value})
        error_of(refused, 422)
    error_of(
        await client.patch("/api/v1/me", headers=bearer(token), json={"timezone": "Mars/Base"}),
        422,
    )
    shown = await client.get(f"/api/v1/users/{user['id']}", headers=tenant_a.headers)
    assert (shown.json()["role"], shown.json()["full_name"]) == ("member", "Sol Ríos")


async def test_changing_ones_password_ends_the_other_sessions_and_says_so(
    client: httpx.AsyncClient, tenant_a: Caller, fresh_db: URL
) -> None:
    user = await create_user(
        client, tenant_a.headers, "tai@example.com", password=PASSWORD, role="admin"
    )
    here, laptop, phone = [await login(client, user["email"]) for _ in range(3)]
    key = await create_key(client, bearer(here), "tai's script")

    changed = await client.post(
        "/api/v1/me/password",
        headers=bearer(here),
        json={"current_password": PASSWORD, "new_password": STRONG},
    )

    assert changed.status_code == 200, changed.text
    assert changed.json()["sessions_revoked"] == 2
    assert "2 other session(s) ended" in changed.json()["message"]
    assert (await _me(client, here)).status_code == 200
    for token in (laptop, phone):
        error_of(await _me(client, token), 401, "unauthorized")
    assert (await _me(client, key["api_key"])).status_code == 200  # keys are not sessions
    error_of(
        await client.post(
            "/api/v1/auth/login", json={"email": user["email"], "password": PASSWORD}
        ),
        401,
    )
    assert (await _me(client, await login(client, user["email"], STRONG))).status_code == 200
    rows = await sql(
        fresh_db,
        "SELECT new_values FROM audit_logs WHERE action = 'revoke_sessions' AND resource_id = $1",
        user["id"],
    )
    assert [r["new_values"].count('"sessions": 2') for r in rows] == [1]
    assert PASSWORD not in str(rows) and STRONG not in str(rows)


async def test_wrong_weak_or_unchanged_passwords_are_refused_and_change_nothing(
    client: httpx.AsyncClient, tenant_a: Caller
) -> None:
    user = await create_user(
        client, tenant_a.headers, "uma.quispe@example.com", password=PASSWORD, full_name="Uma"
    )
    here, other = await login(client, user["email"]), await login(client, user["email"])
    cases = {
        "wrong current": ({"current_password": "not-my-password", "new_password": STRONG}, 403),
        "common": ({"current_password": PASSWORD, "new_password": "password1234"}, 422),
        "repeated": ({"current_password": PASSWORD, "new_password": "aaaaaaaaaaaaaa"}, 422),
        "own email": ({"current_password": PASSWORD, "new_password": "uma.quispe2024"}, 422),
        "too short": ({"current_password": PASSWORD, "new_password": "Xy7#q"}, 422),
        "unchanged": ({"current_password": PASSWORD, "new_password": PASSWORD}, 422),
    }
    for what, (body, status) in cases.items():
        response = await client.post("/api/v1/me/password", headers=bearer(here), json=body)
        error = error_of(response, status)
        if status == 403:
            assert error["code"] == "wrong_password", what
            assert error["details"] == {"field": "current_password"}, what
        elif what != "too short":
            assert error["details"] == {"field": "new_password"}, (what, error)
            assert "new password" in error["message"], (what, error)
    # Nothing changed: the old password works, both sessions live.
    assert (await _me(client, other)).status_code == 200
    assert (await _me(client, await login(client, user["email"]))).status_code == 200


async def test_guessing_the_current_password_is_throttled_like_a_login(
    client: httpx.AsyncClient, tenant_a: Caller
) -> None:
    user = await create_user(client, tenant_a.headers, "vic@example.com", password=PASSWORD)
    stolen = await login(client, user["email"])
    statuses = []
    for attempt in range(12):
        response = await client.post(
            "/api/v1/me/password",
            headers=bearer(stolen),
            json={"current_password": f"guess-{attempt}", "new_password": STRONG},
        )
        statuses.append(response.status_code)
    assert statuses[0] == 403 and 429 in statuses, statuses
    # The right password is refused too while the account is in its backoff.
    blocked = await client.post(
        "/api/v1/me/password",
        headers=bearer(stolen),
        json={"current_password": PASSWORD, "new_password": STRONG},
    )
    error_of(blocked, 429, "rate_limited")


async def test_a_key_acting_for_no_user_has_no_profile_or_password(
    client: httpx.AsyncClient, tenant_a: Caller
) -> None:
    for method, path, body in (
        ("PATCH", "/api/v1/me", {"full_name": "Ops"}),
        ("POST", "/api/v1/me/password", {"current_password": "x", "new_password": STRONG}),
    ):
        response = await client.request(method, path, headers=tenant_a.headers, json=body)
        assert "acts for no user" in error_of(response, 403, "forbidden")["message"]
