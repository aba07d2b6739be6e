"""The audit log through HTTP: changes and logins recorded with context; filters; isolation."""

import httpx
from sqlalchemy.engine import URL

from tests.helpers import (
    CLIENT_IP,
    PASSWORD,
    Caller,
    all_pages,
    bearer,
    create_key,
    create_user,
    error_of,
    login,
    sql,
)

AUDIT = "/api/v1/audit-logs"
AGENT = "audit-test/1.0"


def _context(request_id: str) -> dict[str, str]:
    """Headers giving a request a known user agent and request id."""
    return {"User-Agent": AGENT, "X-Request-ID": request_id}


async def _key_id(client: httpx.AsyncClient, caller: Caller) -> str:
    """The id of the key a caller authenticates with."""
    return (await client.get("/api/v1/me", headers=caller.headers)).json()["key_id"]


async def test_every_change_is_recorded_with_who_what_and_where(
    client: httpx.AsyncClient, tenant_a: Caller
) -> None:
    h = tenant_a.headers
    key_id = await _key_id(client, tenant_a)
    created = await client.post(
        "/api/v1/users",
        json={"email": "rec@example.com", "password": PASSWORD, "role": "member"},
        headers={**h, **_context("u-create")},
    )
    user_id = created.json()["id"]
    user_url = f"/api/v1/users/{user_id}"
    updated = await client.patch(
        user_url, json={"role": "admin", "full_name": "Rec"}, headers={**h, **_context("u-update")}
    )
    repassed = await client.patch(
        user_url, json={"password": "another-long-password"}, headers={**h, **_context("u-pass")}
    )
    key = await client.post(
        "/api/v1/api-keys",
        json={"name": "audited", "role": "viewer", "scopes": ["users:read"]},
        headers={**h, **_context("k-create")},
    )
    revoked = await client.delete(
        f"/api/v1/api-keys/{key.json()['id']}", headers={**h, **_context("k-revoke")}
    )
    deleted = await client.delete(user_url, headers={**h, **_context("u-delete")})
    responses = [created, updated, repassed, key, revoked, deleted]
    assert [r.status_code for r in responses] == [201, 200, 200, 201, 204, 204]

    entries = {e["request_id"]: e for e in await all_pages(client, AUDIT, h)}

    expected = {
        "u-create": ("create", "user", user_id),
        "u-update": ("update", "user", user_id),
        "u-pass": ("update", "user", user_id),
        "k-create": ("create", "api_key", key.json()["id"]),
        "k-revoke": ("revoke", "api_key", key.json()["id"]),
        "u-delete": ("delete", "user", user_id),
    }
    for response, (request_id, (action, resource_type, resource_id)) in zip(
        responses, expected.items(), strict=True
    ):
        assert response.headers["X-Request-ID"] == request_id
        entry = entries[request_id]
        assert (entry["action"], entry["resource_type"], entry["resource_id"]) == (
            action,
            resource_type,
            resource_id,
        ), request_id
        assert entry["actor"] == f"key:{key_id}"
        assert entry["api_key_id"] == key_id and entry["user_id"] is None
        assert entry["tenant_id"] == tenant_a.tenant_id
        assert entry["ip_address"] == CLIENT_IP
        assert entry["user_agent"] == AGENT
        assert entry["created_at"] is not None

    create, update = entries["u-create"], entries["u-update"]
    assert create["old_values"] is None
    assert create["new_values"]["email"] == "rec@example.com"
    assert create["new_values"]["role"] == "member"
    assert (update["old_values"]["role"], update["new_values"]["role"]) == ("member", "admin")
    assert (update["old_values"]["full_name"], update["new_values"]["full_name"]) == (None, "Rec")
    assert update["new_values"]["password_changed"] is False
    assert entries["u-pass"]["new_values"]["password_changed"] is True
    assert entries["u-delete"]["old_values"]["email"] == "rec@example.com"
    assert entries["u-delete"]["new_values"] is None
    key_values = entries["k-create"]["new_values"]
    assert key_values["name"] == "audited" and key_values["role"] == "viewer"
    assert key_values["scopes"] == ["users:read"]
    assert key_values["prefix"] == key.json()["prefix"]
    assert entries["k-revoke"]["old_values"]["name"] == "audited"

    one = await client.get(f"{AUDIT}/{entries['u-create']['id']}", headers=h)
    assert one.status_code == 200 and one.json() == entries["u-create"]


async def test_a_generated_request_id_is_the_one_recorded(
    client: httpx.AsyncClient, tenant_a: Caller
) -> None:
    created = await client.post(
        "/api/v1/users", json={"email": "gen@example.com"}, headers=tenant_a.headers
    )

    request_id = created.headers["X-Request-ID"]
    logs = await client.get(
        AUDIT, params={"resource_id": created.json()["id"]}, headers=tenant_a.headers
    )
    assert [e["request_id"] for e in logs.json()["items"]] == [request_id]


