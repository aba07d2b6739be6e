"""Shared fixtures: one real PostgreSQL + pgvector per test session, a fresh database per test.

The server is the embedded pgserver, unless `ORCH_TEST_DATABASE_URL` points at another
PostgreSQL whose user may create databases.
"""

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx
import pytest
from sqlalchemy.engine import URL

from orchestrator_service.audit.service import Actor
from orchestrator_service.bootstrap import Runtime, boot
from orchestrator_service.config import Settings
from orchestrator_service.db.embedded import EmbeddedPostgres
from orchestrator_service.db.urls import asyncpg_dsn, normalize_url, with_database
from orchestrator_service.main import create_app
from orchestrator_service.tenants import service as tenant_service
from orchestrator_service.tenants.schemas import TenantCreate

REPO = Path(__file__).resolve().parent.parent
TEST_ACTOR = Actor(tenant_id=None, user_id=None, key_id=None, label="test")


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


@dataclass
class Caller:
    """A tenant (or platform) identity the tests call the API as."""

    api_key: str
    tenant_id: int | None

    @property
    def headers(self) -> dict[str, str]:
        """The Authorization header for this caller."""
        return {"Authorization": f"Bearer {self.api_key}"}


@pytest.fixture
async def runtime(settings: Settings) -> AsyncIterator[Runtime]:
    """A booted (healed) service runtime on the test's own database."""
    async with boot(settings) as booted:
        yield booted


@pytest.fixture
async def client(settings: Settings, runtime: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client talking to the app in-process (no socket)."""
    app = create_app(settings, runtime=runtime)
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 51000))
    async with httpx.AsyncClient(transport=transport, base_url="http://orchestrator.test") as c:
        yield c


async def new_tenant(runtime: Runtime, name: str) -> Caller:
    """Create a tenant with its first admin key, as `orchestrator tenant create` does."""
    async with runtime.sessionmaker.begin() as session:
        tenant, api_key = await tenant_service.create_tenant(
            session, data=TenantCreate(name=name), actor=TEST_ACTOR
        )
    return Caller(api_key=api_key, tenant_id=tenant.id)


@pytest.fixture
async def tenant_a(runtime: Runtime) -> Caller:
    """Tenant A's admin."""
    return await new_tenant(runtime, "tenant-a")


@pytest.fixture
async def tenant_b(runtime: Runtime) -> Caller:
    """Tenant B's admin."""
    return await new_tenant(runtime, "tenant-b")


@pytest.fixture
async def platform_admin(runtime: Runtime) -> Caller:
    """A platform-admin key."""
    async with runtime.sessionmaker.begin() as session:
        api_key = await tenant_service.create_platform_key(
            session, name="test platform key", actor=TEST_ACTOR
        )
    return Caller(api_key=api_key, tenant_id=None)
