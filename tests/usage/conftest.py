"""Fixtures of the usage tests: the network fence (loopback only), and tenant A's LLM key in
its vault with the guard letting the service reach the scripted model on loopback."""

import httpx
import pytest

from orchestrator_service.bootstrap import Runtime
from tests.agents.helpers import LLM_KEY, store_llm_key
from tests.helpers import Caller
from tests.network import network  # noqa: F401 (autouse fence)


@pytest.fixture
async def llm_key(client: httpx.AsyncClient, tenant_a: Caller, runtime: Runtime) -> str:
    """Tenant A's LLM key, in its vault; the guard lets the service reach 127.0.0.1."""
    runtime.guard.allow("127.0.0.1")
    await store_llm_key(client, tenant_a)
    return LLM_KEY
