"""Fixtures of the RAG tests: a vector database of each test's own, or a whole vector
cluster that the test can stop and start."""

import uuid
from collections.abc import AsyncIterator
from contextlib import suppress
from pathlib import Path

import asyncpg
import pytest
from pgserver._commands import pg_ctl
from sqlalchemy.engine import URL

from orchestrator_service.db.embedded import EmbeddedPostgres
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


class VectorCluster:
    """A PostgreSQL cluster of its own for the vector store, which a test can stop and start
    (a real fault, not a mock)."""

    def __init__(self, data_dir: Path) -> None:
        self.embedded = EmbeddedPostgres(data_dir)
        self.base = self.embedded.start()
        server = self.embedded._server
        self._user = server.system_user
        self._socket_dir = str(server.get_postmaster_info().socket_dir)

    def stop(self) -> None:
        """Stop the cluster now (fast shutdown: open connections are cut)."""
        pg_ctl(["-w", "-m", "fast", "stop"], pgdata=self.embedded.pgdata, user=self._user)

    def start(self) -> None:
        """Start it again on the same socket."""
        pg_ctl(
            [
                "-w",
                "-o",
                '-h ""',
                "-o",
                f"-k {self._socket_dir}",
                "-l",
                str(self.embedded.pgdata / "log"),
                "start",
            ],
            pgdata=self.embedded.pgdata,
            user=self._user,
        )


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
