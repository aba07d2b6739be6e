"""The MCP door, driven by the official `mcp` client over real HTTP on loopback: it lists and
calls the tenant's tools (an agent's HTTP tool with its vault credential injected, through the
same runner as the REST invoke), searches knowledge, reads prompts; another tenant's key sees
none of the first tenant's objects; a key without the scope is refused."""

import json
import uuid

import httpx
import pytest
from mcp.shared.exceptions import McpError

from tests.helpers import Caller, create_agent, create_key
from tests.mcp_server.helpers import mcp_session
from tests.network import NetworkSpy
from tests.tools.helpers import (
    ToolServer,
    audit_entries,
    create_credential,
    create_tool,
    executions,
)

CITY = {
    "type": "object",
    "properties": {"city": {"type": "string"}},
    "required": ["city"],
    "additionalProperties": False,
}


@pytest.fixture
async def crm(client, tenant_a: Caller, tool_server: ToolServer) -> dict:
    """Tenant A's agent with an HTTP tool that sends a vault credential, and the secret."""
    secret = f"sk-live-{uuid.uuid4().hex}"
    await create_credential(client, tenant_a, "CRM_TOKEN", secret, category="http")
    await create_tool(
        client,
        tenant_a,
        name="crm_lookup",
        description="Look a city up in the CRM",
        type="http",
        function_schema=CITY,
        config={
            "url": tool_server.url("/echo"),
            "headers": {"Authorization": "Bearer {{credential:CRM_TOKEN}}"},
            "body": {"city": "{{city}}"},
        },
    )
    agent = await create_agent(
        client,
        tenant_a,
        name="Concierge",
        system_prompt_template="You are {{ bot }} of {{ company }}.",
        enabled_tools=["crm_lookup", "get_current_time"],
    )
    return {"agent": agent, "secret": secret}


async def test_the_mcp_client_lists_and_calls_an_agents_tools(
    client,
    base_url: str,
    tenant_a: Caller,
    crm: dict,
    tool_server: ToolServer,
    fresh_db,
    network: NetworkSpy,
) -> None:
    url = f"{base_url}/mcp?agent=agent-{crm['agent']['id']}"
    async with mcp_session(url, tenant_a.api_key) as session:
        listed = await session.list_tools()
        result = await session.call_tool("crm_lookup", {"city": "Lima"})
        refused = await session.call_tool("crm_lookup", {"town": "Lima"})
        nul = await session.call_tool("crm_lookup", {"city": "Li\x00ma"})

    tools = {t.name: t for t in listed.tools}
    assert set(tools) == {"crm_lookup", "get_current_time", "search_knowledge"}
    assert tools["crm_lookup"].inputSchema == CITY
    assert tools["crm_lookup"].description == "Look a city up in the CRM"

    assert not result.isError
    output = json.loads(result.content[0].text)
    assert output["json"] == {"city": "Lima"}
    [received] = tool_server.received
    assert received.headers["authorization"] == f"Bearer {crm['secret']}"
    assert crm["secret"] not in result.content[0].text
    assert refused.isError and "do not match its schema" in refused.content[0].text
    assert nul.isError and "NUL" in nul.content[0].text

    # The same runner as the REST invoke: recorded, and the credential use audited.
    rows = await executions(fresh_db)
    assert [(r["tool_name"], r["status"]) for r in rows] == [("crm_lookup", "completed")]
    uses = [e for e in await audit_entries(client, tenant_a) if e["action"] == "use"]
    assert [u["new_values"]["consumer"] for u in uses] == ["tool:crm_lookup"]


async def test_the_ssrf_guard_holds_for_mcp_calls(
    client, base_url: str, tenant_a: Caller, network: NetworkSpy
) -> None:
    await create_tool(
        client,
        tenant_a,
        name="metadata_probe",
        type="http",
        config={"url": "http://169.254.169.254/latest/meta-data/"},
    )
    agent = await create_agent(client, tenant_a, enabled_tools=["metadata_probe"])

    async with mcp_session(f"{base_url}/mcp?agent={agent['id']}", tenant_a.api_key) as session:
        result = await session.call_tool("metadata_probe", {})

    assert result.isError
    assert json.loads(result.content[0].text)["error"]["code"] == "destination_blocked"
    assert all(host in ("127.0.0.1", "::1") for host, _ in network.connections)


