"""`security_level` as a policy (tools/policy.py): moderate and dangerous tools are enabled on
an agent only by an admin (403 `tool_approval_required`), a dangerous tool's every call needs
`confirm: true` (409 `confirmation_required`), and only an admin makes a tool easier to
reach."""

import pytest

from tests.helpers import Caller, create_agent, create_key, error_of
from tests.tools.helpers import ToolServer, create_tool, executions, invoke

pytestmark = pytest.mark.usefixtures("loopback_allowed")


async def _member(client, admin: Caller) -> Caller:
    """A member key of the admin's tenant."""
    key = await create_key(client, admin.headers, "member", role="member")
    return Caller(api_key=key["api_key"], tenant_id=admin.tenant_id)


async def test_only_an_admin_enables_moderate_and_dangerous_tools(
    client, tenant_a: Caller, tool_server: ToolServer
) -> None:
    member = await _member(client, tenant_a)
    for name, level in (("lookup", "safe"), ("export", "moderate"), ("wipe", "dangerous")):
        await create_tool(
            client,
            member,
            name=name,
            type="http",
            security_level=level,
            config={"url": tool_server.url("/echo")},
        )

    safe = await create_agent(client, member, enabled_tools=["lookup"])
    refused = await client.post(
        "/api/v1/agents",
        headers=member.headers,
        json={"name": "x", "system_prompt_template": "x", "enabled_tools": ["lookup", "wipe"]},
    )
    patched = await client.patch(
        f"/api/v1/agents/{safe['id']}",
        headers=member.headers,
        json={"enabled_tools": ["lookup", "export"]},
    )

    error = error_of(refused, 403, "tool_approval_required")
    assert error["details"] == {"tools": ["wipe"]}
    assert "admin" in error["message"]
    assert error_of(patched, 403, "tool_approval_required")["details"] == {"tools": ["export"]}
    unchanged = await client.get(f"/api/v1/agents/{safe['id']}", headers=member.headers)
    assert unchanged.json()["enabled_tools"] == ["lookup"]

    approved = await client.patch(
        f"/api/v1/agents/{safe['id']}",
        headers=tenant_a.headers,
        json={"enabled_tools": ["lookup", "export", "wipe"]},
    )
    assert approved.status_code == 200, approved.text
    # What an admin approved stays: a member may reorder or drop, not re-add after removal.
    kept = await client.patch(
        f"/api/v1/agents/{safe['id']}",
        headers=member.headers,
        json={"enabled_tools": ["wipe", "lookup"], "description": "tidied"},
    )
    assert kept.status_code == 200, kept.text
    readded = await client.patch(
        f"/api/v1/agents/{safe['id']}",
        headers=member.headers,
        json={"enabled_tools": ["wipe", "lookup", "export"]},
    )
    error_of(readded, 403, "tool_approval_required")


async def test_a_dangerous_tool_always_needs_confirmation(
    client, tenant_a: Caller, tool_server: ToolServer, fresh_db
) -> None:
    await create_tool(
        client,
        tenant_a,
        name="wipe",
        type="http",
        security_level="dangerous",
        requires_confirmation=False,
        config={"url": tool_server.url("/echo")},
    )
    agent = await create_agent(client, tenant_a, enabled_tools=["wipe"])

    refused = await invoke(client, tenant_a, agent["id"], "wipe")
    listed = await client.get(f"/api/v1/agents/{agent['id']}/tools", headers=tenant_a.headers)

    error = error_of(refused, 409, "confirmation_required")
    assert error["details"] == {"tool": "wipe", "security_level": "dangerous"}
    assert tool_server.received == []
    assert await executions(fresh_db) == []
    assert listed.json()["items"][0]["requires_confirmation"] is True
    assert listed.json()["items"][0]["security_level"] == "dangerous"
    confirmed = await invoke(client, tenant_a, agent["id"], "wipe", confirm=True)
    assert confirmed.status_code == 200, confirmed.text


async def test_only_an_admin_makes_a_tool_easier_to_reach(
    client, tenant_a: Caller, tool_server: ToolServer
) -> None:
    member = await _member(client, tenant_a)
    tool = await create_tool(
        client,
        tenant_a,
        name="refund",
        type="http",
        security_level="moderate",
        requires_confirmation=True,
        config={"url": tool_server.url("/echo")},
    )
    path = f"/api/v1/tools/{tool['id']}"

    lowered = await client.patch(path, headers=member.headers, json={"security_level": "safe"})
    unconfirmed = await client.patch(
        path, headers=member.headers, json={"requires_confirmation": False}
    )
    raised = await client.patch(path, headers=member.headers, json={"security_level": "dangerous"})

    error_of(lowered, 403, "tool_approval_required")
    error_of(unconfirmed, 403, "tool_approval_required")
    assert raised.status_code == 200, raised.text
    by_admin = await client.patch(path, headers=tenant_a.headers, json={"security_level": "safe"})
    assert by_admin.json()["security_level"] == "safe"
