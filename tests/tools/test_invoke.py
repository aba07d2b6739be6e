"""POST /agents/{id}/tools/{name}/invoke against a real HTTP tool server on loopback: schema
checks naming the failing path, timeouts, server errors, size caps, retries, confirmation,
built-ins, shadowing and tenant isolation; every run is recorded in `tool_executions`."""

import json
from datetime import datetime, timedelta

import pytest

from tests.helpers import Caller, create_agent, error_of, sql
from tests.tools.helpers import ToolServer, create_tool, executions, http_tool, invoke

pytestmark = pytest.mark.usefixtures("loopback_allowed")

SCHEMA = {
    "type": "object",
    "properties": {
        "city": {"type": "string"},
        "days": {"type": "integer", "minimum": 1},
        "address": {"type": "object", "properties": {"zip": {"type": "string"}}},
    },
    "required": ["city"],
    "additionalProperties": False,
}


async def test_arguments_failing_the_schema_are_422_naming_the_path(
    client, tenant_a: Caller, tool_server: ToolServer, fresh_db, subtests
) -> None:
    await create_tool(
        client,
        tenant_a,
        name="weather",
        type="http",
        function_schema=SCHEMA,
        config={"url": tool_server.url("/echo")},
    )
    agent = await create_agent(client, tenant_a, enabled_tools=["weather"])
    cases = [
        ({"city": 5}, "$.city", "5 is not of type 'string'"),
        ({"city": "Lima", "days": 0}, "$.days", "0 is less than the minimum of 1"),
        ({"city": "Lima", "address": {"zip": 15001}}, "$.address.zip", "15001 is not of type"),
        ({}, "$", "'city' is a required property"),
        ({"city": "Lima", "color": "red"}, "$", "Additional properties are not allowed"),
    ]
    for arguments, path, message in cases:
        with subtests.test(msg=path):
            response = await invoke(client, tenant_a, agent["id"], "weather", arguments)

            error = error_of(response, 422, "invalid_input")
            assert f"{path}: {message}" in error["message"], error
            assert [d["path"] for d in error["details"]] == [path]
            assert message in error["details"][0]["message"]
    assert tool_server.received == []
    assert await executions(fresh_db) == []


async def test_a_tool_that_times_out_is_504_and_recorded_with_its_duration(
    client, tenant_a: Caller, tool_server: ToolServer, fresh_db
) -> None:
    await http_tool(client, tenant_a, "slow_report", tool_server.url("/slow"), timeout_s=0.5)
    agent = await create_agent(client, tenant_a, enabled_tools=["slow_report"])

    response = await invoke(client, tenant_a, agent["id"], "slow_report")

    error = error_of(response, 504, "tool_timeout")
    assert "0.5 s" in error["message"]
    [row] = await executions(fresh_db)
    assert row["status"] == "failed"
    assert row["execution_time_ms"] >= 500
    assert row["error_message"] == error["message"]
    assert row["output_result"] is None and row["completed_at"] is not None


async def test_a_tool_server_error_is_502_and_recorded_failed(
    client, tenant_a: Caller, tool_server: ToolServer, fresh_db
) -> None:
    await http_tool(client, tenant_a, "crm_lookup", tool_server.url("/fail"))
    agent = await create_agent(client, tenant_a, enabled_tools=["crm_lookup"])

    response = await invoke(client, tenant_a, agent["id"], "crm_lookup")

    error = error_of(response, 502, "tool_failed")
    assert "500" in error["message"]
    [row] = await executions(fresh_db)
    assert (row["status"], row["error_message"]) == ("failed", error["message"])


