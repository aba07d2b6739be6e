"""File tests: a small attachment limit, and a vector database so a file can be ingested."""

import pytest
from pydantic import SecretStr
from sqlalchemy.engine import URL

from orchestrator_service.config import Settings
from tests.helpers import url_string

LIMIT = 64 * 1024


@pytest.fixture
def settings(settings: Settings, vectors_db: URL) -> Settings:
    """Attachments up to 64 KiB; the vector store on the test's vector database."""
    return settings.model_copy(
        update={"max_file_bytes": LIMIT, "vector_database_url": SecretStr(url_string(vectors_db))}
    )
