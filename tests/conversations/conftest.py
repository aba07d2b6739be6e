"""Fixtures of the conversation tests: the network fence (loopback only) and a service with a
vector database that can reach the scripted model."""

from collections.abc import AsyncIterator

import pytest
from pydantic import SecretStr
from sqlalchemy.engine import URL

from orchestrator_service.config import Settings
from tests.agents.helpers import Service, serve
from tests.helpers import url_string
from tests.network import network  # noqa: F401 (autouse fence)


@pytest.fixture
async def vector_service(settings: Settings, vectors_db: URL) -> AsyncIterator[Service]:
    """A service with a vector database (so documents can be ingested)."""
    configured = settings.model_copy(
        update={"vector_database_url": SecretStr(url_string(vectors_db))}
    )
    async with serve(configured) as service:
        yield service
