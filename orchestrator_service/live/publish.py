"""The one way to push a live event: `publish(session, tenant_id=, user_id=, event=, data=)`.

The event is a row written in the caller's transaction, and the NOTIFY that wakes the
replicas' streams is sent in the same transaction: PostgreSQL delivers it at commit, so a
rolled-back change never announces itself, and every replica hears every committed event.
"""

import json
import uuid

from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from orchestrator_service.live.models import LiveEvent

CHANNEL = "orch_live"
MAX_DATA_BYTES = 16_384

# The events this service publishes (a client can rely on these names).
AGENT_STATUS = "agent.status"
AGENT_MESSAGE = "agent.message"
SYNC_PROGRESS = "sync.progress"


async def publish(
    session: AsyncSession,
    *,
    tenant_id: int,
    user_id: uuid.UUID | None,
    event: str,
    data: dict,
    scope: str | None = None,
) -> int:
    """Queue `event` with `data` for `user_id` of the tenant (None: every member), sent to
    their open streams once the session's transaction commits; a receiver's key must grant
    `scope` when one is given. Returns the event's id. `data` is a small JSON object (at most
    16 KiB): send ids and a summary, and let the client read the rest through the API."""
    size = len(json.dumps(data, default=str))
    if size > MAX_DATA_BYTES:
        raise ValueError(f"a live event's data is {size} bytes, more than {MAX_DATA_BYTES}")
    inserted = await session.execute(
        insert(LiveEvent)
        .values(
            tenant_id=tenant_id,
            user_id=user_id,
            event=event,
            scope=scope,
            data=json.loads(json.dumps(data, default=str)),
        )
        .returning(LiveEvent.id)
    )
    event_id = inserted.scalar_one()
    await session.execute(select(func.pg_notify(CHANNEL, str(event_id))))
    return event_id


async def publish_agent_status(
    session: AsyncSession,
    *,
    tenant_id: int,
    agent_id: int,
    owner_user_id: uuid.UUID | None,
    status: str,
) -> int:
    """Announce an agent's new status (online, offline, busy) to its owner (None: every
    member), once the session commits."""
    return await publish(
        session,
        tenant_id=tenant_id,
        user_id=owner_user_id,
        event=AGENT_STATUS,
        data={"agent_id": agent_id, "status": status},
        scope="agents:read",
    )


async def publish_sync_progress(
    session: AsyncSession,
    *,
    tenant_id: int,
    user_id: uuid.UUID,
    integration_id: uuid.UUID | str,
    data: dict,
) -> int:
    """Announce an integration's sync progress (`data`: status, counts, last error) to the
    user who owns the integration, once the session commits."""
    return await publish(
        session,
        tenant_id=tenant_id,
        user_id=user_id,
        event=SYNC_PROGRESS,
        data={"integration_id": str(integration_id), **data},
    )
