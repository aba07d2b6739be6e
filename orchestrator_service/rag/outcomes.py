"""What an ingestion's end tells others: a webhook event, and for a failure an error-log
entry (in the transaction that records the document's new status)."""

from sqlalchemy.ext.asyncio import AsyncSession

from orchestrator_service.credentials.scrub import Scrubber
from orchestrator_service.error_log.service import record
from orchestrator_service.rag.models import RagDocument
from orchestrator_service.webhooks.events import publish


def _data(doc: RagDocument) -> dict:
    return {
        "document_id": doc.id,
        "collection": doc.collection,
        "status": doc.status,
        "chunk_count": doc.chunk_count,
    }


async def announce_ready(session: AsyncSession, doc: RagDocument) -> None:
    """A document finished ingesting."""
    await publish(session, tenant_id=doc.tenant_id, event="document.ready", data=_data(doc))


async def announce_failed(
    session: AsyncSession, doc: RagDocument, reason: str, scrubber: Scrubber
) -> None:
    """A document's ingestion failed (a replace keeps its ready copy, and says so)."""
    await publish(
        session,
        tenant_id=doc.tenant_id,
        event="document.failed",
        data={**_data(doc), "error": scrubber.text(reason)[:500]},
    )
    await record(
        session,
        tenant_id=doc.tenant_id,
        kind="ingestion",
        code="ingestion_failed",
        message=reason,
        subject=f"document:{doc.id}",
        scrubber=scrubber,
    )
