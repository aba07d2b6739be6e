"""Agent memory (seed 001): facts per agent and user, with type, importance and expiry.
Expired facts are never returned, and the reconciler's rounds purge them."""

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncSession

from orchestrator_service.agents.models import AgentMemory


def _alive(now: datetime):
    return or_(AgentMemory.expires_at.is_(None), AgentMemory.expires_at > now)


async def remember_fact(
    session: AsyncSession,
    *,
    tenant_id: int,
    agent_id: int,
    user_key: str,
    key: str,
    value: object,
    memory_type: str = "fact",
    importance: int = 5,
    ttl_seconds: int | None = None,
    context: str | None = None,
) -> AgentMemory:
    """Store a fact; the same key for the same user replaces the older fact."""
    await session.execute(
        delete(AgentMemory).where(
            AgentMemory.tenant_id == tenant_id,
            AgentMemory.agent_id == agent_id,
            AgentMemory.user_key == user_key,
            AgentMemory.key == key,
        )
    )
    fact = AgentMemory(
        tenant_id=tenant_id,
        agent_id=agent_id,
        user_key=user_key,
        key=key,
        value={"value": value},
        memory_type=memory_type,
        importance_score=importance,
        context=context,
        expires_at=datetime.now(UTC) + timedelta(seconds=ttl_seconds) if ttl_seconds else None,
    )
    session.add(fact)
    await session.flush()
    await session.refresh(fact)
    return fact


async def recall_facts(
    session: AsyncSession,
    *,
    tenant_id: int,
    agent_id: int,
    user_key: str | None,
    key: str | None = None,
    limit: int = 20,
) -> list[AgentMemory]:
    """Unexpired facts, most important and newest first; marks them accessed."""
    now = datetime.now(UTC)
    stmt = select(AgentMemory).where(
        AgentMemory.tenant_id == tenant_id, AgentMemory.agent_id == agent_id, _alive(now)
    )
    if user_key is not None:
        stmt = stmt.where(AgentMemory.user_key == user_key)
    if key is not None:
        stmt = stmt.where(AgentMemory.key == key)
    stmt = stmt.order_by(AgentMemory.importance_score.desc(), AgentMemory.created_at.desc())
    facts = list(await session.scalars(stmt.limit(limit)))
    if facts:
        await session.execute(
            update(AgentMemory)
            .where(AgentMemory.id.in_([f.id for f in facts]))
            .values(accessed_at=now, access_count=AgentMemory.access_count + 1)
        )
    return facts


async def forget(
    session: AsyncSession, *, tenant_id: int, agent_id: int, memory_id: uuid.UUID
) -> bool:
    """Delete one fact; False if the tenant's agent has no such fact."""
    # A DELETE's result is a CursorResult (with rowcount); execute() is typed for any statement.
    result = cast(
        CursorResult[Any],
        await session.execute(
            delete(AgentMemory).where(
                AgentMemory.id == memory_id,
                AgentMemory.tenant_id == tenant_id,
                AgentMemory.agent_id == agent_id,
            )
        ),
    )
    return result.rowcount > 0


async def count_expired(session: AsyncSession) -> int:
    """How many facts have expired and wait for the purge."""
    return (
        await session.scalar(
            select(func.count()).where(AgentMemory.expires_at <= datetime.now(UTC))
        )
        or 0
    )


async def purge_expired(session: AsyncSession) -> int:
    """Delete every expired fact; how many."""
    result = cast(
        CursorResult[Any],
        await session.execute(
            delete(AgentMemory).where(AgentMemory.expires_at <= datetime.now(UTC))
        ),
    )
    return result.rowcount
