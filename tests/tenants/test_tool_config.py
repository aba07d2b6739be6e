"""`tenants.tool_config` through the tenants API (platform keys): validated, bounded JSON of
per-tool settings, audited; a built-in tool reads its own entry (tests/tools/test_tool_config.py
shows an HTTP tool doing so)."""

from tests.helpers import Caller, create_agent, error_of
from tests.tools.helpers import invoke


async def _set(client, platform_admin: Caller, tenant: Caller, config: object):
    """PATCH the tenant's tool_config as `platform_admin`."""
    return await client.patch(
        f"/api/v1/tenants/{tenant.tenant_id}",
        headers=platform_admin.headers,
        json={"tool_config": config},
    )


async def test_platform_keys_read_and_replace_a_tenants_tool_config(
    client, platform_admin: Caller, tenant_a: Caller, tenant_b: Caller
) -> None:
    config = {"get_current_time": {"timezone": "America/Lima"}, "crm": {"region": "pe"}}

    changed = await _set(client, platform_admin, tenant_a, config)
    shown = await client.get(
        f"/api/v1/tenants/{tenant_a.tenant_id}", headers=platform_admin.headers
    )
    other = await client.get(
        f"/api/v1/tenants/{tenant_b.tenant_id}", headers=platform_admin.headers
    )
    by_tenant = await _set(client, tenant_a, tenant_a, {"crm": {"region": "xx"}})

    assert changed.status_code == 200, changed.text
    assert shown.json()["tool_config"] == config
    assert other.json()["tool_config"] == {}
    error_of(by_tenant, 403, "forbidden")
    audit = await client.get(
        "/api/v1/audit-logs",
        headers=tenant_a.headers,
        params={"resource_type": "tenant", "action": "update"},
    )
    assert audit.json()["items"][0]["new_values"]["tool_config"] == config


async def test_bad_tool_configs_are_422_and_change_nothing(
    client, platform_admin: Caller, tenant_a: Caller
) -> None:
    deep: dict = {"v": 1}
    for _ in range(10):
        deep = {"d": deep}
    cases = {
        "not an object": ["a"],
        "a tool name with a space": {"my tool": {}},
        "settings that are not an object": {"crm": "eu"},
        "over 64 KiB": {"crm": {"blob": "x" * 70_000}},
        "too deep": {"crm": deep},
    }
    for label, config in cases.items():
        response = await _set(client, platform_admin, tenant_a, config)
        assert response.status_code == 422, f"{label}: {response.text}"
    shown = await client.get(
        f"/api/v1/tenants/{tenant_a.tenant_id}", headers=platform_admin.headers
    )
    assert shown.json()["tool_config"] == {}


async def test_a_builtin_reads_its_entry(
    client, platform_admin: Caller, tenant_a: Caller, tenant_b: Caller
) -> None:
    await _set(client, platform_admin, tenant_a, {"get_current_time": {"timezone": "Asia/Tokyo"}})
    mine = await create_agent(client, tenant_a, enabled_tools=["get_current_time"])
    theirs = await create_agent(client, tenant_b, enabled_tools=["get_current_time"])

    a = await invoke(client, tenant_a, mine["id"], "get_current_time")
    b = await invoke(client, tenant_b, theirs["id"], "get_current_time")
    asked = await invoke(client, tenant_a, mine["id"], "get_current_time", {"timezone": "UTC"})

    assert a.json()["output"]["timezone"] == "Asia/Tokyo"
    assert a.json()["output"]["now"].endswith("+09:00")
    assert b.json()["output"]["timezone"] == "UTC"
    assert asked.json()["output"]["timezone"] == "UTC"
