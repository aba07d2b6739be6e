"""Platform settings at runtime (seed 000 `system_config`): platform keys read and change
known keys within their bounds, audited; tenant keys are refused; the quotas read them, and a
second replica sees a change once its cache's TTL has passed."""

import httpx
import pytest

from orchestrator_service.bootstrap import Runtime, boot
from orchestrator_service.config import Settings
from orchestrator_service.main import create_app
from tests.helpers import Caller, create_agent, error_of, sql

BASE = "/api/v1/system-config"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """No cache on this service, so each test sees its own writes at once."""
    return settings.model_copy(update={"system_config_ttl_seconds": 0})


async def _value(runtime: Runtime, key: str) -> int:
    """The value of a setting as the runtime's cache gives it."""
    async with runtime.sessionmaker() as session:
        return await runtime.platform_config.value(session, key)


async def _background_run(client: httpx.AsyncClient, caller: Caller, agent_id: int) -> int:
    """Start a background run (queued; no worker runs it here); its status code."""
    response = await client.post(
        f"/api/v1/agents/{agent_id}/runs",
        headers=caller.headers,
        json={"input": "Hello", "background": True},
    )
    return response.status_code


async def test_platform_keys_list_set_and_reset_settings(
    client, platform_admin: Caller, settings: Settings
) -> None:
    listed = await client.get(BASE, headers=platform_admin.headers)
    assert listed.status_code == 200, listed.text
    keys = {item["key"]: item for item in listed.json()["items"]}
    assert set(keys) == {"quota.runs_per_minute", "quota.documents", "quota.stored_bytes"}
    runs = keys["quota.runs_per_minute"]
    assert (runs["value"], runs["default"], runs["source"]) == (
        settings.quota_runs_per_minute,
        settings.quota_runs_per_minute,
        "default",
    )

    changed = await client.put(
        f"{BASE}/quota.runs_per_minute", headers=platform_admin.headers, json={"value": 7}
    )
    assert changed.status_code == 200, changed.text
    assert (changed.json()["value"], changed.json()["source"]) == (7, "runtime")
    again = await client.put(
        f"{BASE}/quota.runs_per_minute", headers=platform_admin.headers, json={"value": 9}
    )
    assert again.json()["value"] == 9

    reset = await client.delete(f"{BASE}/quota.runs_per_minute", headers=platform_admin.headers)
    assert (reset.json()["value"], reset.json()["source"]) == (
        settings.quota_runs_per_minute,
        "default",
    )


async def test_changes_are_audited_in_the_platform_log(
    client, platform_admin: Caller, fresh_db
) -> None:
    await client.put(f"{BASE}/quota.documents", headers=platform_admin.headers, json={"value": 5})
    await client.put(f"{BASE}/quota.documents", headers=platform_admin.headers, json={"value": 6})
    await client.delete(f"{BASE}/quota.documents", headers=platform_admin.headers)

    rows = await sql(
        fresh_db,
        "SELECT action, tenant_id, old_values::text AS old, new_values::text AS new "
        "FROM audit_logs WHERE resource_type = 'system_config' AND resource_id = "
        "'quota.documents' ORDER BY created_at",
    )
    assert [(r["action"], r["tenant_id"]) for r in rows] == [
        ("update", None),
        ("update", None),
        ("delete", None),
    ]
    assert '"setting": 5' in rows[1]["old"]
    assert '"setting": 6' in rows[1]["new"]


async def test_unknown_keys_and_bad_values_are_refused(client, platform_admin: Caller) -> None:
    unknown = await client.put(
        f"{BASE}/quota.everything", headers=platform_admin.headers, json={"value": 1}
    )
    error = error_of(unknown, 404, "not_found")
    assert "quota.runs_per_minute" in error["message"]
    cases = [
        ({"value": 0}, 422, "invalid_input"),
        ({"value": 10**7}, 422, "invalid_input"),
        ({"value": True}, 422, "validation_error"),
        ({"value": "5"}, 422, "validation_error"),
        ({"value": 1.5}, 422, "validation_error"),
        ({"value": 5, "extra": 1}, 422, "validation_error"),
    ]
    for body, status, code in cases:
        response = await client.put(
            f"{BASE}/quota.runs_per_minute", headers=platform_admin.headers, json=body
        )
        error_of(response, status, code)
    odd = await client.get(f"{BASE}/..%2F..%2Ftenants", headers=platform_admin.headers)
    assert odd.status_code in (404, 422)
    still = await client.get(f"{BASE}/quota.runs_per_minute", headers=platform_admin.headers)
    assert still.json()["source"] == "default"


async def test_tenant_keys_are_refused_even_their_admins(
    client, tenant_a: Caller, platform_admin: Caller
) -> None:
    for method, path, body in (
        ("GET", BASE, None),
        ("GET", f"{BASE}/quota.documents", None),
        ("PUT", f"{BASE}/quota.documents", {"value": 10**8}),
        ("DELETE", f"{BASE}/quota.documents", None),
    ):
        response = await client.request(method, path, headers=tenant_a.headers, json=body)
        error_of(response, 403, "forbidden")
    setting = await client.get(f"{BASE}/quota.documents", headers=platform_admin.headers)
    assert setting.json()["source"] == "default"


async def test_the_runs_quota_reads_the_setting(
    client, tenant_a: Caller, platform_admin: Caller
) -> None:
    agent = await create_agent(client, tenant_a)
    await client.put(
        f"{BASE}/quota.runs_per_minute", headers=platform_admin.headers, json={"value": 2}
    )

    statuses = [await _background_run(client, tenant_a, agent["id"]) for _ in range(3)]

    assert statuses == [202, 202, 429]


async def test_another_replica_sees_a_change_after_its_ttl(
    client, platform_admin: Caller, runtime, settings: Settings
) -> None:
    cached = settings.model_copy(update={"system_config_ttl_seconds": 3600})
    async with boot(cached) as replica:
        before = await _value(replica, "quota.documents")
        response = await client.put(
            f"{BASE}/quota.documents", headers=platform_admin.headers, json={"value": 42}
        )
        assert response.status_code == 200, response.text

        # Within its TTL the replica keeps what it read; past it (forced here, no waiting)
        # it reads the table again.
        assert await _value(replica, "quota.documents") == before
        replica.platform_config.forget()
        assert await _value(replica, "quota.documents") == 42
    # The service that wrote has no cache (TTL 0): it uses the value at once.
    assert await _value(runtime, "quota.documents") == 42
    transport = httpx.ASGITransport(app=create_app(settings, runtime=runtime))
    async with httpx.AsyncClient(transport=transport, base_url="http://x.test") as other:
        shown = await other.get(f"{BASE}/quota.documents", headers=platform_admin.headers)
    assert shown.json()["value"] == 42
