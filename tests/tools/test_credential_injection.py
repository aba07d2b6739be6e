"""Vault credentials in HTTP tool calls, against a real tool server on loopback: the secret
reaches the tool's service and nothing else (response, logs, `tool_executions`, audit log, other
hosts on redirects, other tenants), and every use is audited."""

import logging
import uuid
from urllib.parse import quote

import pytest

from tests.helpers import Caller, create_agent, error_of
from tests.network import NetworkSpy
from tests.tools.helpers import (
    ToolServer,
    audit_entries,
    create_credential,
    create_tool,
    executions,
    http_tool,
    invoke,
)

pytestmark = pytest.mark.usefixtures("loopback_allowed")
CITY = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
    "required": ["city"],
}


def distinctive_secret() -> str:
    """A secret value that cannot appear anywhere by chance."""
    return f"sk-live-{uuid.uuid4().hex}"


async def test_credential_reaches_the_tool_and_nowhere_else(
    client, tenant_a: Caller, tool_server: ToolServer, network: NetworkSpy, fresh_db, caplog
) -> None:
    caplog.set_level(logging.DEBUG)
    secret = distinctive_secret()
    credential = await create_credential(client, tenant_a, "CRM_TOKEN", secret, category="http")
    tool = await create_tool(
        client,
        tenant_a,
        name="crm_lookup",
        type="http",
        function_schema=CITY,
        config={
            "url": tool_server.url("/echo?city={{city}}"),
            "headers": {"Authorization": "Bearer {{credential:CRM_TOKEN}}"},
            "body": {"city": "{{city}}", "days": "{{days}}"},
        },
    )
    agent = await create_agent(client, tenant_a, enabled_tools=["crm_lookup"])

    response = await invoke(
        client, tenant_a, agent["id"], "crm_lookup", {"city": "Lima", "days": 3}
    )

    assert response.status_code == 200, response.text
    assert network.connections == [("127.0.0.1", tool_server.port)]
    [received] = tool_server.received
    assert received.headers["authorization"] == f"Bearer {secret}"
    assert received.json == {"city": "Lima", "days": 3}
    assert received.query == {"city": ["Lima"]}
    result = response.json()
    assert (result["tool"], result["status"]) == ("crm_lookup", "completed")
    assert result["output"]["json"] == {"city": "Lima", "days": 3}
    # The tool service echoed the header back; the service must not pass the secret on.
    assert "authorization" in result["output"]["headers"]
    assert secret not in response.text

    [row] = await executions(fresh_db)
    assert str(row["id"]) == result["execution_id"]
    assert (row["status"], row["tool_name"], row["tool_id"]) == (
        "completed",
        "crm_lookup",
        tool["id"],
    )
    assert row["input_parameters"] == {"city": "Lima", "days": 3}
    assert row["output_result"]["result"]["json"] == {"city": "Lima", "days": 3}
    assert row["execution_time_ms"] is not None and row["error_message"] is None
    assert secret not in row["whole"]

    entries = await audit_entries(client, tenant_a)
    assert secret not in str(entries)
    [use] = [e for e in entries if e["action"] == "use"]
    assert use["resource_type"] == "credential"
    assert use["resource_id"] == credential["id"]
    assert use["new_values"] == {
        "consumer": "tool:crm_lookup",
        "destination_host": "tools.test",
        "outcome": "ok",
        "name": "CRM_TOKEN",
    }

    assert any(r.name.startswith("httpx") for r in caplog.records)  # the call was logged
    assert secret not in caplog.text
    assert all(secret not in r.getMessage() for r in caplog.records)

    shown = await client.get(f"/api/v1/tools/{tool['id']}", headers=tenant_a.headers)
    assert shown.json()["usage_count"] == 1


@pytest.mark.parametrize("other_host", ["mirror.test", "127.0.0.1"])
async def test_credential_headers_do_not_follow_a_redirect_to_another_host(
    client,
    tenant_a: Caller,
    tool_server: ToolServer,
    mirror_server: ToolServer,
    other_host: str,
) -> None:
    secret = distinctive_secret()
    await create_credential(client, tenant_a, "CRM_TOKEN", secret)
    elsewhere = mirror_server.url("/echo", host=other_host)
    await http_tool(
        client,
        tenant_a,
        "crm_lookup",
        tool_server.url(f"/redirect?to={quote(elsewhere, safe='')}"),
        method="GET",
        headers={
            "Authorization": "Bearer {{credential:CRM_TOKEN}}",
            "X-Api-Key": "{{credential:CRM_TOKEN}}",
            "X-Client": "orchestrator",
        },
    )
    agent = await create_agent(client, tenant_a, enabled_tools=["crm_lookup"])

    response = await invoke(client, tenant_a, agent["id"], "crm_lookup")

    assert response.status_code == 200, response.text
    [first] = tool_server.received
    assert first.headers["authorization"] == f"Bearer {secret}"
    [second] = mirror_server.received
    assert "authorization" not in second.headers
    assert "x-api-key" not in second.headers
    assert second.headers["x-client"] == "orchestrator"
    assert secret not in str(second)


