"""Fixtures of the RAG tests: a whole vector cluster that the test can stop and start (the
vector database of a test's own, `vectors_db`, is a root fixture)."""

from collections.abc import AsyncIterator
from contextlib import suppress
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import URL

from orchestrator_service.db.urls import asyncpg_dsn, with_database
from tests.rag.helpers import VectorCluster


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
