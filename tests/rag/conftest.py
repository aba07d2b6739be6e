"""Fixtures of the RAG tests: a whole vector cluster that the test can stop and start (the
vector database of a test's own, `vectors_db`, is a root fixture), and a booted service."""

from collections.abc import AsyncIterator
from contextlib import suppress
from pathlib import Path

import asyncpg
import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy.engine import URL

from orchestrator_service.audit.service import Actor
from orchestrator_service.bootstrap import Runtime, boot, running_jobs
from orchestrator_service.config import Settings
from orchestrator_service.db.urls import asyncpg_dsn, with_database
from orchestrator_service.main import create_app
from orchestrator_service.tenants import service as tenant_service
from tests.helpers import Caller, url_string
from tests.rag.helpers import VectorCluster


@pytest.fixture
async def service(
    settings: Settings, vectors_db: URL
) -> AsyncIterator[tuple[Runtime, httpx.AsyncClient, Caller]]:
    """A booted service with an ingestion worker, a client and a platform admin."""
    configured = settings.model_copy(
        update={"vector_database_url": SecretStr(url_string(vectors_db))}
    )
    async with boot(configured) as runtime, running_jobs(runtime):
        app = create_app(configured, runtime=runtime)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://rag.test") as client:
            async with runtime.sessionmaker.begin() as session:
                key = await tenant_service.create_platform_key(
                    session,
                    name="admin",
                    actor=Actor(tenant_id=None, user_id=None, key_id=None, label="test"),
                )
            yield runtime, client, Caller(api_key=key, tenant_id=None)


@pytest.fixture
async def vector_cluster(tmp_path: Path) -> AsyncIterator[tuple[VectorCluster, URL]]:
    """A stoppable vector cluster and the URL of its `vectors` database."""
    cluster = VectorCluster(tmp_path / "vector-cluster")
    admin = await asyncpg.connect(asyncpg_dsn(cluster.base))
    await admin.execute('CREATE DATABASE "vectors"')
    await admin.close()
    try:
        yield cluster, with_database(cluster.base, "vectors")
    finally:
        with suppress(Exception):
            cluster.start()
        cluster.embedded.stop()
        # pgserver's cleanup may not stop a postmaster the test restarted with pg_ctl (one was
        # seen running after whole-directory runs); stopping an already stopped one fails.
        with suppress(Exception):
            cluster.stop()
