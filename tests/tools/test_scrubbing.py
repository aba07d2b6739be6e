"""Scrubbing per tenant through the invoke endpoint: a tool's echo is scrubbed of the calling
tenant's secrets and the global ones only, string by string, so another tenant's short common
secret neither corrupts the output nor turns it into a 500, and no output tells a tenant
whether a string is another tenant's secret."""

import uuid

import pytest

from tests.helpers import Caller, create_agent
from tests.tools.helpers import ToolServer, create_credential, executions, http_tool, invoke

pytestmark = pytest.mark.usefixtures("loopback_allowed")
# Values a careless tenant may store: common words, and JSON syntax that broke serialized JSON.
COMMON = ["1234", "null", '": "', "true", "echo"]


async def test_a_short_common_secret_of_one_tenant_changes_nothing_for_another(
    client, tenant_a: Caller, tenant_b: Caller, tool_server: ToolServer, fresh_db
) -> None:
    for i, value in enumerate(COMMON):
        await create_credential(client, tenant_a, f"COMMON_{i}", value)
    arguments = {"q": "1234 echo", "r": 'a": "b', "s": "null or true"}
    agents = {}
    for caller in (tenant_a, tenant_b):
        body = {"q": "{{q}}", "r": "{{r}}", "s": "{{s}}"}
        await http_tool(client, caller, "echo", tool_server.url("/echo"), body=body)
        agents[caller.tenant_id] = (await create_agent(client, caller, enabled_tools=["echo"]))[
            "id"
        ]

    theirs = await invoke(client, tenant_b, agents[tenant_b.tenant_id], "echo", arguments)
    own = await invoke(client, tenant_a, agents[tenant_a.tenant_id], "echo", arguments)

    # Tenant B's answer is what its service said, untouched by tenant A's values.
    assert theirs.status_code == 200, theirs.text
    assert theirs.json()["output"]["json"] == arguments
    # Tenant A's own values are scrubbed from its answer, string by string: no 500.
    assert own.status_code == 200, own.text
    assert own.json()["output"]["json"] == {
        "q": "[SECRET] [SECRET]",
        "r": "a[SECRET]b",
        "s": "[SECRET] or [SECRET]",
    }
    rows = {r["tenant_id"]: r for r in await executions(fresh_db)}
    assert rows[tenant_b.tenant_id]["input_parameters"] == arguments
    assert rows[tenant_b.tenant_id]["output_result"]["result"]["json"] == arguments


async def test_no_output_tells_a_tenant_whether_a_string_is_another_tenants_secret(
    client, tenant_a: Caller, tenant_b: Caller, platform_admin: Caller, tool_server: ToolServer
) -> None:
    secret_a = f"sk-tenantA-{uuid.uuid4().hex}"
    secret_global = f"sk-platform-{uuid.uuid4().hex}"
    await create_credential(client, tenant_a, "A_KEY", secret_a)
    await create_credential(
        client, platform_admin, "SHARED_KEY", secret_global, allowed_hosts=["tools.test"]
    )
    body = {"right": "{{right}}", "wrong": "{{wrong}}"}
    await http_tool(client, tenant_b, "echo", tool_server.url("/echo"), body=body)
    agent = await create_agent(client, tenant_b, enabled_tools=["echo"])
    # Tenant B guesses: one guess is tenant A's secret, the other a string that is nobody's.
    guesses = {"right": secret_a, "wrong": f"sk-tenantA-{uuid.uuid4().hex}"}

    response = await invoke(client, tenant_b, agent["id"], "echo", guesses)

    # Both come back alike: the answer does not single out tenant A's secret.
    assert response.json()["output"]["json"] == guesses
    # The global secrets are scrubbed for every tenant, since every tenant's tools may use them.
    shared = await invoke(client, tenant_b, agent["id"], "echo", {"right": secret_global})
    assert shared.json()["output"]["json"] == {"right": "[SECRET]", "wrong": ""}
