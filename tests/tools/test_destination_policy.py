"""The original hole, against real loopback servers: a member pointed a tool (or an agent's
model calls) at a host of their choosing, referenced a credential an admin stored with no
allowed_hosts, and the secret went there. Now a member cannot create or re-point such a tool or
agent, an empty allowed_hosts sends a secret nowhere, and a member uses what an admin approved
and nothing more."""

import pytest

from tests.helpers import Caller, bearer, create_agent, create_key, error_of
from tests.tools.helpers import ToolServer, create_credential, http_tool, invoke

pytestmark = pytest.mark.usefixtures("loopback_allowed")
SECRET = "crm-admin-secret-5f1e9c2a7b"


async def _member(client, admin: Caller) -> Caller:
    key = await create_key(client, admin.headers, "member", role="member")
    return Caller(api_key=key["api_key"], tenant_id=admin.tenant_id)


async def test_a_member_cannot_aim_an_admins_credential_at_their_own_server(
    client, tenant_a: Caller, tool_server: ToolServer
) -> None:
    await create_credential(
        client, tenant_a, "CRM_TOKEN", SECRET, category="http", allowed_hosts=[]
    )
    member = await _member(client, tenant_a)
    config = {
        "url": tool_server.url("/echo"),
        "headers": {"Authorization": "Bearer {{credential:CRM_TOKEN}}"},
    }

    created = await client.post(
        "/api/v1/tools",
        headers=member.headers,
        json={"name": "exfil", "type": "http", "config": config},
    )
    plain = await http_tool(client, member, "plain", tool_server.url("/echo"))
    repointed = await client.patch(
        f"/api/v1/tools/{plain['id']}", headers=member.headers, json={"config": config}
    )
    agent = await client.post(
        "/api/v1/agents",
        headers=member.headers,
        json={
            "name": "exfil bot",
            "system_prompt_template": "Hi",
            "config": {"base_url": tool_server.url("/v1"), "api_key_credential": "CRM_TOKEN"},
        },
    )

    for response in (created, repointed, agent):
        error_of(response, 403, "destination_approval_required")
    assert tool_server.received == []


async def test_an_empty_allowed_hosts_sends_the_secret_nowhere_even_for_an_admins_tool(
    client, tenant_a: Caller, tool_server: ToolServer
) -> None:
    await create_credential(
        client, tenant_a, "CRM_TOKEN", SECRET, category="http", allowed_hosts=[]
    )
    await http_tool(
        client,
        tenant_a,
        "crm",
        tool_server.url("/echo"),
        headers={"Authorization": "Bearer {{credential:CRM_TOKEN}}"},
    )
    agent = await create_agent(client, tenant_a, enabled_tools=["crm"])

    response = await invoke(client, tenant_a, agent["id"], "crm")

    error = error_of(response, 403, "forbidden")
    assert "allowed_hosts" in error["message"]
    assert SECRET not in response.text
    assert tool_server.received == []


async def test_a_member_uses_what_an_admin_approved_and_nothing_more(
    client, tenant_a: Caller, tool_server: ToolServer, mirror_server: ToolServer
) -> None:
    credential = await create_credential(
        client, tenant_a, "CRM_TOKEN", SECRET, category="http", allowed_hosts=["tools.test"]
    )
    tool = await http_tool(
        client,
        tenant_a,
        "crm",
        tool_server.url("/echo"),
        headers={"Authorization": "Bearer {{credential:CRM_TOKEN}}"},
    )
    member = await _member(client, tenant_a)
    agent = await create_agent(client, member, enabled_tools=["crm"])  # enabling is open

    used = await invoke(client, member, agent["id"], "crm")
    widened = await client.patch(
        f"/api/v1/credentials/{credential['id']}",
        headers=member.headers,
        json={"allowed_hosts": ["tools.test", "mirror.test"]},
    )
    moved = await client.patch(
        f"/api/v1/tools/{tool['id']}",
        headers=member.headers,
        json={"config": {**tool["config"], "url": mirror_server.url("/echo", host="mirror.test")}},
    )
    tuned = await client.patch(
        f"/api/v1/tools/{tool['id']}",
        headers=member.headers,
        json={"description": "CRM lookup", "config": {**tool["config"], "timeout_s": 5}},
    )

    assert used.status_code == 200, used.text
    [received] = tool_server.received
    assert received.headers["authorization"] == f"Bearer {SECRET}"
    error_of(widened, 403, "destination_approval_required")
    error_of(moved, 403, "destination_approval_required")
    assert tuned.status_code == 200, tuned.text
    assert mirror_server.received == []

    # The same changes by the admin are the admin's decision to make.
    admin_key = bearer((await create_key(client, tenant_a.headers, "ops", role="admin"))["api_key"])
    for path, body in (
        (f"/api/v1/credentials/{credential['id']}", widened.request.content),
        (f"/api/v1/tools/{tool['id']}", moved.request.content),
    ):
        response = await client.patch(
            path, headers={**admin_key, "content-type": "application/json"}, content=body
        )
        assert response.status_code == 200, response.text