async def test_credential_headers_follow_a_redirect_on_the_same_host(
    client, tenant_a: Caller, tool_server: ToolServer
) -> None:
    secret = distinctive_secret()
    await create_credential(client, tenant_a, "CRM_TOKEN", secret)
    await http_tool(
        client,
        tenant_a,
        "crm_lookup",
        tool_server.url("/redirect?to=/echo"),
        method="GET",
        headers={"Authorization": "Bearer {{credential:CRM_TOKEN}}"},
    )
    agent = await create_agent(client, tenant_a, enabled_tools=["crm_lookup"])

    response = await invoke(client, tenant_a, agent["id"], "crm_lookup")

    assert response.status_code == 200, response.text
    assert [r.path for r in tool_server.received] == ["/redirect", "/echo"]
    assert tool_server.received[1].headers["authorization"] == f"Bearer {secret}"


@pytest.mark.parametrize("code", [302, 307])
async def test_a_credential_in_the_body_does_not_follow_a_redirect_to_another_host(
    client, tenant_a: Caller, tool_server: ToolServer, mirror_server: ToolServer, code: int
) -> None:
    secret = distinctive_secret()
    await create_credential(client, tenant_a, "CRM_TOKEN", secret)
    elsewhere = quote(mirror_server.url("/echo", host="mirror.test"), safe="")
    await http_tool(
        client,
        tenant_a,
        "crm_lookup",
        tool_server.url(f"/redirect?code={code}&to={elsewhere}"),
        body={"api_key": "{{credential:CRM_TOKEN}}", "q": "status"},
    )
    agent = await create_agent(client, tenant_a, enabled_tools=["crm_lookup"])

    response = await invoke(client, tenant_a, agent["id"], "crm_lookup")

    assert tool_server.received[0].json == {"api_key": secret, "q": "status"}
    leaked = [(r.method, r.path) for r in mirror_server.received if secret in str(r)]
    assert leaked == [], f"the other host received the credential in {leaked}"
    assert secret not in response.text


async def test_a_tool_cannot_use_another_tenants_credential(
    client, tenant_a: Caller, tenant_b: Caller, tool_server: ToolServer, fresh_db
) -> None:
    secret_a = distinctive_secret()
    await create_credential(client, tenant_a, "A_ONLY_KEY", secret_a)
    await http_tool(
        client,
        tenant_b,
        "borrow",
        tool_server.url("/echo"),
        headers={"Authorization": "Bearer {{credential:A_ONLY_KEY}}"},
    )
    agent_b = await create_agent(client, tenant_b, enabled_tools=["borrow"])

    response = await invoke(client, tenant_b, agent_b["id"], "borrow")

    error = error_of(response, 404, "not_found")
    assert "A_ONLY_KEY" in error["message"]
    assert secret_a not in response.text
    assert tool_server.received == []
    [row] = await executions(fresh_db)
    assert row["status"] == "failed" and secret_a not in row["whole"]
    [use] = [e for e in await audit_entries(client, tenant_b) if e["action"] == "use"]
    assert use["new_values"]["outcome"] == "not_found"
    assert [e for e in await audit_entries(client, tenant_a) if e["action"] == "use"] == []


async def test_each_tenant_sends_its_own_credential_of_the_same_name(
    client, tenant_a: Caller, tenant_b: Caller, tool_server: ToolServer
) -> None:
    secrets = {}
    for tenant in (tenant_a, tenant_b):
        secrets[tenant.tenant_id] = distinctive_secret()
        await create_credential(client, tenant, "CRM_TOKEN", secrets[tenant.tenant_id])
        await http_tool(
            client,
            tenant,
            "crm_lookup",
            tool_server.url("/echo"),
            headers={"Authorization": "Bearer {{credential:CRM_TOKEN}}"},
        )
        agent = await create_agent(client, tenant, enabled_tools=["crm_lookup"])
        response = await invoke(client, tenant, agent["id"], "crm_lookup")
        assert response.status_code == 200, response.text

    assert [r.headers["authorization"] for r in tool_server.received] == [
        f"Bearer {secrets[tenant_a.tenant_id]}",
        f"Bearer {secrets[tenant_b.tenant_id]}",
    ]


