"""The job queue's entry points and how to enqueue them, inside the caller's transaction."""

from pgqueuer import AsyncpgDriver, Queries
from sqlalchemy.ext.asyncio import AsyncSession

INGEST = "rag.ingest"
RUN = "agents.run"
SYNC = "integrations.sync"
DELIVER = "webhooks.deliver"


async def _enqueue(session: AsyncSession, entrypoint: str, key: str, priority: int = 0) -> None:
    """Queue a job in the caller's transaction: both commit, or neither. Of the jobs ready,
    workers take the highest `priority` first."""
    connection = await session.connection()
    raw = (await connection.get_raw_connection()).driver_connection
    if raw is None:  # only for a connection SQLAlchemy has invalidated
        raise RuntimeError("The session's database connection has been invalidated")
    await Queries(AsyncpgDriver(raw)).enqueue(
        entrypoint,
        key.encode(),
        priority=priority,
        dedupe_key=f"{entrypoint}:{key}",
        on_conflict="skip",
    )


async def enqueue_ingest(session: AsyncSession, document_id: str) -> None:
    """Queue a document's ingestion."""
    await _enqueue(session, INGEST, document_id)


async def enqueue_sync(session: AsyncSession, integration_id: str) -> None:
    """Queue an integration's sync (one queued at a time per integration)."""
    await _enqueue(session, SYNC, integration_id)


async def enqueue_run(session: AsyncSession, execution_id: str, priority: int = 0) -> None:
    """Queue a background agent run (a task's priority orders it among the others)."""
    await _enqueue(session, RUN, execution_id, priority)


async def enqueue_delivery(session: AsyncSession, delivery_id: str) -> None:
    """Queue a webhook delivery."""
    await _enqueue(session, DELIVER, delivery_id)
