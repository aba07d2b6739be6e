"""Fixtures of the tool tests: the network fence (loopback only), the SSRF guard with faked DNS,
and real tool servers on loopback.

Tests send traffic to loopback only. The fence wraps the connection call the SSRF guard's
backend makes (`httpcore.AnyIOBackend.connect_tcp`): it records every (host, port) asked for
and refuses, and fails the test for, anything beyond 127.0.0.1 and ::1. It also refuses system
name lookups of anything but loopback names, so no DNS query leaves the machine even if a test
forgot to install the fake resolver. The tool servers are real HTTP servers on 127.0.0.1.
"""

from collections.abc import Iterator

import pytest

from orchestrator_service.bootstrap import Runtime
from tests.network import network  # noqa: F401 (autouse fence)
from tests.tools.helpers import ToolServer, install_guard


@pytest.fixture
def loopback_allowed(runtime: Runtime) -> None:
    """Allow-list 127.0.0.1, as ORCH_OUTBOUND_ALLOWED_HOSTS=127.0.0.1 would, with faked DNS."""
    install_guard(runtime, "127.0.0.1")


@pytest.fixture
def tool_server() -> Iterator[ToolServer]:
    """The tool service the tests' HTTP tools call."""
    with ToolServer() as server:
        yield server


@pytest.fixture
def mirror_server() -> Iterator[ToolServer]:
    """A second tool service on another port: another host as far as redirects go."""
    with ToolServer() as server:
        yield server
