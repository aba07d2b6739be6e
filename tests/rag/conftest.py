"""Fixtures of the RAG tests: a vector database of each test's own."""

import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest
from sqlalchemy.engine import URL

from orchestrator_service.db.urls import asyncpg_dsn, with_database


@pytest.fixture
async def vectors_db(pg_base_url: URL) -> AsyncIterator[URL]:
    """A vector database of the test's own."""
    name = f"v_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(asyncpg_dsn(pg_base_url))
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        yield with_database(pg_base_url, name)
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()
