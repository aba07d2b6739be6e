"""The SSRF guard: outbound tool calls reach public addresses only, unless allow-listed.

The check sits in the HTTP client's network backend, where a connection is about to open: the
host is resolved, every address it resolves to is checked, and the socket is opened to a
checked address. So redirects, retries and DNS answers that change between check and use
(rebinding) cannot get around it, and a refusal happens before any socket exists.

A refusal tells the caller only that the destination is not allowed (and which host it named):
what a name resolves to, or that it does not resolve, would map the internal network for them.
The detail goes to the log, at warning level, for the operators.
"""

import asyncio
import ipaddress
import logging
import socket
import typing
from collections.abc import Awaitable, Callable, Iterable

import httpcore
import httpx

from orchestrator_service.errors import OrchestratorError

log = logging.getLogger(__name__)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Awaitable[list[str]]]

_BLOCKED = [
    ipaddress.ip_network(n)
    for n in (
        "0.0.0.0/8",  # "this network"
        "10.0.0.0/8",  # private
        "100.64.0.0/10",  # carrier-grade NAT
        "127.0.0.0/8",  # loopback
        "169.254.0.0/16",  # link-local, cloud metadata (169.254.169.254)
        "172.16.0.0/12",  # private
        "192.0.0.0/24",  # IETF protocol assignments
        "192.168.0.0/16",  # private
        "198.18.0.0/15",  # benchmarking
        "224.0.0.0/4",  # multicast
        "240.0.0.0/4",  # reserved, broadcast
        "::/128",
        "::1/128",  # loopback
        "fc00::/7",  # unique local (includes AWS metadata fd00:ec2::254)
        "fe80::/10",  # link-local
        "ff00::/8",  # multicast
    )
]


class BlockedDestination(OrchestratorError):
    """An outbound call was refused before connecting."""

    status_code = 422
    code = "destination_blocked"

    def __init__(self, host: str) -> None:
        super().__init__("Destination not allowed", details={"host": host})


async def system_resolver(host: str, port: int) -> list[str]:
    """The addresses the system resolver gives for `host`."""
    infos = await asyncio.get_running_loop().getaddrinfo(
        host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
    )
    return [str(info[4][0]) for info in infos]  # an IP family's sockaddr starts with a str


_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")


def _normalized(address: str) -> IPAddress:
    """The address to judge: an IPv6 address that carries an IPv4 one (mapped, 6to4, NAT64,
    IPv4-compatible) is judged by the IPv4 address it reaches."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if not isinstance(ip, ipaddress.IPv6Address):
        return ip
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if any(ip in net for net in (*_NAT64, _IPV4_COMPATIBLE)) and int(ip) > 1:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip


_NUMERIC_HOST = frozenset("0123456789abcdefx.")


def literal_address(host: str) -> IPAddress | None:
    """The address a host names literally, or None for a name. Besides the standard forms,
    the ones the C library's resolver reads as IPv4 without asking DNS (hex `0x7f000001`,
    decimal `2130706433`, octal `0177.0.0.1`, shortened `127.1`, a trailing dot) are judged
    as the address they reach, not passed on to a resolver as a name."""
    host = host.strip("[]").lower()
    try:
        return _normalized(host)
    except ValueError:
        pass
    numeric = host.removesuffix(".")
    if not numeric or not set(numeric) <= _NUMERIC_HOST:
        return None
    try:
        return ipaddress.IPv4Address(socket.inet_aton(numeric))
    except OSError:
        return None


class Guard:
    """Decides whether a host may be connected to; `allowed` lists hosts, IPs or networks
    (from ORCH_OUTBOUND_ALLOWED_HOSTS) that may be reached even though they are private."""

    def __init__(self, allowed: Iterable[str] = (), resolver: Resolver = system_resolver) -> None:
        self.resolver = resolver
        self.allowed_hosts: set[str] = set()
        self.allowed_networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
        self.allow(*allowed)

    def allow(self, *allowed: str) -> None:
        """Add hosts, IPs or networks that may be reached even though they are private."""
        for entry in allowed:
            entry = entry.strip().lower()
            if not entry:
                continue
            try:
                self.allowed_networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                self.allowed_hosts.add(entry)

    def _address_allowed(self, ip: IPAddress) -> bool:
        if any(ip in network for network in self.allowed_networks):
            return True
        return not any(ip in network for network in _BLOCKED) and ip.is_global

    async def vet(self, host: str, port: int) -> str:
        """A checked address to connect to for `host`, or `BlockedDestination`."""
        host = host.strip("[]").lower()
        literal = literal_address(host)
        if literal is not None:
            addresses = [literal]
        else:
            try:
                addresses = [_normalized(a) for a in await self.resolver(host, port)]
            except (OSError, ValueError) as exc:
                log.warning("outbound call refused: %s does not resolve (%s)", host, exc)
                raise BlockedDestination(host) from None
            if not addresses:
                log.warning("outbound call refused: %s resolves to no address", host)
                raise BlockedDestination(host)
        if host in self.allowed_hosts:
            return str(addresses[0])
        refused = [str(a) for a in addresses if not self._address_allowed(a)]
        if refused:
            log.warning(
                "outbound call refused: %s resolves to a private, loopback, link-local or "
                "metadata address (%s); allow-list it with ORCH_OUTBOUND_ALLOWED_HOSTS if this is "
                "intended",
                host,
                ", ".join(refused),
            )
            raise BlockedDestination(host)
        return str(addresses[0])


class _GuardedBackend(httpcore.AsyncNetworkBackend):
    def __init__(self, guard: Guard) -> None:
        self.guard = guard
        # httpcore also defines a placeholder AnyIOBackend (for when anyio is missing), and
        # that is the one a type checker sees.
        self.inner: httpcore.AsyncNetworkBackend = httpcore.AnyIOBackend()  # pyright: ignore[reportAttributeAccessIssue]

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: typing.Iterable[typing.Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        address = await self.guard.vet(host, port)
        return await self.inner.connect_tcp(
            address,
            port,
            timeout=timeout,
            local_address=local_address,
            socket_options=socket_options,
        )

    async def connect_unix_socket(self, *args: typing.Any, **kwargs: typing.Any) -> typing.NoReturn:
        log.warning("outbound call refused: a Unix socket was asked for")
        raise BlockedDestination("unix socket")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


class GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport with the guard in its connection pool; no proxies from the
    environment, so nothing bypasses the check."""

    def __init__(self, guard: Guard) -> None:
        super().__init__(trust_env=False)
        # httpx builds its pool without a network-backend hook; this is the same pool with one.
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            network_backend=_GuardedBackend(guard),
        )
