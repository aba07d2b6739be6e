"""Shared fixtures: one real PostgreSQL + pgvector per test session, a fresh database per test.

The server is the embedded pgserver, unless `ORCH_TEST_DATABASE_URL` points at another
PostgreSQL whose user may create databases.
"""

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import URL

from orchestrator_service.config import Settings
from orchestrator_service.db.embedded import EmbeddedPostgres
from orchestrator_service.db.urls import asyncpg_dsn, normalize_url, with_database

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def pg_base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[URL]:
    """A URL to the `postgres` database of the test server."""
    external = os.environ.get("ORCH_TEST_DATABASE_URL")
    if external:
        yield normalize_url(external)
        return
    embedded = EmbeddedPostgres(tmp_path_factory.mktemp("pg"))
    try:
        yield embedded.start()
    finally:
        embedded.stop()


@pytest.fixture
async def fresh_db(pg_base_url: URL) -> AsyncIterator[URL]:
    """An empty database of its own for one test, dropped afterwards."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(asyncpg_dsn(pg_base_url))
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        yield with_database(pg_base_url, name)
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture
def settings(fresh_db: URL, tmp_path: Path) -> Settings:
    """Settings pointing at the test's own database, with short waits."""
    return Settings(
        database_url=url_string(fresh_db),
        data_dir=tmp_path / "data",
        connect_timeout=5,
        heal_lock_timeout=60,
    )


def url_string(url: URL) -> str:
    """A URL as the command line and settings take it, password included."""
    return url.render_as_string(hide_password=False)


async def sql(url: URL, statement: str, *args: object) -> list[asyncpg.Record]:
    """Run one statement on its own connection and return the rows."""
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        return await conn.fetch(statement, *args)
    finally:
        await conn.close()
