"""Fixtures of the MCP door tests: the network fence (loopback only), a tool server, and the
service over HTTP on loopback with its guard allowing that tool server."""

from collections.abc import AsyncIterator, Iterator

import pytest

from orchestrator_service.bootstrap import Runtime
from orchestrator_service.config import Settings
from orchestrator_service.main import create_app
from tests.helpers import served_over_http
from tests.network import network  # noqa: F401 (autouse fence)
from tests.tools.helpers import ToolServer, install_guard


@pytest.fixture
def tool_server() -> Iterator[ToolServer]:
    """The tool service the tenant's HTTP tool calls."""
    with ToolServer() as server:
        yield server


@pytest.fixture
async def base_url(settings: Settings, runtime: Runtime) -> AsyncIterator[str]:
    """The service over HTTP on 127.0.0.1, its guard allowing the tool server."""
    install_guard(runtime, "127.0.0.1")
    async with served_over_http(create_app(settings, runtime=runtime)) as url:
        yield url
