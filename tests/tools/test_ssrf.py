"""The SSRF guard through the invoke endpoint: private, loopback, link-local, CGNAT and metadata
destinations are refused before any connection (the network spy sees none), by literal address,
by a name resolving there, or by a redirect hop; each refusal is a failed `tool_executions` row."""

from urllib.parse import quote

from tests.helpers import Caller, create_agent, error_of
from tests.network import NetworkSpy
from tests.tools.helpers import ToolServer, executions, http_tool, install_guard, invoke

BLOCKED_DIRECTLY = {
    "metadata": ("http://169.254.169.254/latest/meta-data/iam/", ["169.254.169.254"]),
    "loopback_v4": ("http://127.0.0.1:{port}/echo", ["127.0.0.1"]),
    "loopback_v6": ("http://[::1]:{port}/echo", ["::1"]),
    "localhost": ("http://localhost:{port}/echo", ["127.0.0.1", "::1"]),
    "private_10": ("http://10.0.0.1/admin", ["10.0.0.1"]),
    "private_192": ("http://192.168.1.1/", ["192.168.1.1"]),
    "private_172": ("http://172.16.5.4/", ["172.16.5.4"]),
    "cgnat": ("http://100.64.0.1/", ["100.64.0.1"]),
    "mapped_metadata": ("http://[::ffff:169.254.169.254]/", ["169.254.169.254"]),
    "aws_v6_metadata": ("http://[fd00:ec2::254]/latest/meta-data", ["fd00:ec2::254"]),
    "this_network": ("http://0.0.0.0:{port}/echo", ["0.0.0.0"]),
    "name_to_10": ("http://internal.corp.test/api", ["10.1.2.3"]),
    "name_to_192": ("https://home.router.test/", ["192.168.1.1"]),
}


async def test_private_destinations_are_refused_before_connecting(
    client,
    runtime,
    tenant_a: Caller,
    tool_server: ToolServer,
    network: NetworkSpy,
    fresh_db,
    subtests,
) -> None:
    install_guard(runtime)  # nothing allow-listed: the default
    for name, (url, _) in BLOCKED_DIRECTLY.items():
        await http_tool(client, tenant_a, name, url.format(port=tool_server.port), method="GET")
    agent = await create_agent(client, tenant_a, enabled_tools=list(BLOCKED_DIRECTLY))

    for name, (_, addresses) in BLOCKED_DIRECTLY.items():
        with subtests.test(msg=name):
            response = await invoke(client, tenant_a, agent["id"], name)

            error = error_of(response, 422, "destination_blocked")
            assert "private, loopback, link-local or metadata" in error["message"]
            assert "ORCH_OUTBOUND_ALLOWED_HOSTS" in error["message"]
            assert error["details"]["addresses"] == addresses
            [row] = [r for r in await executions(fresh_db) if r["tool_name"] == name]
            assert (row["status"], row["error_message"]) == ("failed", error["message"])

    assert network.connections == []
    assert tool_server.received == []


async def test_a_redirect_to_a_private_address_is_refused_at_that_hop(
    client,
    runtime,
    tenant_a: Caller,
    tool_server: ToolServer,
    network: NetworkSpy,
    fresh_db,
    subtests,
) -> None:
    install_guard(runtime, "127.0.0.1")  # the tool service itself is allow-listed
    targets = {
        "to_metadata": ("http://169.254.169.254/latest/meta-data", "169.254.169.254"),
        "to_intranet": ("http://internal.corp.test/", "10.1.2.3"),
    }
    for name, (target, _) in targets.items():
        url = tool_server.url(f"/redirect?to={quote(target, safe='')}")
        await http_tool(client, tenant_a, name, url, method="GET")
    agent = await create_agent(client, tenant_a, enabled_tools=list(targets))

    for name, (_, address) in targets.items():
        with subtests.test(msg=name):
            response = await invoke(client, tenant_a, agent["id"], name)

            error = error_of(response, 422, "destination_blocked")
            assert error["details"]["addresses"] == [address]
            [row] = [r for r in await executions(fresh_db) if r["tool_name"] == name]
            assert row["status"] == "failed"

    # Only the allowed first hops connected; the redirect targets never were.
    assert network.connections == [("127.0.0.1", tool_server.port)] * len(targets)
    assert [r.path for r in tool_server.received] == ["/redirect"] * len(targets)


async def test_an_allow_listed_name_does_not_allow_other_names_at_the_same_address(
    client, runtime, tenant_a: Caller, tool_server: ToolServer, network: NetworkSpy
) -> None:
    install_guard(runtime, "tools.test")
    await http_tool(client, tenant_a, "allowed", tool_server.url("/echo", host="tools.test"))
    await http_tool(client, tenant_a, "other", tool_server.url("/echo", host="mirror.test"))
    agent = await create_agent(client, tenant_a, enabled_tools=["allowed", "other"])

    allowed = await invoke(client, tenant_a, agent["id"], "allowed")
    other = await invoke(client, tenant_a, agent["id"], "other")

    assert allowed.status_code == 200, allowed.text
    assert error_of(other, 422, "destination_blocked")["details"]["host"] == "mirror.test"
    assert network.connections == [("127.0.0.1", tool_server.port)]
    assert len(tool_server.received) == 1


async def test_an_unresolvable_name_is_refused(
    client, runtime, tenant_a: Caller, network: NetworkSpy, fresh_db
) -> None:
    install_guard(runtime)
    await http_tool(client, tenant_a, "nowhere", "http://no-such-host.test/api")
    agent = await create_agent(client, tenant_a, enabled_tools=["nowhere"])

    response = await invoke(client, tenant_a, agent["id"], "nowhere")

    assert "no-such-host.test" in error_of(response, 422, "destination_blocked")["message"]
    assert network.connections == []
    assert [r["status"] for r in await executions(fresh_db)] == ["failed"]


async def test_ipv6_addresses_embedding_a_private_ipv4_are_refused(
    client, runtime, tenant_a: Caller, network: NetworkSpy, subtests
) -> None:
    install_guard(runtime)
    embedded = {
        "nat64_metadata": ("http://[64:ff9b::a9fe:a9fe]/latest/meta-data", "169.254.169.254"),
        "nat64_private_10": ("http://[64:ff9b::a00:1]/admin", "10.0.0.1"),
        "sixtofour_private_192": ("http://[2002:c0a8:101::1]/", "192.168.1.1"),
    }
    for name, (url, _) in embedded.items():
        await http_tool(client, tenant_a, name, url, method="GET")
    agent = await create_agent(client, tenant_a, enabled_tools=list(embedded))

    for name, (_, inner) in embedded.items():
        with subtests.test(msg=f"{name} ({inner})"):
            response = await invoke(client, tenant_a, agent["id"], name)

            error_of(response, 422, "destination_blocked")
    assert network.connections == []
