"""Ingestion as background jobs on pgqueuer (PostgreSQL-backed): any replica runs them, and a
job whose worker stopped heartbeating for a lease is picked up again by another."""

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from datetime import timedelta
from typing import TYPE_CHECKING

import asyncpg
from pgqueuer import AsyncpgDriver, Job, Queries, QueueManager
from sqlalchemy.ext.asyncio import AsyncSession

from orchestrator_service.db.connect import connect

if TYPE_CHECKING:
    from orchestrator_service.db.runtime import Runtime

log = logging.getLogger(__name__)

INGEST = "rag.ingest"
RUN = "agents.run"


async def _enqueue(session: AsyncSession, entrypoint: str, key: str) -> None:
    """Queue a job in the caller's transaction: both commit, or neither."""
    connection = await session.connection()
    raw = (await connection.get_raw_connection()).driver_connection
    await Queries(AsyncpgDriver(raw)).enqueue(
        entrypoint, key.encode(), dedupe_key=f"{entrypoint}:{key}", on_conflict="skip"
    )


async def enqueue_ingest(session: AsyncSession, document_id: str) -> None:
    """Queue a document's ingestion."""
    await _enqueue(session, INGEST, document_id)


async def enqueue_run(session: AsyncSession, execution_id: str) -> None:
    """Queue a background agent run."""
    await _enqueue(session, RUN, execution_id)


class IngestionWorker:
    """Runs background jobs (ingestions, agent runs) in this process until stopped."""

    def __init__(self, runtime: "Runtime", *, concurrency: int = 1) -> None:
        self.runtime = runtime
        self.concurrency = concurrency
        self._connection: asyncpg.Connection | None = None
        self._manager: QueueManager | None = None
        self._task: asyncio.Task | None = None

    async def start(self) -> None:
        """Connect and start taking jobs."""
        from orchestrator_service.agents.runs import RunFailed, execute_run
        from orchestrator_service.rag.ingest import ingest_document

        settings = self.runtime.settings
        self._connection = await connect(
            self.runtime.databases.metadata, timeout=settings.connect_timeout
        )
        manager = QueueManager(Queries(AsyncpgDriver(self._connection)))

        @manager.entrypoint(INGEST)
        async def ingest(job: Job) -> None:
            await ingest_document(self.runtime, job.payload.decode())

        @manager.entrypoint(RUN)
        async def run(job: Job) -> None:
            with suppress(RunFailed):  # the failure is on the execution's record
                await execute_run(self.runtime, uuid.UUID(job.payload.decode()))

        self._manager = manager
        self._task = asyncio.create_task(
            manager.run(
                batch_size=1,
                max_concurrent_tasks=max(2, 2 * self.concurrency),
                heartbeat_timeout=timedelta(seconds=settings.ingest_lease_seconds),
                dequeue_timeout=timedelta(seconds=5),
            ),
            name="ingestion-worker",
        )

    async def stop(self) -> None:
        """Stop taking jobs and let the running ones finish within the shutdown timeout; a job
        still running then is cancelled and, its heartbeat gone, picked up again by another
        worker after its lease."""
        if self._manager is not None:
            self._manager.shutdown.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(self._task, self.runtime.settings.shutdown_timeout)
            except TimeoutError:
                log.warning("jobs still running at shutdown were handed back to the queue")
        if self._connection is not None:
            await self._connection.close()


@asynccontextmanager
async def running_worker(runtime: "Runtime") -> AsyncIterator[IngestionWorker]:
    """A job worker (ingestions, background runs) and the reconciler on its schedule (first
    run at once), for the duration of the block."""
    from orchestrator_service.rag.reconcile import reconcile_periodically

    worker = IngestionWorker(runtime)
    await worker.start()
    sweeper = asyncio.create_task(
        reconcile_periodically(runtime, runtime.settings.reconcile_interval_seconds),
        name="reconciler",
    )
    try:
        yield worker
    finally:
        sweeper.cancel()
        await worker.stop()
