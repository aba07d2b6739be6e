"""The network fence of the tests that make outbound HTTP calls: loopback only.

It wraps the connection call the SSRF guard's backend makes (`httpcore.AnyIOBackend.connect_tcp`):
every (host, port) asked for is recorded, and anything beyond 127.0.0.1 and ::1 is refused and
fails the test. System name lookups of anything but loopback names are refused too, so no DNS
query leaves the machine even if a test forgot to install a fake resolver. Conftests that want
it import the `network` fixture.
"""

import socket
import socketserver
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from typing import Any

import httpcore
import pytest

LOOPBACK = frozenset({"127.0.0.1", "::1"})
LOOPBACK_NAMES = LOOPBACK | {"localhost", None}


class OutsideLoopback(AssertionError):
    """A test tried to reach beyond loopback."""


@dataclass
class NetworkSpy:
    """Every TCP connection the guarded HTTP client asked for, and every name looked up."""

    connections: list[tuple[str, int]] = field(default_factory=list)
    lookups: list[str] = field(default_factory=list)

    @property
    def beyond_loopback(self) -> list[tuple[str, int]]:
        """The connection attempts to anything but loopback."""
        return [(host, port) for host, port in self.connections if host not in LOOPBACK]


@pytest.fixture(autouse=True)
def network(monkeypatch: pytest.MonkeyPatch) -> Iterator[NetworkSpy]:
    """Record outbound connections; any beyond loopback is refused and fails the test."""
    spy = NetworkSpy()
    connect_tcp = httpcore.AnyIOBackend.connect_tcp
    getaddrinfo = socket.getaddrinfo

    async def spying_connect_tcp(
        self: httpcore.AnyIOBackend, host: str, port: int, **kwargs: Any
    ) -> httpcore.AsyncNetworkStream:
        spy.connections.append((host, port))
        if host not in LOOPBACK:
            raise OutsideLoopback(f"a test tried to connect to {host}:{port}")
        return await connect_tcp(self, host, port, **kwargs)

    def fenced_getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else host
        if name not in LOOPBACK_NAMES:
            spy.lookups.append(name)
            raise socket.gaierror(socket.EAI_NONAME, f"no DNS in tests ({name})")
        return getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(httpcore.AnyIOBackend, "connect_tcp", spying_connect_tcp)
    monkeypatch.setattr(socket, "getaddrinfo", fenced_getaddrinfo)
    yield spy
    assert not spy.beyond_loopback, f"connections beyond loopback: {spy.beyond_loopback}"
    assert not spy.lookups, f"system name lookups: {spy.lookups}"


class LoopbackHTTPServer(ThreadingHTTPServer):
    """A threaded test HTTP server that binds without a reverse lookup of its address."""

    daemon_threads = True

    def server_bind(self) -> None:
        """Bind without HTTPServer's reverse DNS lookup (no DNS in tests)."""
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]
