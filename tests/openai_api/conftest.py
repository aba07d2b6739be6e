"""Fixtures of the OpenAI-compatible door: the service on a loopback port, and an `openai`
SDK client of tenant A pointed at its `/v1`."""

from collections.abc import AsyncIterator

import httpx
import openai
import pytest

from orchestrator_service.bootstrap import Runtime
from orchestrator_service.config import Settings
from orchestrator_service.main import create_app
from tests.helpers import Caller, served_over_http
from tests.network import network  # noqa: F401 (autouse fence)


@pytest.fixture
async def base_url(settings: Settings, runtime: Runtime) -> AsyncIterator[str]:
    """The service, served over HTTP on 127.0.0.1; the guard lets it reach the scripted model."""
    runtime.guard.allow("127.0.0.1")
    async with served_over_http(create_app(settings, runtime=runtime)) as url:
        yield url


@pytest.fixture
async def sdk_for(base_url: str) -> AsyncIterator:
    """Makes `openai.AsyncOpenAI` clients of a caller, talking to the served `/v1`."""
    clients: list[openai.AsyncOpenAI] = []

    def make(caller: Caller | str) -> openai.AsyncOpenAI:
        key = caller if isinstance(caller, str) else caller.api_key
        sdk = openai.AsyncOpenAI(base_url=f"{base_url}/v1", api_key=key, max_retries=0)
        clients.append(sdk)
        return sdk

    yield make
    for sdk in clients:
        await sdk.close()


@pytest.fixture
async def http(base_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """A plain HTTP client of the served service."""
    async with httpx.AsyncClient(base_url=base_url) as client:
        yield client