async def test_actions_of_a_logged_in_user_name_the_user(
    client: httpx.AsyncClient, tenant_a: Caller
) -> None:
    user = await create_user(
        client, tenant_a.headers, "boss@example.com", password=PASSWORD, role="admin"
    )
    session = bearer(await login(client, "boss@example.com"))

    made = await create_user(client, session, "hire@example.com")
    await client.post("/api/v1/auth/logout", headers=session)

    logs = await all_pages(client, AUDIT, tenant_a.headers, actor=f"user:{user['id']}")
    assert [(e["action"], e["resource_type"]) for e in logs] == [
        ("logout", "session"),
        ("create", "user"),
        ("login", "session"),
    ]
    assert {e["user_id"] for e in logs} == {user["id"]}
    assert {e["api_key_id"] for e in logs} == {None}
    assert logs[1]["resource_id"] == made["id"]


async def _acme(client: httpx.AsyncClient, platform_admin: Caller) -> dict:
    """Have a platform admin create tenant "acme" and rename it; return the created tenant."""
    created = await client.post(
        "/api/v1/tenants",
        json={"name": "acme", "settings": {"plan": "pro"}},
        headers={**platform_admin.headers, **_context("t-create")},
    )
    assert created.status_code == 201
    renamed = await client.patch(
        f"/api/v1/tenants/{created.json()['id']}",
        json={"name": "acme-corp"},
        headers={**platform_admin.headers, **_context("t-rename")},
    )
    assert renamed.status_code == 200
    return created.json()


async def test_tenant_creation_and_changes_are_recorded_for_the_tenant(
    client: httpx.AsyncClient, platform_admin: Caller, fresh_db: URL
) -> None:
    admin_key_id = await _key_id(client, platform_admin)
    tenant = await _acme(client, platform_admin)
    acme = bearer(tenant["api_key"])

    entries = await all_pages(client, AUDIT, acme)

    assert [(e["action"], e["resource_type"]) for e in entries[:1]] == [("update", "tenant")]
    # The tenant and its first key are created in one transaction, hence at one instant.
    assert {(e["action"], e["resource_type"]) for e in entries[1:]} == {
        ("create", "tenant"),
        ("create", "api_key"),
    }
    by_type = {(e["action"], e["resource_type"]): e for e in entries}
    create = by_type[("create", "tenant")]
    assert create["resource_id"] == str(tenant["id"])
    assert create["new_values"] == {
        "name": "acme",
        "is_active": True,
        "settings": {"plan": "pro"},
        "language": None,
        "embedder": None,
        "tool_config": {},
    }
    assert by_type[("create", "api_key")]["new_values"]["role"] == "admin"
    rename = by_type[("update", "tenant")]
    assert (rename["old_values"]["name"], rename["new_values"]["name"]) == ("acme", "acme-corp")
    # The tenant sees what the platform did, not the operator's key, address or client.
    assert {e["actor"] for e in entries} == {"platform"}
    assert {e["tenant_id"] for e in entries} == {tenant["id"]}
    for leaked in (admin_key_id, CLIENT_IP, AGENT):
        assert leaked not in str(entries)

    disabled = await client.patch(
        f"/api/v1/tenants/{tenant['id']}", json={"is_active": False}, headers=platform_admin.headers
    )
    assert disabled.status_code == 200
    error_of(await client.get("/api/v1/me", headers=acme), 401, "unauthorized")
    rows = await sql(
        fresh_db,
        "SELECT old_values->>'is_active' AS old, new_values->>'is_active' AS new FROM audit_logs "
        "WHERE tenant_id = $1 AND action = 'update' AND new_values ? 'is_active' "
        "ORDER BY created_at DESC LIMIT 1",
        tenant["id"],
    )
    assert [(r["old"], r["new"]) for r in rows] == [("true", "false")]


async def test_platform_changes_to_tenants_keep_the_operators_context_on_record(
    client: httpx.AsyncClient, platform_admin: Caller, fresh_db: URL
) -> None:
    admin_key_id = await _key_id(client, platform_admin)
    tenant = await _acme(client, platform_admin)

    rows = await sql(
        fresh_db,
        "SELECT id::text AS id, action, resource_type, resource_id, actor, "
        "host(ip_address) AS ip, user_agent, request_id FROM audit_logs "
        "WHERE api_key_id = $1::uuid AND resource_type = 'tenant'",
        admin_key_id,
    )

    recorded = {(r["action"], r["request_id"]) for r in rows}
    assert recorded >= {("create", "t-create"), ("update", "t-rename")}, rows
    for row in rows:
        assert row["resource_id"] == str(tenant["id"])
        assert (row["actor"], row["ip"], row["user_agent"]) == (
            f"key:{admin_key_id}",
            CLIENT_IP,
            AGENT,
        )
    visible = {e["id"] for e in await all_pages(client, AUDIT, bearer(tenant["api_key"]))}
    assert not visible & {r["id"] for r in rows}


