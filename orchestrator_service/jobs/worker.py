"""The job worker on pgqueuer (PostgreSQL-backed): any replica runs ingestions and background
runs, and a job whose worker stopped heartbeating for a lease is picked up again by another.

Each queue has a manager (and capacity) of its own, so slow background runs never occupy the
slots ingestion needs, nor the other way round; within a queue, each tenant gets at most its
share of slots across all replicas (jobs/slots.py)."""

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from contextlib import suppress
from dataclasses import dataclass
from datetime import timedelta

import asyncpg
from pgqueuer import AsyncpgDriver, Job, Queries, QueueManager, RetryRequested
from sqlalchemy.engine import URL

from orchestrator_service.agents.runs import AgentRunner, RunFailed
from orchestrator_service.db.connect import connect
from orchestrator_service.integrations.sync import SyncDeferred, Syncer
from orchestrator_service.jobs.queue import DELIVER, INGEST, RUN, SYNC
from orchestrator_service.jobs.slots import TenantSlots
from orchestrator_service.rag.ingest import IngestionDeferred, Ingestor
from orchestrator_service.webhooks.delivery import WebhookDeliverer

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WorkerTimings:
    """How long connecting may take, a job's lease, and the grace period at shutdown."""

    connect_timeout: float
    lease_seconds: float
    shutdown_timeout: float


class Worker:
    """Runs background jobs (ingestions, agent runs, integration syncs) in this process until
    stopped."""

    def __init__(
        self,
        database: URL,
        *,
        ingestor: Ingestor,
        runs: AgentRunner,
        syncer: Syncer,
        webhooks: WebhookDeliverer,
        timings: WorkerTimings,
        capacity: dict[str, int],
        slots: TenantSlots,
    ) -> None:
        self._database = database
        self._ingestor = ingestor
        self._runs = runs
        self._syncer = syncer
        self._webhooks = webhooks
        self._timings = timings
        self.capacity = capacity
        self._slots = slots
        self._connections: list[asyncpg.Connection] = []
        self._managers: list[QueueManager] = []
        self._tasks: list[asyncio.Task] = []

    async def start(self) -> None:
        """Connect and start taking jobs, one manager per queue."""
        ingestor, runs, slots = self._ingestor, self._runs, self._slots
        syncer, webhooks = self._syncer, self._webhooks

        async def ingest(job: Job) -> None:
            document_id = (job.payload or b"").decode()
            async with slots.hold(INGEST, document_id, deferrals=job.attempts):
                try:
                    await ingestor.ingest(document_id)
                except IngestionDeferred as deferred:  # storage unreachable: back to the queue
                    raise RetryRequested(
                        delay=timedelta(seconds=deferred.delay), reason=str(deferred)
                    ) from None

        async def run(job: Job) -> None:
            execution_id = (job.payload or b"").decode()
            async with slots.hold(RUN, execution_id, deferrals=job.attempts):
                with suppress(RunFailed):  # the failure is on the execution's record
                    await runs.execute(uuid.UUID(execution_id))

        async def sync(job: Job) -> None:
            try:
                await syncer.sync(uuid.UUID((job.payload or b"").decode()))
            except SyncDeferred as deferred:  # the provider asked to wait: back to the queue
                raise RetryRequested(
                    delay=timedelta(seconds=deferred.delay), reason="provider rate limit"
                ) from None

        async def deliver(job: Job) -> None:
            delivery_id = uuid.UUID((job.payload or b"").decode())
            retry = await webhooks.deliver(delivery_id)
            if retry is not None:  # back to the queue, after the backoff
                raise RetryRequested(delay=timedelta(seconds=retry), reason="delivery failed")

        await self._serve(INGEST, ingest)
        await self._serve(RUN, run)
        await self._serve(SYNC, sync)
        await self._serve(DELIVER, deliver)

    async def _serve(self, entrypoint: str, handler: Callable[[Job], Awaitable[None]]) -> None:
        """A queue manager of its own for `entrypoint`, on a connection of its own."""
        connection = await connect(self._database, timeout=self._timings.connect_timeout)
        self._connections.append(connection)
        manager = QueueManager(Queries(AsyncpgDriver(connection)))
        manager.entrypoint(entrypoint)(handler)
        self._managers.append(manager)
        self._tasks.append(
            asyncio.create_task(
                manager.run(
                    batch_size=1,
                    max_concurrent_tasks=self.capacity[entrypoint],
                    heartbeat_timeout=timedelta(seconds=self._timings.lease_seconds),
                    dequeue_timeout=timedelta(seconds=5),
                ),
                name=f"job-worker:{entrypoint}",
            )
        )

    async def stop(self) -> None:
        """Stop taking jobs and let the running ones finish within the shutdown timeout; a job
        still running then is cancelled and, its heartbeat gone, picked up again by another
        worker after its lease."""
        for manager in self._managers:
            manager.shutdown.set()
        if self._tasks:
            _, running = await asyncio.wait(self._tasks, timeout=self._timings.shutdown_timeout)
            for task in running:
                task.cancel()
            if running:
                await asyncio.gather(*running, return_exceptions=True)
                log.warning("jobs still running at shutdown were handed back to the queue")
        for connection in self._connections:
            await connection.close()
