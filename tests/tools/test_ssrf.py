"""The SSRF guard through the invoke endpoint: private, loopback, link-local, CGNAT and metadata
destinations are refused before any connection (the network spy sees none), by literal address,
by a name resolving there, or by a redirect hop; each refusal is a failed `tool_executions` row.
The caller is told only "destination not allowed" and the host it named: what a name resolves
to (or that it does not resolve) goes to the log at warning level, never to the caller."""

import logging
from urllib.parse import quote, urlsplit

import pytest

from orchestrator_service.tools.ssrf import BlockedDestination, Guard
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
    caplog,
) -> None:
    caplog.set_level(logging.WARNING, logger="orchestrator_service.tools.ssrf")
    install_guard(runtime)  # nothing allow-listed: the default
    for name, (url, _) in BLOCKED_DIRECTLY.items():
        await http_tool(client, tenant_a, name, url.format(port=tool_server.port), method="GET")
    agent = await create_agent(client, tenant_a, enabled_tools=list(BLOCKED_DIRECTLY))

    for name, (url, addresses) in BLOCKED_DIRECTLY.items():
        with subtests.test(msg=name):
            response = await invoke(client, tenant_a, agent["id"], name)

            error = error_of(response, 422, "destination_blocked")
            assert error["message"] == "Destination not allowed"
            assert list(error["details"]) == ["host"]
            resolved = [a for a in addresses if a not in url]  # what a name stood for
            assert all(address not in response.text for address in resolved)
            [row] = [r for r in await executions(fresh_db) if r["tool_name"] == name]
            assert (row["status"], row["error_message"]) == ("failed", error["message"])
            # The operators learn why, at warning level.
            [logged] = [r for r in caplog.records if r.getMessage().endswith("is intended")]
            assert logged.levelno == logging.WARNING
            assert all(address in logged.getMessage() for address in addresses)
            caplog.clear()

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
        "to_metadata": "http://169.254.169.254/latest/meta-data",
        "to_intranet": "http://internal.corp.test/",  # resolves to 10.1.2.3
    }
    for name, target in targets.items():
        url = tool_server.url(f"/redirect?to={quote(target, safe='')}")
        await http_tool(client, tenant_a, name, url, method="GET")
    agent = await create_agent(client, tenant_a, enabled_tools=list(targets))

    for name, target in targets.items():
        with subtests.test(msg=name):
            response = await invoke(client, tenant_a, agent["id"], name)

            error = error_of(response, 422, "destination_blocked")
            assert error == {
                "code": "destination_blocked",
                "message": "Destination not allowed",
                "details": {"host": urlsplit(target).hostname},
            }
            assert "10.1.2.3" not in response.text
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


async def test_an_unresolvable_name_is_refused_like_a_private_one(
    client, runtime, tenant_a: Caller, network: NetworkSpy, fresh_db, caplog
) -> None:
    caplog.set_level(logging.WARNING, logger="orchestrator_service.tools.ssrf")
    install_guard(runtime)
    await http_tool(client, tenant_a, "nowhere", "http://no-such-host.test/api")
    await http_tool(client, tenant_a, "intranet", "http://internal.corp.test/api")
    agent = await create_agent(client, tenant_a, enabled_tools=["nowhere", "intranet"])

    nowhere = error_of(
        await invoke(client, tenant_a, agent["id"], "nowhere"), 422, "destination_blocked"
    )
    intranet = error_of(
        await invoke(client, tenant_a, agent["id"], "intranet"), 422, "destination_blocked"
    )

    # The same words whether the name does not exist or exists inside: no map of the intranet.
    assert nowhere["message"] == intranet["message"] == "Destination not allowed"
    assert nowhere["details"] == {"host": "no-such-host.test"}
    assert "does not resolve" in caplog.text and "10.1.2.3" in caplog.text
    assert network.connections == []
    assert [r["status"] for r in await executions(fresh_db)] == ["failed", "failed"]


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


async def test_numeric_host_forms_are_judged_as_the_address_they_reach() -> None:
    """Hex, decimal, octal, shortened and trailing-dot IPv4 forms, which the C library's
    resolver turns into an address without asking DNS, are judged as that address: refused
    without consulting the resolver, as a dotted literal is."""
    asked: list[str] = []

    async def resolver(host: str, port: int) -> list[str]:
        asked.append(host)
        return ["93.184.216.34"]  # a public address: a name would pass

    guard = Guard(resolver=resolver)
    for host in (
        "0x7f000001",
        "2130706433",
        "0177.0.0.1",
        "127.1",
        "0xa9.0xfe.0xa9.0xfe",
        "169.254.169.254.",
        "0xA.1",
    ):
        with pytest.raises(BlockedDestination):
            await guard.vet(host, 80)
    assert asked == []
    assert await guard.vet("0x5d.0xb8.0xd8.0x22", 443) == "93.184.216.34"
    assert await guard.vet("hooks.example.test", 443) == "93.184.216.34"
    assert asked == ["hooks.example.test"]
