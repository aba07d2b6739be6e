"""Fixtures of the integration tests: the network fence, the Google and Microsoft stand-ins,
and a service booted with the stand-ins' URLs as its provider settings."""

import uuid
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from orchestrator_service.bootstrap import boot
from orchestrator_service.config import Settings
from orchestrator_service.main import create_app
from tests.helpers import Caller, new_tenant
from tests.integrations.helpers import Served
from tests.integrations.standin import ProviderStandIn
from tests.network import network  # noqa: F401 (autouse fence)


@pytest.fixture
def providers() -> Iterator[ProviderStandIn]:
    """Google and Microsoft on loopback."""
    with ProviderStandIn() as standin:
        yield standin


@pytest.fixture
def provider_settings(settings: Settings, providers: ProviderStandIn) -> Settings:
    """The test's settings pointed at the stand-ins, with short bounds."""
    return settings.model_copy(
        update={
            **providers.settings(),
            "integration_timeout": 1.5,
            "integration_max_response_bytes": 128 * 1024,
            "integration_max_pages": 50,
            "integration_google_requests_per_second": 1000.0,
            "integration_microsoft_requests_per_second": 1000.0,
        }
    )


@pytest.fixture
async def served(provider_settings: Settings) -> AsyncIterator[Served]:
    """The service on the stand-ins, a client of it, and tenant A's admin."""
    async with boot(provider_settings) as runtime:
        runtime.guard.allow("127.0.0.1")
        app = create_app(provider_settings, runtime=runtime)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://int.test") as client:
            admin = await new_tenant(runtime, f"integrations-{uuid.uuid4().hex[:6]}")
            yield Served(runtime=runtime, client=client, admin=admin)


@pytest.fixture
async def ana(served: Served) -> Caller:
    """A member of tenant A acting as herself (a session of hers)."""
    return await served.user("ana")


@pytest.fixture
async def bruno(served: Served) -> Caller:
    """Another member of the same tenant."""
    return await served.user("bruno")
