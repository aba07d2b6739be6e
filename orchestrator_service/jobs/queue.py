"""The job queue's entry points and how to enqueue them, inside the caller's transaction."""

from pgqueuer import AsyncpgDriver, Queries
from sqlalchemy.ext.asyncio import AsyncSession

INGEST = "rag.ingest"
RUN = "agents.run"
DELIVER = "webhooks.deliver"


async def _enqueue(session: AsyncSession, entrypoint: str, key: str) -> None:
    """Queue a job in the caller's transaction: both commit, or neither."""
    connection = await session.connection()
    raw = (await connection.get_raw_connection()).driver_connection
    if raw is None:  # only for a connection SQLAlchemy has invalidated
        raise RuntimeError("The session's database connection has been invalidated")
    await Queries(AsyncpgDriver(raw)).enqueue(
        entrypoint, key.encode(), dedupe_key=f"{entrypoint}:{key}", on_conflict="skip"
    )


async def enqueue_ingest(session: AsyncSession, document_id: str) -> None:
    """Queue a document's ingestion."""
    await _enqueue(session, INGEST, document_id)


async def enqueue_run(session: AsyncSession, execution_id: str) -> None:
    """Queue a background agent run."""
    await _enqueue(session, RUN, execution_id)


async def enqueue_delivery(session: AsyncSession, delivery_id: str) -> None:
    """Queue a webhook delivery."""
    await _enqueue(session, DELIVER, delivery_id)
