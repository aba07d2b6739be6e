"""Shared fixtures: one real PostgreSQL + pgvector per test session, a database per test.

The server is the embedded pgserver, unless `ORCH_TEST_DATABASE_URL` points at another
PostgreSQL whose user may create databases.

A test's database is a copy of a template healed once per session (`CREATE DATABASE ...
TEMPLATE`), so the boot of every test finds its schema verified and heals by the fast path.
A test that needs a database no heal has touched (the healer's own tests, `migrate` on an
empty database) asks for `empty_db`; `settings` then points at that one.
"""

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest
from hypothesis import settings as hypothesis_settings
from sqlalchemy.engine import URL

from orchestrator_service.bootstrap import Runtime, boot
from orchestrator_service.config import Settings
from orchestrator_service.db.embedded import EmbeddedPostgres
from orchestrator_service.db.heal.healer import heal
from orchestrator_service.db.urls import asyncpg_dsn, normalize_url, with_database
from orchestrator_service.main import create_app
from orchestrator_service.models import METADATA, VECTORS
from orchestrator_service.tenants import service as tenant_service
from tests.helpers import CLIENT_IP, TEST_ACTOR, Caller, DatabaseFactory, new_tenant, url_string
from tests.s3_server import S3StandIn
from tests.scripted_model import ScriptedModel

# Generated inputs are checked for results, never for time: this machine is shared.
hypothesis_settings.register_profile("orchestrator", deadline=None)
hypothesis_settings.load_profile("orchestrator")


@pytest.fixture(scope="session")
async def pg_base_url(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[URL]:
    """A URL to the `postgres` database of the test server."""
    external = os.environ.get("ORCH_TEST_DATABASE_URL")
    if external:
        yield normalize_url(external)
        return
    embedded = EmbeddedPostgres(tmp_path_factory.mktemp("pg"))
    try:
        base = embedded.start()
        admin = await asyncpg.connect(asyncpg_dsn(base))
        try:
            # Thrown away after the session: durability buys nothing, and without it
            # CREATE DATABASE and every commit skip their fsyncs.
            for setting in ("fsync = off", "synchronous_commit = off", "full_page_writes = off"):
                await admin.execute(f"ALTER SYSTEM SET {setting}")
            await admin.execute("SELECT pg_reload_conf()")
        finally:
            await admin.close()
        yield base
    finally:
        embedded.stop()


@pytest.fixture(scope="session")
async def databases(
    pg_base_url: URL, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[DatabaseFactory]:
    """The session's database maker, with a metadata and a vector template healed once."""
    made = DatabaseFactory(pg_base_url)
    healing = Settings(
        database_url=url_string(pg_base_url), data_dir=tmp_path_factory.mktemp("templates")
    )
    await made.add_template("metadata", lambda url: heal(METADATA, url, healing))
    await made.add_template("vectors", lambda url: heal(VECTORS, url, healing))
    yield made
    for name in made.templates.values():
        await made.drop(with_database(pg_base_url, name))


@pytest.fixture
async def fresh_db(databases: DatabaseFactory) -> AsyncIterator[URL]:
    """A metadata database of the test's own, a copy of the healed template; dropped after."""
    url = await databases.create("t", "metadata")
    yield url
    await databases.drop(url)


@pytest.fixture
async def empty_db(databases: DatabaseFactory) -> AsyncIterator[URL]:
    """An empty database of the test's own (nothing healed in it), dropped afterwards."""
    url = await databases.create("e")
    yield url
    await databases.drop(url)


@pytest.fixture
async def vectors_db(databases: DatabaseFactory) -> AsyncIterator[URL]:
    """A vector database of the test's own, a copy of the healed vector template."""
    url = await databases.create("v", "vectors")
    yield url
    await databases.drop(url)


@pytest.fixture
def s3() -> Iterator[S3StandIn]:
    """A local S3-compatible server on loopback with the test's own bucket (stoppable)."""
    server = S3StandIn()
    server.start()
    try:
        server.client().create_bucket(Bucket=server.bucket)
        yield server
    finally:
        server.stop()


@pytest.fixture
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    """Settings pointing at the test's own database, with short waits: `empty_db` when the
    test asks for it, else `fresh_db`."""
    database = "empty_db" if "empty_db" in request.fixturenames else "fresh_db"
    return Settings(
        database_url=url_string(request.getfixturevalue(database)),
        data_dir=tmp_path / "data",
        connect_timeout=5,
        heal_lock_timeout=60,
    )


@pytest.fixture
async def runtime(settings: Settings) -> AsyncIterator[Runtime]:
    """A booted (healed) service runtime on the test's own database."""
    async with boot(settings) as booted:
        yield booted


@pytest.fixture
async def client(settings: Settings, runtime: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client talking to the app in-process (no socket)."""
    app = create_app(settings, runtime=runtime)
    transport = httpx.ASGITransport(app=app, client=(CLIENT_IP, 51000))
    async with httpx.AsyncClient(transport=transport, base_url="http://orchestrator.test") as c:
        yield c


@pytest.fixture
async def lenient_client(settings: Settings, runtime: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    """Like `client`, but an unhandled error comes back as a 500 instead of raising here."""
    app = create_app(settings, runtime=runtime)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False, client=(CLIENT_IP, 51000))
    async with httpx.AsyncClient(transport=transport, base_url="http://orchestrator.test") as c:
        yield c


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


@pytest.fixture
def model() -> Iterator[ScriptedModel]:
    """The scripted model; fails the test if the service asked it more than scripted."""
    with ScriptedModel() as scripted:
        yield scripted
        assert scripted.overruns == 0, "the service called the model more often than scripted"
