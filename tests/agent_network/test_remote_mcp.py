"""An agent's remote MCP server (`mcp_endpoint`): its tools listed and called with the mcp
SDK's client through the SSRF guard, with the vault credential as bearer, within a deadline
and a size cap; lying, slow and private servers refused with clear errors."""

import dataclasses
import uuid

import httpx
import pytest
from sqlalchemy import select

from orchestrator_service.bootstrap import Runtime
from orchestrator_service.tools.models import ToolExecution
from tests.agent_network.mcp_servers import serve_mcp, serve_not_mcp
from tests.agents.helpers import create_scripted_agent
from tests.helpers import Caller, create_agent, error_of
from tests.network import NetworkSpy
from tests.scripted_model import Call, Say, ScriptedModel

TOKEN = f"mcp-token-{uuid.uuid4().hex}"


@pytest.fixture
def loopback(runtime: Runtime) -> None:
    """The guard lets the service reach 127.0.0.1, where the stand-ins run."""
    runtime.guard.allow("127.0.0.1")


async def store_token(client: httpx.AsyncClient, caller: Caller, hosts: list[str]) -> None:
    response = await client.post(
        "/api/v1/credentials",
        headers=caller.headers,
        json={"name": "MCP_TOKEN", "value": TOKEN, "allowed_hosts": hosts},
    )
    assert response.status_code == 201, response.text


async def mcp_agent(
    client: httpx.AsyncClient, caller: Caller, endpoint: str, *, credential: bool = True
) -> int:
    config = {"mcp_credential": "MCP_TOKEN"} if credential else {}
    agent = await create_agent(client, caller, mcp_endpoint=endpoint, config=config)
    assert agent["mcp_endpoint"] == endpoint
    return agent["id"]


async def list_tools(client: httpx.AsyncClient, caller: Caller, agent_id: int) -> httpx.Response:
    return await client.get(f"/api/v1/agents/{agent_id}/mcp/tools", headers=caller.headers)


async def invoke(
    client: httpx.AsyncClient, caller: Caller, agent_id: int, tool: str, **arguments: object
) -> httpx.Response:
    return await client.post(
        f"/api/v1/agents/{agent_id}/tools/{tool}/invoke",
        headers=caller.headers,
        json={"arguments": arguments},
    )


async def test_the_agents_mcp_tools_are_listed_and_called_with_its_bearer(
    client: httpx.AsyncClient, tenant_a: Caller, loopback: None
) -> None:
    await store_token(client, tenant_a, ["127.0.0.1"])
    async with serve_mcp() as (endpoint, seen):
        agent = await mcp_agent(client, tenant_a, endpoint)
        listed = await list_tools(client, tenant_a, agent)
        assert listed.status_code == 200, listed.text
        tools = {t["name"]: t for t in listed.json()["items"]}
        assert set(tools) == {"add", "slow", "flood", "leak", "leak_error"}
        assert tools["add"]["description"] == "Add two integers."
        assert set(tools["add"]["input_schema"]["properties"]) == {"a", "b"}

        await client.patch(
            f"/api/v1/agents/{agent}",
            headers=tenant_a.headers,
            json={"enabled_tools": ["mcp_list_tools", "mcp_call_tool"]},
        )
        called = await invoke(
            client, tenant_a, agent, "mcp_call_tool", name="add", arguments={"a": 2, "b": 40}
        )
        assert called.status_code == 200, called.text
        output = called.json()["output"]
        assert output["is_error"] is False and output["content"] == ["42"]
        assert output["structured"] == {"result": 42}
        assert TOKEN not in called.text
    assert seen.authorizations and set(seen.authorizations) == {f"Bearer {TOKEN}"}


async def test_a_server_quoting_the_bearer_back_never_gets_it_passed_on(
    client: httpx.AsyncClient, runtime: Runtime, tenant_a: Caller, loopback: None
) -> None:
    await store_token(client, tenant_a, ["127.0.0.1"])
    async with serve_mcp() as (endpoint, _):
        agent = await mcp_agent(client, tenant_a, endpoint)
        await client.patch(
            f"/api/v1/agents/{agent}",
            headers=tenant_a.headers,
            json={"enabled_tools": ["mcp_call_tool"]},
        )
        quoted = await invoke(client, tenant_a, agent, "mcp_call_tool", name="leak")
        assert quoted.status_code == 200, quoted.text
        assert quoted.json()["output"]["content"][0].startswith("you sent Bearer ")
        failed = await invoke(client, tenant_a, agent, "mcp_call_tool", name="leak_error")
    assert TOKEN not in quoted.text and TOKEN not in failed.text
    assert "no: Bearer " in failed.text
    async with runtime.sessionmaker() as session:
        stored = await session.scalars(select(ToolExecution))
        records = [(e.output_result, e.error_message) for e in stored]
    assert len(records) == 2 and TOKEN not in str(records)


async def test_an_agent_run_uses_its_mcp_tools(
    client: httpx.AsyncClient, tenant_a: Caller, model: ScriptedModel, llm_key: str
) -> None:
    await store_token(client, tenant_a, ["127.0.0.1"])
    async with serve_mcp() as (endpoint, _):
        agent = await create_scripted_agent(
            client,
            tenant_a,
            model,
            enabled_tools=["mcp_list_tools", "mcp_call_tool"],
            mcp_endpoint=endpoint,
            config={"mcp_credential": "MCP_TOKEN"},
        )
        model.play(
            Call("mcp_list_tools"),
            Call("mcp_call_tool", {"name": "add", "arguments": {"a": 1, "b": 2}}, call_id="c2"),
            Say("1 + 2 = 3"),
        )
        run = await client.post(
            f"/api/v1/agents/{agent['id']}/runs",
            headers=tenant_a.headers,
            json={"input": "Add 1 and 2 with your tools"},
        )
    assert run.status_code == 200, run.text
    assert run.json()["output"] == "1 + 2 = 3"
    tool_messages = [m for m in model.bodies[2]["messages"] if m["role"] == "tool"]
    assert '"add"' in tool_messages[0]["content"] and '["3"]' in tool_messages[1]["content"]