async def test_a_credential_is_not_sent_to_a_host_it_is_not_allowed_for(
    client, tenant_a: Caller, tool_server: ToolServer
) -> None:
    secret = distinctive_secret()
    await create_credential(
        client, tenant_a, "PARTNER_KEY", secret, allowed_hosts=["api.partner.example"]
    )
    await http_tool(
        client,
        tenant_a,
        "partner",
        tool_server.url("/echo"),
        headers={"Authorization": "Bearer {{credential:PARTNER_KEY}}"},
    )
    agent = await create_agent(client, tenant_a, enabled_tools=["partner"])

    response = await invoke(client, tenant_a, agent["id"], "partner")

    assert "tools.test" in error_of(response, 403, "forbidden")["message"]
    assert tool_server.received == []
    [use] = [e for e in await audit_entries(client, tenant_a) if e["action"] == "use"]
    assert use["new_values"]["outcome"] == "host_not_allowed"
    assert use["new_values"]["destination_host"] == "tools.test"


async def test_a_credential_sent_to_a_tool_that_then_fails_is_still_audited(
    client, tenant_a: Caller, tool_server: ToolServer
) -> None:
    secret = distinctive_secret()
    credential = await create_credential(client, tenant_a, "CRM_TOKEN", secret)
    await http_tool(
        client,
        tenant_a,
        "crm_lookup",
        tool_server.url("/fail"),
        headers={"Authorization": "Bearer {{credential:CRM_TOKEN}}"},
    )
    agent = await create_agent(client, tenant_a, enabled_tools=["crm_lookup"])

    response = await invoke(client, tenant_a, agent["id"], "crm_lookup")

    error_of(response, 502, "tool_failed")
    assert tool_server.received[0].headers["authorization"] == f"Bearer {secret}"
    uses = [e for e in await audit_entries(client, tenant_a) if e["action"] == "use"]
    assert [(u["resource_id"], u["new_values"]["destination_host"]) for u in uses] == [
        (credential["id"], "tools.test")
    ]


async def test_a_credential_in_the_url_is_sent_to_its_allowed_host(
    client, tenant_a: Caller, tool_server: ToolServer, fresh_db, caplog
) -> None:
    caplog.set_level(logging.DEBUG)
    secret = distinctive_secret()
    await create_credential(client, tenant_a, "MAPS_KEY", secret, allowed_hosts=["tools.test"])
    await http_tool(
        client, tenant_a, "maps", tool_server.url("/echo?key={{credential:MAPS_KEY}}"), method="GET"
    )
    agent = await create_agent(client, tenant_a, enabled_tools=["maps"])

    response = await invoke(client, tenant_a, agent["id"], "maps")

    assert response.status_code == 200, response.text
    assert tool_server.received[0].query == {"key": [secret]}
    assert secret not in response.text
    assert secret not in caplog.text
    [row] = await executions(fresh_db)
    assert secret not in row["whole"]
    [use] = [e for e in await audit_entries(client, tenant_a) if e["action"] == "use"]
    assert use["new_values"]["destination_host"] == "tools.test"


async def test_arguments_cannot_smuggle_a_credential_reference(
    client, tenant_a: Caller, tool_server: ToolServer
) -> None:
    secret = distinctive_secret()
    await create_credential(client, tenant_a, "CRM_TOKEN", secret)
    await create_tool(
        client,
        tenant_a,
        name="notes",
        type="http",
        function_schema=CITY,
        config={
            "url": tool_server.url("/echo?city={{city}}"),
            "headers": {"X-City": "{{city}}"},
            "body": {"whole": "{{city}}", "inside": "city: {{city}}"},
        },
    )
    agent = await create_agent(client, tenant_a, enabled_tools=["notes"])
    smuggled = "{{credential:CRM_TOKEN}}"

    response = await invoke(client, tenant_a, agent["id"], "notes", {"city": smuggled})

    assert response.status_code == 200, response.text
    [received] = tool_server.received
    assert secret not in str(received)
    assert received.query == {"city": [smuggled]}
    assert received.headers["x-city"] == smuggled
    assert received.json == {"whole": smuggled, "inside": f"city: {smuggled}"}
    assert [e for e in await audit_entries(client, tenant_a) if e["action"] == "use"] == []
