"""The job worker on pgqueuer (PostgreSQL-backed): any replica runs ingestions and background
runs, and a job whose worker stopped heartbeating for a lease is picked up again by another."""

import asyncio
import logging
import uuid
from contextlib import suppress
from dataclasses import dataclass
from datetime import timedelta

import asyncpg
from pgqueuer import AsyncpgDriver, Job, Queries, QueueManager
from sqlalchemy.engine import URL

from orchestrator_service.agents.runs import AgentRunner, RunFailed
from orchestrator_service.db.connect import connect
from orchestrator_service.jobs.queue import INGEST, RUN
from orchestrator_service.rag.ingest import Ingestor

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WorkerTimings:
    """How long connecting may take, a job's lease, and the grace period at shutdown."""

    connect_timeout: float
    lease_seconds: float
    shutdown_timeout: float


class Worker:
    """Runs background jobs (ingestions, agent runs) in this process until stopped."""

    def __init__(
        self,
        database: URL,
        *,
        ingestor: Ingestor,
        runs: AgentRunner,
        timings: WorkerTimings,
        concurrency: int = 1,
    ) -> None:
        self._database = database
        self._ingestor = ingestor
        self._runs = runs
        self._timings = timings
        self.concurrency = concurrency
        self._connection: asyncpg.Connection | None = None
        self._manager: QueueManager | None = None
        self._task: asyncio.Task | None = None

    async def start(self) -> None:
        """Connect and start taking jobs."""
        self._connection = await connect(self._database, timeout=self._timings.connect_timeout)
        manager = QueueManager(Queries(AsyncpgDriver(self._connection)))
        ingestor, runs = self._ingestor, self._runs

        @manager.entrypoint(INGEST)
        async def ingest(job: Job) -> None:
            await ingestor.ingest((job.payload or b"").decode())

        @manager.entrypoint(RUN)
        async def run(job: Job) -> None:
            with suppress(RunFailed):  # the failure is on the execution's record
                await runs.execute(uuid.UUID((job.payload or b"").decode()))

        self._manager = manager
        self._task = asyncio.create_task(
            manager.run(
                batch_size=1,
                max_concurrent_tasks=max(2, 2 * self.concurrency),
                heartbeat_timeout=timedelta(seconds=self._timings.lease_seconds),
                dequeue_timeout=timedelta(seconds=5),
            ),
            name="job-worker",
        )

    async def stop(self) -> None:
        """Stop taking jobs and let the running ones finish within the shutdown timeout; a job
        still running then is cancelled and, its heartbeat gone, picked up again by another
        worker after its lease."""
        if self._manager is not None:
            self._manager.shutdown.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(self._task, self._timings.shutdown_timeout)
            except TimeoutError:
                log.warning("jobs still running at shutdown were handed back to the queue")
        if self._connection is not None:
            await self._connection.close()