async def test_a_huge_answer_is_refused_at_the_cap_and_recorded_failed(
    client, tenant_a: Caller, tool_server: ToolServer, fresh_db
) -> None:
    await http_tool(
        client, tenant_a, "export", tool_server.url("/huge"), method="GET", max_response_bytes=1024
    )
    agent = await create_agent(client, tenant_a, enabled_tools=["export"])

    response = await invoke(client, tenant_a, agent["id"], "export")

    error = error_of(response, 502, "tool_failed")
    assert "larger than 1024 bytes" in error["message"]
    assert error["details"] == {"max_response_bytes": 1024}
    assert len(response.content) < 2048
    [row] = await executions(fresh_db)
    assert row["status"] == "failed" and row["output_result"] is None
    assert "1024" in row["error_message"]


async def test_retries_are_only_for_idempotent_methods(
    client, tenant_a: Caller, tool_server: ToolServer, subtests
) -> None:
    attempts = {"GET": 3, "PUT": 3, "POST": 1}
    for method in attempts:
        url = tool_server.url(f"/fail?method={method}")
        await http_tool(client, tenant_a, f"call_{method}", url, method=method, retries=2)
    agent = await create_agent(client, tenant_a, enabled_tools=[f"call_{m}" for m in attempts])

    for method, expected in attempts.items():
        with subtests.test(msg=method):
            response = await invoke(client, tenant_a, agent["id"], f"call_{method}")

            error_of(response, 502, "tool_failed")
            sent = [r.method for r in tool_server.received if r.query["method"] == [method]]
            assert sent == [method] * expected


async def test_a_tool_requiring_confirmation_runs_only_when_confirmed(
    client, tenant_a: Caller, tool_server: ToolServer, fresh_db
) -> None:
    await create_tool(
        client,
        tenant_a,
        name="refund",
        type="http",
        requires_confirmation=True,
        security_level="dangerous",
        config={"url": tool_server.url("/echo")},
    )
    agent = await create_agent(client, tenant_a, enabled_tools=["refund"])

    refused = await invoke(client, tenant_a, agent["id"], "refund")

    error = error_of(refused, 409, "confirmation_required")
    assert '"confirm": true' in error["message"]
    assert tool_server.received == []
    assert await executions(fresh_db) == []

    confirmed = await invoke(client, tenant_a, agent["id"], "refund", confirm=True)

    assert confirmed.status_code == 200, confirmed.text
    assert len(tool_server.received) == 1
    assert [row["status"] for row in await executions(fresh_db)] == ["completed"]


async def test_builtin_get_current_time(client, tenant_a: Caller, fresh_db) -> None:
    agent = await create_agent(client, tenant_a, enabled_tools=["get_current_time"])

    lima = await invoke(
        client, tenant_a, agent["id"], "get_current_time", {"timezone": "America/Lima"}
    )
    utc = await invoke(client, tenant_a, agent["id"], "get_current_time")
    unknown = await invoke(
        client, tenant_a, agent["id"], "get_current_time", {"timezone": "Mars/Olympus"}
    )

    assert lima.status_code == 200, lima.text
    assert lima.json()["output"]["timezone"] == "America/Lima"
    assert datetime.fromisoformat(lima.json()["output"]["now"]).utcoffset() == timedelta(hours=-5)
    assert utc.json()["output"]["timezone"] == "UTC"
    assert datetime.fromisoformat(utc.json()["output"]["now"]).utcoffset() == timedelta(0)
    assert "Mars/Olympus" in error_of(unknown, 422, "invalid_input")["message"]
    assert [row["status"] for row in await executions(fresh_db)] == [
        "completed",
        "completed",
        "failed",
    ]


async def test_builtin_search_knowledge_without_a_vector_store_says_so(
    client, tenant_a: Caller
) -> None:
    agent = await create_agent(
        client,
        tenant_a,
        enabled_tools=["search_knowledge"],
        knowledge_collections=["faq", "precios"],
    )

    found = await invoke(client, tenant_a, agent["id"], "search_knowledge", {"query": "refunds"})
    bad = await invoke(
        client, tenant_a, agent["id"], "search_knowledge", {"query": "x", "top_k": 0}
    )

    assert found.status_code == 200, found.text
    output = found.json()["output"]
    assert output["status"] == "not_configured"
    assert output["collections"] == ["faq", "precios"]
    assert output["results"] == []
    assert error_of(bad, 422, "invalid_input")["details"][0]["path"] == "$.top_k"