async def test_prompts_are_the_agents_templates(base_url: str, tenant_a: Caller, crm: dict) -> None:
    name = f"agent-{crm['agent']['id']}"
    async with mcp_session(f"{base_url}/mcp", tenant_a.api_key) as session:
        prompts = await session.list_prompts()
        rendered = await session.get_prompt(name, {"bot": "Ana", "company": "Acme"})
        with pytest.raises(McpError, match="Missing arguments: company"):
            await session.get_prompt(name, {"bot": "Ana"})
        tools = await session.list_tools()

    [prompt] = prompts.prompts
    assert prompt.name == name and prompt.title == "Concierge"
    assert [(a.name, a.required) for a in prompt.arguments] == [("bot", True), ("company", True)]
    assert rendered.messages[0].content.text == "You are Ana of Acme."
    # Without an agent named, only the knowledge search is offered.
    assert [t.name for t in tools.tools] == ["search_knowledge"]


async def test_another_tenant_sees_nothing_of_the_first(
    client,
    base_url: str,
    tenant_a: Caller,
    tenant_b: Caller,
    crm: dict,
    tool_server: ToolServer,
) -> None:
    agent_id = crm["agent"]["id"]
    async with httpx.AsyncClient(headers=tenant_b.headers) as http:
        named = await http.post(
            f"{base_url}/mcp?agent=agent-{agent_id}",
            json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
            headers={"Accept": "application/json, text/event-stream"},
        )
    assert named.status_code == 404
    assert named.json()["error"]["code"] == "not_found"

    async with mcp_session(f"{base_url}/mcp", tenant_b.api_key) as session:
        prompts = await session.list_prompts()
        resources = await session.list_resources()
        tools = await session.list_tools()
        call = await session.call_tool("crm_lookup", {"city": "Lima"})
        with pytest.raises(McpError):
            await session.get_prompt(f"agent-{agent_id}", {"bot": "x", "company": "y"})

    assert prompts.prompts == [] and resources.resources == []
    assert [t.name for t in tools.tools] == ["search_knowledge"]
    assert call.isError
    assert tool_server.received == []


@pytest.mark.parametrize(
    ("scopes", "status"),
    [(["agents:read"], 403), (["tools:read"], None)],
    ids=["no-tools-scope", "read-only"],
)
async def test_a_key_without_the_scope_is_refused(
    client, base_url: str, tenant_a: Caller, crm: dict, tool_server: ToolServer, scopes, status
) -> None:
    key = (await create_key(client, tenant_a.headers, "narrow", scopes=scopes))["api_key"]
    url = f"{base_url}/mcp?agent=agent-{crm['agent']['id']}"
    if status is not None:
        async with httpx.AsyncClient() as http:
            response = await http.post(
                url,
                headers={
                    "Authorization": f"Bearer {key}",
                    "Accept": "application/json, text/event-stream",
                },
                json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
            )
        assert response.status_code == status
        assert response.json()["error"]["details"] == {"scope": "tools:read"}
        return
    async with mcp_session(url, key) as session:
        listed = await session.list_tools()
        with pytest.raises(McpError, match="'tools:write' permission"):
            await session.call_tool("crm_lookup", {"city": "Lima"})
        with pytest.raises(McpError, match="'agents:read' permission"):
            await session.list_prompts()
    assert {t.name for t in listed.tools} == {"crm_lookup", "get_current_time"}
    assert tool_server.received == []


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer not-a-key"}, {"Authorization": "Basic dXNlcjpwYXNz"}],
    ids=["none", "malformed", "other-scheme"],
)
async def test_requests_without_a_valid_key_are_refused(base_url: str, headers) -> None:
    async with httpx.AsyncClient() as http:
        response = await http.post(
            f"{base_url}/mcp",
            headers={**headers, "Accept": "application/json, text/event-stream"},
            json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
        )
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.json()["error"]["code"] == "unauthorized"
