"""HTTP tools read the tenant's settings for them (`tenants.tool_config`) as
`{{tool_config.NAME}}` in their URL, headers and body; a model cannot override them through
the arguments."""

import json

import pytest

from tests.helpers import Caller, create_agent
from tests.tools.helpers import ToolServer, http_tool, invoke

pytestmark = pytest.mark.usefixtures("loopback_allowed")


async def test_an_http_tool_reads_its_entry_and_the_model_cannot_override_it(
    client, platform_admin: Caller, tenant_a: Caller, tool_server: ToolServer
) -> None:
    configured = await client.patch(
        f"/api/v1/tenants/{tenant_a.tenant_id}",
        headers=platform_admin.headers,
        json={"tool_config": {"crm": {"region": "pe", "tier": 2}}},
    )
    assert configured.status_code == 200, configured.text
    await http_tool(
        client,
        tenant_a,
        "crm",
        tool_server.url("/echo") + "?region={{tool_config.region}}",
        headers={"X-Tier": "{{tool_config.tier}}"},
        body={"settings": "{{tool_config}}", "q": "{{q}}"},
    )
    agent = await create_agent(client, tenant_a, enabled_tools=["crm"])

    response = await invoke(
        client, tenant_a, agent["id"], "crm", {"q": "shoes", "tool_config": {"region": "us"}}
    )

    assert response.status_code == 200, response.text
    (received,) = tool_server.received
    assert received.query["region"] == ["pe"]
    assert received.headers["x-tier"] == "2"
    assert received.json == {"settings": {"region": "pe", "tier": 2}, "q": "shoes"}
    assert json.dumps({"region": "us"}) not in json.dumps(received.json)
