"""Task tests: the network fence, and the scripted model reachable on loopback."""

import httpx
import pytest

from orchestrator_service.bootstrap import Runtime
from tests.agents.helpers import LLM_KEY, store_llm_key
from tests.helpers import Caller
from tests.network import network  # noqa: F401 (autouse fence)


@pytest.fixture
async def llm_key(client: httpx.AsyncClient, runtime: Runtime, tenant_a: Caller) -> str:
    """Tenant A's LLM key in its vault, and the guard letting the service reach the model."""
    runtime.guard.allow("127.0.0.1")
    await store_llm_key(client, tenant_a)
    return LLM_KEY
