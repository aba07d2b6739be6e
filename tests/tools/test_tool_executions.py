"""`GET /tool-executions` (filters, pages, the tenant's only, secrets scrubbed) and
`GET /tool-statistics` (seed 000's tool_statistics view: calls, success rate, p50 and p95)."""

import pytest

from tests.helpers import Caller, all_pages, create_agent, error_of, sql
from tests.tools.helpers import ToolServer, create_credential, http_tool, invoke

pytestmark = pytest.mark.usefixtures("loopback_allowed")
SECRET = "tok-3b9f0e5c2d7a41e8"


async def test_calls_are_listed_filtered_and_scrubbed(
    client, tenant_a: Caller, tenant_b: Caller, tool_server: ToolServer
) -> None:
    await create_credential(client, tenant_a, "SHOP_TOKEN", SECRET)
    await http_tool(
        client,
        tenant_a,
        "echo",
        tool_server.url("/echo"),
        headers={"Authorization": "Bearer {{credential:SHOP_TOKEN}}"},
    )
    await http_tool(client, tenant_a, "broken", tool_server.url("/fail"))
    agent = await create_agent(client, tenant_a, enabled_tools=["echo", "broken"])
    for word in ("one", "two", "three"):
        assert (await invoke(client, tenant_a, agent["id"], "echo", {"w": word})).status_code == 200
    failed = await invoke(client, tenant_a, agent["id"], "broken")
    assert failed.status_code == 502

    everything = await all_pages(client, "/api/v1/tool-executions", tenant_a.headers, limit=2)
    only_failed = await client.get(
        "/api/v1/tool-executions", headers=tenant_a.headers, params={"status": "failed"}
    )
    by_name = await client.get(
        "/api/v1/tool-executions", headers=tenant_a.headers, params={"tool_name": "echo"}
    )
    as_b = await client.get("/api/v1/tool-executions", headers=tenant_b.headers)

    assert [e["tool_name"] for e in everything] == ["broken", "echo", "echo", "echo"]
    assert [e["input_parameters"] for e in everything[1:]] == [
        {"w": "three"},
        {"w": "two"},
        {"w": "one"},
    ]
    assert [e["tool_name"] for e in only_failed.json()["items"]] == ["broken"]
    assert only_failed.json()["items"][0]["error_message"]
    assert len(by_name.json()["items"]) == 3
    assert "output_result" not in everything[0]
    assert as_b.json()["items"] == []

    detail = await client.get(
        f"/api/v1/tool-executions/{everything[1]['id']}", headers=tenant_a.headers
    )
    assert detail.status_code == 200, detail.text
    # The echo server answered with the Authorization header it received: scrubbed.
    assert SECRET not in detail.text
    assert "[SECRET]" in detail.text
    other = await client.get(
        f"/api/v1/tool-executions/{everything[1]['id']}", headers=tenant_b.headers
    )
    error_of(other, 404, "not_found")


async def test_statistics_count_rate_and_percentiles(
    client, tenant_a: Caller, tenant_b: Caller, fresh_db
) -> None:
    agent = await create_agent(client, tenant_a, enabled_tools=["get_current_time"])
    for _ in range(3):
        assert (await invoke(client, tenant_a, agent["id"], "get_current_time")).status_code == 200
    bad = await invoke(client, tenant_a, agent["id"], "get_current_time", {"timezone": "Mars/X"})
    assert bad.status_code == 422
    # Known latencies, so the percentiles can be checked: 10, 20, 30 ms and a 1000 ms failure.
    await sql(
        fresh_db,
        "UPDATE tool_executions t SET execution_time_ms = v.ms FROM ("
        " SELECT id, (ARRAY[10, 20, 30, 1000])[row_number() OVER (ORDER BY status, created_at)]"
        " AS ms FROM tool_executions) v WHERE t.id = v.id",
    )

    response = await client.get("/api/v1/tool-statistics", headers=tenant_a.headers)
    other = await client.get("/api/v1/tool-statistics", headers=tenant_b.headers)

    assert response.status_code == 200, response.text
    (stats,) = response.json()["items"]
    assert stats["tool_name"] == "get_current_time"
    assert (stats["calls"], stats["completed"], stats["failed"]) == (4, 3, 1)
    assert stats["success_rate"] == 0.75
    assert stats["p50_ms"] == 25.0  # percentile_cont over 10, 20, 30, 1000
    assert stats["p95_ms"] == pytest.approx(30 + 0.85 * 970)
    assert stats["avg_ms"] == 265.0
    assert other.json()["items"] == []
    filtered = await client.get(
        "/api/v1/tool-statistics",
        headers=tenant_a.headers,
        params={"since": "2999-01-01T00:00:00Z"},
    )
    assert filtered.json()["items"] == []
