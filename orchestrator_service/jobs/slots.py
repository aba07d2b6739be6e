"""Per-tenant concurrency of background jobs, across replicas.

A running ingestion or background run holds one of its tenant's slots of that kind: a
session-level advisory lock (the kind's class plus the slot number, the tenant id) on a
connection of its own, for as long as the job runs. The lock lives in PostgreSQL, so every
replica sees it, and it goes with its connection, so a worker that dies frees its slots at
once. A job whose tenant has every slot taken goes back to the queue for a while (pgqueuer's
`RetryRequested`), with a backoff that grows with its deferrals, and leaves the worker's
capacity to other tenants meanwhile.
"""

import random
import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from datetime import timedelta

from pgqueuer import RetryRequested
from sqlalchemy import Select, select, text
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from orchestrator_service.db.connect import connect
from orchestrator_service.executions.models import Execution
from orchestrator_service.jobs.queue import INGEST, RUN
from orchestrator_service.rag.models import RagDocument

# Slot n of a kind is the advisory lock (class + n, tenant id); settings keep n under 256.
_CLASSES = {INGEST: 0x4F520100, RUN: 0x4F520200}
MAX_SLOTS = 256
# A deferred job waits 1 s, then 2, 4... up to this, each shortened at random by up to half so
# that deferred jobs do not all come back at once.
_LONGEST_DEFERRAL = 30.0

# The slots of a tenant already held, in this database, by any replica.
_HELD = text(
    """
    SELECT count(*) FROM pg_locks
    WHERE locktype = 'advisory' AND objsubid = 2 AND granted
      AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
      AND objid = CAST(:tenant AS oid)
      AND classid BETWEEN CAST(:low AS oid) AND CAST(:high AS oid)
    """
)
# The first free slot, taken (evaluated row by row: LIMIT stops at the first lock taken).
_TAKE = """
    SELECT s FROM generate_series(0, $3::int - 1) AS s
    WHERE pg_try_advisory_lock($1::int + s, $2::int)
    LIMIT 1
"""


def _owner(entrypoint: str, key: str) -> Select[int] | None:
    """The query for the tenant a job works for (None for a key that names nothing)."""
    if entrypoint == INGEST:
        return select(RagDocument.tenant_id).where(RagDocument.id == key)
    try:
        return select(Execution.tenant_id).where(Execution.id == uuid.UUID(key))
    except ValueError:
        return None


class TenantSlots:
    """Holds per-tenant job slots in PostgreSQL: `limits` slots per tenant of each job kind."""

    def __init__(
        self,
        database: URL,
        *,
        sessionmaker: async_sessionmaker[AsyncSession],
        connect_timeout: float,
        limits: Mapping[str, int],
    ) -> None:
        self._database = database
        self._sessionmaker = sessionmaker
        self._connect_timeout = connect_timeout
        self._limits = dict(limits)

    @asynccontextmanager
    async def hold(self, entrypoint: str, key: str, *, deferrals: int) -> AsyncIterator[None]:
        """Hold one of the tenant's slots while the block runs; when they are all taken,
        `RetryRequested` puts the job back in the queue. A job whose object is gone runs
        without one (it finds nothing to do)."""
        low, limit = _CLASSES[entrypoint], self._limits[entrypoint]
        query = _owner(entrypoint, key)
        tenant_id = held = None
        if query is not None:
            async with self._sessionmaker() as session:
                tenant_id = await session.scalar(query)
                if tenant_id is not None:
                    held = await session.scalar(
                        _HELD, {"tenant": tenant_id, "low": low, "high": low + MAX_SLOTS - 1}
                    )
        if tenant_id is None:
            yield
            return
        if (held or 0) >= limit:  # the cheap check: no connection opened to learn it
            raise _deferred(entrypoint, tenant_id, deferrals)
        connection = await connect(self._database, timeout=self._connect_timeout)
        try:
            if await connection.fetchval(_TAKE, low, tenant_id, limit) is None:
                raise _deferred(entrypoint, tenant_id, deferrals)
            yield
        finally:
            await connection.close()  # the slot goes with the connection


def _deferred(entrypoint: str, tenant_id: int, deferrals: int) -> RetryRequested:
    longest = min(_LONGEST_DEFERRAL, 2.0 ** min(deferrals, 8))
    seconds = random.uniform(longest / 2, longest)  # noqa: S311 (spreading, not a secret)
    return RetryRequested(
        delay=timedelta(seconds=seconds),
        reason=f"tenant {tenant_id} has every {entrypoint} slot taken",
    )