async def test_a_tenant_tool_shadows_the_global_one_when_invoked(
    client, tenant_a: Caller, tenant_b: Caller, platform_admin: Caller, tool_server: ToolServer
) -> None:
    await http_tool(client, platform_admin, "weather", tool_server.url("/echo?source=global"))
    await http_tool(client, tenant_a, "weather", tool_server.url("/echo?source=tenant"))
    agent_a = await create_agent(client, tenant_a, enabled_tools=["weather"])
    agent_b = await create_agent(client, tenant_b, enabled_tools=["weather"])

    from_a = await invoke(client, tenant_a, agent_a["id"], "weather")
    from_b = await invoke(client, tenant_b, agent_b["id"], "weather")

    assert from_a.json()["output"]["query"] == {"source": ["tenant"]}
    assert from_b.json()["output"]["query"] == {"source": ["global"]}


async def test_only_the_agents_enabled_tools_can_be_invoked(
    client, tenant_a: Caller, tool_server: ToolServer, fresh_db
) -> None:
    disabled = await http_tool(client, tenant_a, "switched_off", tool_server.url("/echo"))
    switched = await client.patch(
        f"/api/v1/tools/{disabled['id']}", headers=tenant_a.headers, json={"is_enabled": False}
    )
    assert switched.json()["is_enabled"] is False
    await http_tool(client, tenant_a, "not_listed", tool_server.url("/echo"))
    agent = await create_agent(client, tenant_a, enabled_tools=["switched_off", "missing"])

    for name in ("switched_off", "not_listed", "missing", "get_current_time"):
        error_of(await invoke(client, tenant_a, agent["id"], name), 404, "not_found")
    assert tool_server.received == []
    assert await executions(fresh_db) == []


async def test_another_tenant_cannot_invoke_an_agent_or_its_tools(
    client, tenant_a: Caller, tenant_b: Caller, tool_server: ToolServer, fresh_db
) -> None:
    await http_tool(client, tenant_a, "a_crm", tool_server.url("/echo"))
    agent_a = await create_agent(client, tenant_a, enabled_tools=["a_crm"])
    agent_b = await create_agent(client, tenant_b, enabled_tools=["a_crm"])

    error_of(await invoke(client, tenant_b, agent_a["id"], "a_crm"), 404, "not_found")
    error_of(await invoke(client, tenant_b, agent_b["id"], "a_crm"), 404, "not_found")

    assert tool_server.received == []
    assert await executions(fresh_db) == []
    assert (await invoke(client, tenant_a, agent_a["id"], "a_crm")).status_code == 200


async def test_a_tool_with_a_broken_stored_config_fails_cleanly_and_is_recorded(
    lenient_client, tenant_a: Caller, fresh_db, subtests
) -> None:
    configs = {
        "seed_003_keys": {"url": "http://internal.corp.test/echo", "timeout": 30},
        "wrong_type": {"url": "http://internal.corp.test/echo", "timeout_s": "soon"},
        "malformed_url": {"url": "http://[::1/echo"},
    }
    for name, config in configs.items():
        tool = await http_tool(lenient_client, tenant_a, name, "http://internal.corp.test/echo")
        # Rows healed forward from a seed-003 database carry whatever config they had.
        await sql(
            fresh_db,
            "UPDATE tools SET config = $1::jsonb WHERE id = $2",
            json.dumps(config),
            tool["id"],
        )
    agent = await create_agent(lenient_client, tenant_a, enabled_tools=list(configs))

    for name in configs:
        with subtests.test(msg=name):
            response = await invoke(lenient_client, tenant_a, agent["id"], name)

            [row] = [r for r in await executions(fresh_db) if r["tool_name"] == name]
            assert row["status"] == "failed", row
            assert response.status_code in (422, 502), response.text
            assert response.json()["error"]["message"] == row["error_message"]
