"""/api/v1/credentials: write-only, validated, scoped."""

import pytest

from tests.helpers import Caller, sql


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"name": "K", "value": ""}, "the secret is empty"),
        ({"name": "K", "value": "   "}, "the secret is empty"),
        ({"name": "K", "value": "x" * (64 * 1024 + 1)}, "larger than 65536 bytes"),
        ({"name": "K", "value": "abc", "category": "bitcoin"}, "body.category"),
        ({"name": "K"}, "body.value"),
        ({"name": "bad name!", "value": "abc"}, "body.name"),
        ({"name": "K", "value": "abc", "unknown": 1}, "body.unknown"),
        ({"name": "K", "value": "abc", "allowed_hosts": ["http://x"]}, "allowed_hosts"),
    ],
)
async def test_bad_input_is_422_and_stores_nothing(
    client, tenant_a: Caller, fresh_db, body: dict, fragment: str
) -> None:
    response = await client.post("/api/v1/credentials", headers=tenant_a.headers, json=body)

    assert response.status_code == 422
    assert fragment in response.json()["error"]["message"]
    assert (await sql(fresh_db, "SELECT count(*) AS n FROM credentials"))[0]["n"] == 0


async def test_duplicate_name_is_409_per_owner(
    client, tenant_a: Caller, tenant_b: Caller, platform_admin: Caller
) -> None:
    body = {"name": "OPENAI_API_KEY", "value": "sk-one-0123456789"}
    assert (
        await client.post("/api/v1/credentials", headers=tenant_a.headers, json=body)
    ).status_code == 201
    again = await client.post("/api/v1/credentials", headers=tenant_a.headers, json=body)
    assert again.status_code == 409 and again.json()["error"]["code"] == "conflict"
    assert (
        await client.post("/api/v1/credentials", headers=tenant_b.headers, json=body)
    ).status_code == 201
    # Global rows (no tenant) are unique too: the seed's UNIQUE(name, tenant_id) was not.
    body = {**body, "allowed_hosts": ["api.openai.com"]}
    assert (
        await client.post("/api/v1/credentials", headers=platform_admin.headers, json=body)
    ).status_code == 201
    twice = await client.post("/api/v1/credentials", headers=platform_admin.headers, json=body)
    assert twice.status_code == 409


async def test_updates_are_write_only(client, tenant_a: Caller, fresh_db) -> None:
    created = (
        await client.post(
            "/api/v1/credentials",
            headers=tenant_a.headers,
            json={"name": "SMTP", "value": "smtp-secret-0123456789", "category": "smtp"},
        )
    ).json()
    stored = (await sql(fresh_db, "SELECT value FROM credentials"))[0]["value"]
    for unchanged in (created["hint"], "********"):
        response = await client.patch(
            f"/api/v1/credentials/{created['id']}",
            headers=tenant_a.headers,
            json={"value": unchanged, "allowed_hosts": ["smtp.example.com"]},
        )
        assert response.status_code == 200
        assert response.json()["fingerprint"] == created["fingerprint"]
    assert (await sql(fresh_db, "SELECT value FROM credentials"))[0]["value"] == stored
    changed = await client.patch(
        f"/api/v1/credentials/{created['id']}",
        headers=tenant_a.headers,
        json={"value": "another-secret-9876543210"},
    )
    assert changed.json()["fingerprint"] != created["fingerprint"]
    assert changed.json()["hint"] == "3210"
    assert "value" not in changed.json()


async def test_viewers_read_but_cannot_write(client, tenant_a: Caller) -> None:
    viewer_key = (
        await client.post(
            "/api/v1/api-keys", headers=tenant_a.headers, json={"name": "ro", "role": "viewer"}
        )
    ).json()["api_key"]
    viewer = {"Authorization": f"Bearer {viewer_key}"}
    assert (await client.get("/api/v1/credentials", headers=viewer)).status_code == 200
    denied = await client.post(
        "/api/v1/credentials", headers=viewer, json={"name": "K", "value": "abc"}
    )
    assert denied.status_code == 403


async def test_a_global_credential_must_name_its_hosts(client, platform_admin: Caller) -> None:
    response = await client.post(
        "/api/v1/credentials",
        headers=platform_admin.headers,
        json={"name": "PLATFORM_KEY", "value": "sk-platform-0123456789"},
    )

    assert response.status_code == 422
    assert "allowed_hosts" in response.json()["error"]["message"]
