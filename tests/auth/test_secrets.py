"""Passwords, API keys and session tokens never reappear: in responses, audit log, logs or rows."""

import logging
import re

import httpx
import pytest
from sqlalchemy.engine import URL

from orchestrator_service.auth.tokens import hash_token
from tests.helpers import PASSWORD, Caller, bearer, create_user, login, sql

NEW_PASSWORD = "a-brand-new-passphrase"
MISTYPED_PASSWORD = "correct-horse-battery-stapel"


async def _database_text(url: URL) -> dict[str, str]:
    """Every table of the metadata database, its rows as JSON text."""
    tables = await sql(
        url,
        "SELECT quote_ident(schemaname) || '.' || quote_ident(tablename) AS name FROM pg_tables "
        "WHERE schemaname NOT IN ('pg_catalog', 'information_schema')",
    )
    texts = {}
    for table in tables:
        (row,) = await sql(
            url, f"SELECT coalesce(json_agg(t)::text, '') AS j FROM {table['name']} t"
        )
        texts[table["name"]] = row["j"]
    return texts


async def test_secrets_never_appear_after_creation(
    client: httpx.AsyncClient, tenant_a: Caller, fresh_db: URL, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="sqlalchemy")
    later: list[httpx.Response] = []

    user = await create_user(
        client, tenant_a.headers, "sec@example.com", password=PASSWORD, role="admin"
    )
    logged_in = await client.post(
        "/api/v1/auth/login", json={"email": "sec@example.com", "password": PASSWORD}
    )
    session = logged_in.json()["token"]
    key_created = await client.post(
        "/api/v1/api-keys", json={"name": "sec"}, headers=bearer(session)
    )
    api_key, key_id = key_created.json()["api_key"], key_created.json()["id"]
    user_url = f"/api/v1/users/{user['id']}"
    for headers in (bearer(session), bearer(api_key), tenant_a.headers):
        later += [
            await client.get("/api/v1/me", headers=headers),
            await client.get("/api/v1/users", headers=headers),
            await client.get(user_url, headers=headers),
            await client.get("/api/v1/api-keys", headers=headers),
            await client.get(f"/api/v1/api-keys/{key_id}", headers=headers),
            await client.get("/api/v1/audit-logs", params={"limit": 200}, headers=headers),
        ]
    later.append(
        await client.patch(user_url, json={"password": NEW_PASSWORD}, headers=bearer(api_key))
    )
    later.append(
        await client.post(
            "/api/v1/auth/login", json={"email": "sec@example.com", "password": MISTYPED_PASSWORD}
        )
    )
    second_session = await login(client, "sec@example.com", NEW_PASSWORD)
    later.append(
        await client.post(
            "/api/v1/users",
            json={"email": "x@example.com", "password": "short"},
            headers=tenant_a.headers,
        )
    )
    later.append(await client.delete(f"/api/v1/api-keys/{key_id}", headers=tenant_a.headers))
    later.append(await client.get("/api/v1/me", headers=bearer(api_key)))
    later.append(await client.post("/api/v1/auth/logout", headers=bearer(session)))
    later.append(await client.get("/api/v1/me", headers=bearer(session)))
    later.append(
        await client.get("/api/v1/audit-logs", params={"limit": 200}, headers=tenant_a.headers)
    )
    secrets = {
        "password": PASSWORD,
        "new password": NEW_PASSWORD,
        "mistyped password": MISTYPED_PASSWORD,
        "api key": api_key,
        "session token": session,
        "second session token": second_session,
        "first admin key": tenant_a.api_key,
    }

    # The password change (made with the key) ended the session: its logout is a 401 too.
    assert [r.status_code for r in later[-8:]] == [200, 401, 422, 204, 401, 401, 401, 200]
    for n, response in enumerate(later):
        seen = response.text + str(response.headers)
        assert not {name for name, value in secrets.items() if value in seen}, (n, response.text)

    records = caplog.records
    assert any(r.name.startswith("sqlalchemy.engine") for r in records), "SQL was not captured"
    assert any(r.name == "orchestrator_service.access" for r in records)
    logged = caplog.text + "\n".join(str(r.__dict__) for r in records)
    assert not {name for name, value in secrets.items() if value in logged}

    tables = await _database_text(fresh_db)
    assert "public.audit_logs" in tables and "sec@example.com" in tables["public.audit_logs"]
    for table, text in tables.items():
        assert not {name for name, value in secrets.items() if value in text}, table
    (key_row,) = await sql(fresh_db, "SELECT key_hash FROM api_keys WHERE id = $1::uuid", key_id)
    assert re.fullmatch(r"[0-9a-f]{64}", key_row["key_hash"])
    assert key_row["key_hash"] == hash_token(api_key)
    sessions = await sql(fresh_db, "SELECT token_hash FROM user_sessions")
    assert {r["token_hash"] for r in sessions} == {hash_token(session), hash_token(second_session)}
    (user_row,) = await sql(
        fresh_db, "SELECT password_hash FROM users WHERE id = $1::uuid", user["id"]
    )
    assert user_row["password_hash"].startswith("$argon2id$")


async def test_secret_looking_fields_are_redacted_in_the_audit_log(
    client: httpx.AsyncClient, tenant_a: Caller
) -> None:
    settings = {
        "smtp_password": "hunter2-smtp",
        "api_key": "sk-live-123456",
        "nested": {"token": "tok-abcdef", "webhook_secret": "whsec-987"},
        "theme": "dark",
    }

    user = await create_user(client, tenant_a.headers, "red@example.com", settings=settings)

    logs = await client.get(
        "/api/v1/audit-logs", params={"resource_id": user["id"]}, headers=tenant_a.headers
    )
    (entry,) = logs.json()["items"]
    assert entry["new_values"]["settings"] == {
        "smtp_password": "[REDACTED]",
        "api_key": "[REDACTED]",
        "nested": {"token": "[REDACTED]", "webhook_secret": "[REDACTED]"},
        "theme": "dark",
    }
