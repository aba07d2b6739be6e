"""The embedded default: PostgreSQL 16 + pgvector from the `pgserver` package."""

import logging
import subprocess
import warnings
from contextlib import suppress
from pathlib import Path

import asyncpg
import psutil
from sqlalchemy.engine import URL

from orchestrator_service.db.connect import connect
from orchestrator_service.db.urls import normalize_url, with_database
from orchestrator_service.errors import DatabaseUnreachable

log = logging.getLogger(__name__)

METADATA_DATABASE = "orchestrator"
VECTORS_DATABASE = "vectors"


class EmbeddedPostgres:
    """A pgserver cluster under `<data_dir>/pgdata`, shared by every process using that dir.

    pgserver keeps a list of the processes holding the server and stops it when the last one
    leaves; a process killed with SIGKILL never leaves, so `stop` prunes dead ones first.
    """

    def __init__(self, data_dir: Path) -> None:
        self.pgdata = (data_dir / "pgdata").expanduser().resolve()
        self._server = None

    def start(self) -> URL:
        """Start the cluster (or join the running one) and return a URL to its `postgres` db."""
        with warnings.catch_warnings():
            # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI); its fallback
            # under /tmp is what pgserver needs.
            warnings.simplefilter("ignore")
            import pgserver  # noqa: PLC0415 (it does file-system work at import time)

        try:
            self.pgdata.parent.mkdir(parents=True, exist_ok=True)
            # pgserver re-exports its public get_server without __all__ (or an `as` alias).
            self._server = pgserver.get_server(self.pgdata, cleanup_mode="stop")  # pyright: ignore[reportPrivateImportUsage]
        except (OSError, subprocess.SubprocessError) as exc:
            raise DatabaseUnreachable(
                f"Could not start the embedded PostgreSQL under {self.pgdata}: {exc}. "
                f"Its log, if it got that far, is {self.pgdata / 'log'}."
            ) from exc
        return normalize_url(self._server.get_uri("postgres"))

    async def ensure_databases(self, base: URL, *, timeout: float) -> dict[str, URL]:
        """Create the `orchestrator` and `vectors` databases if missing; return their URLs."""
        conn = await connect(base, timeout=timeout)
        try:
            for name in (METADATA_DATABASE, VECTORS_DATABASE):
                exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
                if not exists:
                    # Another process sharing this data dir may create it first.
                    with suppress(asyncpg.DuplicateDatabaseError, asyncpg.UniqueViolationError):
                        await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()
        return {
            "metadata": with_database(base, METADATA_DATABASE),
            "vectors": with_database(base, VECTORS_DATABASE),
        }

    def stop(self) -> None:
        """Leave the cluster; the last process to leave stops it."""
        server, self._server = self._server, None
        if server is None:
            return
        with server._lock:
            alive = [p for p in server.global_process_id_list.get() if psutil.pid_exists(p)]
            server.global_process_id_list.put(alive)
        server.cleanup()
        log.info("left the embedded PostgreSQL at %s", self.pgdata)