async def test_filters_select_by_actor_action_resource_and_time(
    client: httpx.AsyncClient, tenant_a: Caller, fresh_db: URL
) -> None:
    h = tenant_a.headers
    first = await create_user(client, h, "f1@example.com", password=PASSWORD, role="admin")
    # First's creation a second in the past, so the two creations never share an instant.
    await sql(
        fresh_db,
        "UPDATE audit_logs SET created_at = created_at - interval '1 second' "
        "WHERE action = 'create' AND resource_type = 'user' AND resource_id = $1",
        first["id"],
    )
    second = await create_user(client, h, "f2@example.com")
    await client.patch(f"/api/v1/users/{first['id']}", json={"full_name": "F"}, headers=h)
    session = bearer(await login(client, "f1@example.com"))
    await create_key(client, session, "f1's key")

    async def select(**filters: str) -> list[dict]:
        """The audit entries matching these filters, newest first."""
        return await all_pages(client, AUDIT, h, **filters)

    updates = await select(action="update")
    assert [(e["resource_type"], e["resource_id"]) for e in updates] == [("user", first["id"])]
    keys = await select(resource_type="api_key")
    assert {e["new_values"]["name"] for e in keys} == {"first admin key", "f1's key"}
    about_first = await select(resource_id=first["id"])
    assert [e["action"] for e in about_first] == ["update", "create"]
    by_user = await select(actor=f"user:{first['id']}")
    assert [(e["action"], e["resource_type"]) for e in by_user] == [
        ("create", "api_key"),
        ("login", "session"),
    ]
    created_users = await select(action="create", resource_type="user")
    assert [e["resource_id"] for e in created_users] == [second["id"], first["id"]]
    assert await select(action="create", resource_id=second["id"], actor="nobody") == []

    boundary = next(e["created_at"] for e in created_users if e["resource_id"] == second["id"])
    since = await select(since=boundary, resource_type="user")
    until = await select(until=boundary, resource_type="user")
    assert [e["resource_id"] for e in since] == [first["id"], second["id"]]
    assert [e["resource_id"] for e in until] == [first["id"]]
    between = await select(since=boundary, until=boundary)
    assert between == []


async def test_pages_of_the_audit_log_hold_every_entry_once_newest_first(
    client: httpx.AsyncClient, tenant_a: Caller
) -> None:
    for n in range(5):
        await create_user(client, tenant_a.headers, f"p{n}@example.com")

    whole = (await client.get(AUDIT, params={"limit": 200}, headers=tenant_a.headers)).json()
    paged = await all_pages(client, AUDIT, tenant_a.headers, limit=2)

    assert whole["next_cursor"] is None
    assert [e["id"] for e in paged] == [e["id"] for e in whole["items"]]
    assert len({e["id"] for e in paged}) == len(paged) == 7  # 5 users + tenant + its first key
    stamps = [e["created_at"] for e in paged]
    assert stamps == sorted(stamps, reverse=True)
    users = (await client.get("/api/v1/users", headers=tenant_a.headers)).json()["items"]
    assert [e["resource_id"] for e in paged[:5]] == [u["id"] for u in users]


async def test_tenant_b_never_sees_tenant_a_entries(
    client: httpx.AsyncClient, tenant_a: Caller, tenant_b: Caller
) -> None:
    user = await create_user(client, tenant_a.headers, "secretive@example.com")
    a_entries = await all_pages(client, AUDIT, tenant_a.headers)
    b_entries = await all_pages(client, AUDIT, tenant_b.headers)

    assert a_entries and b_entries
    assert {e["tenant_id"] for e in a_entries} == {tenant_a.tenant_id}
    assert {e["tenant_id"] for e in b_entries} == {tenant_b.tenant_id}
    assert not {e["id"] for e in a_entries} & {e["id"] for e in b_entries}
    assert "secretive@example.com" not in str(b_entries)
    assert await all_pages(client, AUDIT, tenant_b.headers, resource_id=user["id"]) == []
    for entry in a_entries:
        error_of(await client.get(f"{AUDIT}/{entry['id']}", headers=tenant_b.headers), 404)


async def test_reading_the_audit_log_takes_an_admin(
    client: httpx.AsyncClient, tenant_a: Caller, platform_admin: Caller
) -> None:
    member = await create_key(client, tenant_a.headers, "member", role="member")

    error_of(await client.get(AUDIT, headers=bearer(member["api_key"])), 403, "forbidden")
    error_of(await client.get(AUDIT, headers=platform_admin.headers), 403, "forbidden")
    error_of(await client.get(AUDIT), 401, "unauthorized")