async def test_the_credential_goes_only_where_it_is_allowed(
    client: httpx.AsyncClient, tenant_a: Caller, loopback: None
) -> None:
    await store_token(client, tenant_a, ["mcp.example.com"])
    async with serve_mcp() as (endpoint, seen):
        agent = await mcp_agent(client, tenant_a, endpoint)
        error = error_of(await list_tools(client, tenant_a, agent), 403)
    assert TOKEN not in str(error)
    assert seen.authorizations == []  # refused before any request


async def test_a_slow_server_times_out(
    client: httpx.AsyncClient, runtime: Runtime, tenant_a: Caller, loopback: None
) -> None:
    remote = runtime.network.remote
    remote.limits = dataclasses.replace(remote.limits, timeout_seconds=1.5)
    async with serve_mcp() as (endpoint, _):
        agent = await mcp_agent(client, tenant_a, endpoint, credential=False)
        await client.patch(
            f"/api/v1/agents/{agent}",
            headers=tenant_a.headers,
            json={"enabled_tools": ["mcp_call_tool"]},
        )
        error = error_of(await invoke(client, tenant_a, agent, "mcp_call_tool", name="slow"), 504)
    assert error["code"] == "mcp_timeout"
    assert "127.0.0.1" in error["message"] and "1.5 s" in error["message"]


async def test_a_flooding_server_is_cut_off_at_the_cap(
    client: httpx.AsyncClient, runtime: Runtime, tenant_a: Caller, loopback: None
) -> None:
    remote = runtime.network.remote
    remote.limits = dataclasses.replace(remote.limits, max_response_bytes=65_536)
    async with serve_mcp() as (endpoint, _):
        agent = await mcp_agent(client, tenant_a, endpoint, credential=False)
        await client.patch(
            f"/api/v1/agents/{agent}",
            headers=tenant_a.headers,
            json={"enabled_tools": ["mcp_call_tool"]},
        )
        error = error_of(await invoke(client, tenant_a, agent, "mcp_call_tool", name="flood"), 502)
        assert error["code"] == "mcp_failed" and "larger than 65536 bytes" in error["message"]
        # The honest tools of the same server still work within the cap.
        ok = await invoke(
            client, tenant_a, agent, "mcp_call_tool", name="add", arguments={"a": 1, "b": 1}
        )
        assert ok.status_code == 200, ok.text


async def test_a_server_that_does_not_speak_mcp_is_refused_clearly(
    client: httpx.AsyncClient, tenant_a: Caller, loopback: None
) -> None:
    async with serve_not_mcp() as endpoint:
        agent = await mcp_agent(client, tenant_a, endpoint, credential=False)
        error = error_of(await list_tools(client, tenant_a, agent), 502, "mcp_failed")
    assert error["message"].startswith("The MCP server at 127.0.0.1 ")


@pytest.mark.parametrize(
    "endpoint",
    [
        "http://169.254.169.254/latest/meta-data",
        "http://10.0.0.7:8080/mcp",
        "http://[::ffff:192.168.1.1]/mcp",
        "http://mcp.internal.example/mcp",  # resolves to a private address
    ],
)
async def test_private_endpoints_are_refused_before_any_connection(
    client: httpx.AsyncClient,
    runtime: Runtime,
    tenant_a: Caller,
    network: NetworkSpy,
    endpoint: str,
) -> None:
    async def resolver(host: str, port: int) -> list[str]:
        return ["10.1.2.3"]

    runtime.guard.resolver = resolver
    await store_token(client, tenant_a, ["169.254.169.254", "10.0.0.7", "mcp.internal.example"])
    agent = await mcp_agent(client, tenant_a, endpoint)
    error = error_of(await list_tools(client, tenant_a, agent), 422, "destination_blocked")
    assert TOKEN not in str(error)
    assert network.connections == []


async def test_an_agent_without_an_endpoint_and_bad_endpoints(
    client: httpx.AsyncClient, tenant_a: Caller, tenant_b: Caller
) -> None:
    plain = (await create_agent(client, tenant_a, enabled_tools=["mcp_list_tools"]))["id"]
    listed = await list_tools(client, tenant_a, plain)
    assert listed.status_code == 200 and listed.json()["items"] == []
    error = error_of(await invoke(client, tenant_a, plain, "mcp_list_tools"), 422, "invalid_input")
    assert "no MCP server" in error["message"]
    error_of(await list_tools(client, tenant_b, plain), 404)  # another tenant's agent
    for bad in ("ftp://example.com/mcp", "not a url", "http://", "file:///etc/passwd"):
        response = await client.post(
            "/api/v1/agents",
            headers=tenant_a.headers,
            json={"name": "x", "system_prompt_template": "x", "mcp_endpoint": bad},
        )
        error_of(response, 422)
    cleared = await client.patch(
        f"/api/v1/agents/{plain}", headers=tenant_a.headers, json={"mcp_endpoint": None}
    )
    assert cleared.status_code == 200 and cleared.json()["mcp_endpoint"] is None
