"""Fixtures of the agent tests: the network fence (loopback only), the service allowed to reach
the scripted model on loopback, the tenant's LLM key, and a service booted of its own.

The fence wraps the connection call of the service's guarded HTTP client
(`httpcore.AnyIOBackend.connect_tcp`) and the system resolver: anything beyond loopback is
refused and fails the test. The scripted model (`model`) is a root fixture.
"""

from collections.abc import AsyncIterator

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy.engine import URL

from orchestrator_service.bootstrap import Runtime
from orchestrator_service.config import Settings
from tests.agents.helpers import LLM_KEY, Service, serve, store_llm_key
from tests.helpers import Caller, url_string
from tests.network import network  # noqa: F401 (autouse fence)


@pytest.fixture
def loopback_guard(runtime: Runtime) -> None:
    """Let the service's guarded HTTP client reach 127.0.0.1 (where the scripted model is)."""
    runtime.guard.allow("127.0.0.1")


@pytest.fixture
async def llm_key(client: httpx.AsyncClient, tenant_a: Caller, loopback_guard: None) -> str:
    """Tenant A's LLM key, in its vault; the guard lets the service reach the model."""
    await store_llm_key(client, tenant_a)
    return LLM_KEY


@pytest.fixture(params=["metadata database only", "with a vector database"])
async def any_service(
    request: pytest.FixtureRequest, settings: Settings, vectors_db: URL
) -> AsyncIterator[Service]:
    """A service booted without, then with, a vector database."""
    if request.param == "with a vector database":
        settings = settings.model_copy(
            update={"vector_database_url": SecretStr(url_string(vectors_db))}
        )
    async with serve(settings) as service:
        yield service
