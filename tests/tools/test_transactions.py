"""No transaction stays open across outbound HTTP: while a tool's service holds the call, the
service has no transaction open (and so no row lock, such as the one `last_used_at` takes)."""

import asyncio

import pytest

from tests.helpers import Caller, create_agent, sql
from tests.tools.helpers import ToolServer, create_credential, http_tool, invoke

pytestmark = pytest.mark.usefixtures("loopback_allowed")

OPEN_TRANSACTIONS = (
    "SELECT pid, state, query FROM pg_stat_activity "
    "WHERE datname = current_database() AND pid <> pg_backend_pid() AND xact_start IS NOT NULL"
)


async def test_no_transaction_is_open_while_a_tool_call_is_out(
    client, tenant_a: Caller, tool_server: ToolServer, fresh_db
) -> None:
    await create_credential(
        client, tenant_a, "REPORT_TOKEN", "s3cret-report", allowed_hosts=["tools.test"]
    )
    await http_tool(
        client,
        tenant_a,
        "slow_report",
        tool_server.url("/slow"),
        headers={"Authorization": "Bearer {{credential:REPORT_TOKEN}}"},
        timeout_s=10,
    )
    agent = await create_agent(client, tenant_a, enabled_tools=["slow_report"])

    call = asyncio.create_task(invoke(client, tenant_a, agent["id"], "slow_report"))
    for _ in range(500):  # until the tool's service holds the request (bounded)
        if tool_server.received or call.done():
            break
        await asyncio.sleep(0.01)
    assert tool_server.received, "the tool's service never got the call"
    while_out = await sql(fresh_db, OPEN_TRANSACTIONS)
    tool_server.release.set()
    response = await call

    assert response.status_code == 200, response.text
    assert tool_server.received[0].headers["authorization"] == "Bearer s3cret-report"
    assert [dict(r) for r in while_out] == []
