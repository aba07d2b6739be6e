"""The events a tenant can subscribe to, and `publish`, which every domain calls to emit one."""

import uuid
from datetime import UTC, datetime

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from orchestrator_service.jobs.queue import enqueue_delivery
from orchestrator_service.webhooks.models import Webhook, WebhookDelivery

# Every event, with what it means (the README lists them, the API validates subscriptions).
EVENTS: dict[str, str] = {
    "document.ready": "a RAG document finished ingesting",
    "document.failed": "a RAG document's ingestion failed for good",
    "run.completed": "an agent run answered",
    "run.failed": "an agent run failed",
    "run.cancelled": "an agent run was cancelled",
    "run.awaiting_confirmation": "an agent run waits for a user to confirm a tool call",
    "conversation.closed": "a conversation was closed",
    "file.uploaded": "a file was attached to a conversation",
    "budget.threshold": "a tenant's usage crossed 80% or 100% of a budget",
    "integration.error": "an OAuth integration's sync failed",
    "webhook.disabled": "an endpoint was disabled after repeated failed deliveries",
}
ALL = "*"


async def publish(session: AsyncSession, *, tenant_id: int, event: str, data: dict) -> None:
    """Queue `event` with `data` (ids and statuses, JSON-serialisable, never a secret) for
    each of the tenant's active endpoints subscribed to it, in the caller's transaction: the
    deliveries exist if, and only if, what the event reports commits."""
    if event not in EVENTS:
        raise ValueError(f"unknown webhook event {event!r}")
    endpoints = await session.scalars(
        select(Webhook.id).where(
            Webhook.tenant_id == tenant_id,
            Webhook.is_active.is_(True),
            or_(Webhook.events.contains([event]), Webhook.events.contains([ALL])),
        )
    )
    now = datetime.now(UTC)
    deliveries = [
        WebhookDelivery(
            id=uuid.uuid4(),
            tenant_id=tenant_id,
            webhook_id=webhook_id,
            event=event,
            payload={"type": event, "timestamp": now.isoformat(), "data": data},
            status="pending",
            attempts=0,
            next_attempt_at=now,
        )
        for webhook_id in endpoints
    ]
    if not deliveries:
        return
    session.add_all(deliveries)
    await session.flush()
    for delivery in deliveries:
        await enqueue_delivery(session, str(delivery.id))
