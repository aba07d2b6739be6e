"""Agent memory (seed 001): facts an agent keeps about a user, with type, importance, expiry
and use counts. Expired facts are never returned, and the reconciler's rounds purge them.

Whom a fact is about (its subject): a user of the tenant, who owns it (`owner_user_id`,
private by default), or, when no user is involved (a channel contact: a run that acts for no
user), the contact's `user_key`, ownerless and tenant-wide. The agent's `memory_limit` caps
the facts kept per subject: past it, the least important, least recently used go first.
"""

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import ColumnElement, and_, delete, func, or_, select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncSession

from orchestrator_service.agents.models import Agent, AgentMemory
from orchestrator_service.db.base import PRIVATE, TENANT_WIDE
from orchestrator_service.db.tenancy import readable_by
from orchestrator_service.errors import Conflict

# Facts put into a run's prompt at most (the most important, most recently used).
IN_PROMPT = 20


@dataclass(frozen=True)
class Subject:
    """Whom facts are about: a user (`user_id`), or else a contact (`user_key`)."""

    user_id: uuid.UUID | None
    user_key: str

    @classmethod
    def of(cls, user_id: uuid.UUID | None, contact: str) -> "Subject":
        """The user a caller acts for, or else the contact."""
        return cls(user_id, str(user_id) if user_id is not None else contact)

    def matches(self) -> ColumnElement[bool]:
        """The facts about this subject."""
        if self.user_id is not None:
            return AgentMemory.owner_user_id == self.user_id
        return and_(AgentMemory.owner_user_id.is_(None), AgentMemory.user_key == self.user_key)


def _alive(now: datetime) -> ColumnElement[bool]:
    return or_(AgentMemory.expires_at.is_(None), AgentMemory.expires_at > now)


def _most_useful() -> tuple:
    """Most important first, then most recently used (a fact never used: when learnt)."""
    return (
        AgentMemory.importance_score.desc(),
        func.coalesce(AgentMemory.accessed_at, AgentMemory.created_at).desc(),
        AgentMemory.id.desc(),
    )


def memory_refusal(agent: Agent) -> str | None:
    """Why the agent keeps no memories, or None when it does."""
    if not agent.memory_enabled:
        return "memory is disabled for this agent (memory_enabled false)"
    if agent.memory_limit <= 0:
        return "this agent keeps no memories (memory_limit 0)"
    return None


async def remember_fact(
    session: AsyncSession,
    *,
    tenant_id: int,
    agent_id: int,
    user_key: str,
    key: str,
    value: object,
    owner_user_id: uuid.UUID | None = None,
    visibility: str | None = None,
    memory_type: str = "fact",
    importance: int = 5,
    ttl_seconds: int | None = None,
    context: str | None = None,
) -> AgentMemory:
    """Store a fact about a subject (the owner user, or else the contact `user_key`); the same
    key replaces the older fact, and past the agent's `memory_limit` the least useful facts
    of that subject are evicted (never the new one). `Conflict` when the agent keeps none."""
    agent = await session.scalar(
        select(Agent).where(Agent.id == agent_id, Agent.tenant_id == tenant_id).with_for_update()
    )
    if agent is None:
        raise Conflict("The agent no longer exists")
    if (refusal := memory_refusal(agent)) is not None:
        raise Conflict(f"Nothing was remembered: {refusal}")
    subject = Subject(owner_user_id, user_key)
    same = (AgentMemory.tenant_id == tenant_id, AgentMemory.agent_id == agent_id, subject.matches())
    await session.execute(delete(AgentMemory).where(*same, AgentMemory.key == key))
    fact = AgentMemory(
        tenant_id=tenant_id,
        agent_id=agent_id,
        user_key=user_key,
        owner_user_id=owner_user_id,
        visibility=(visibility or PRIVATE) if owner_user_id is not None else TENANT_WIDE,
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
    now = datetime.now(UTC)
    kept = (
        select(AgentMemory.id)
        .where(*same, _alive(now), AgentMemory.id != fact.id)
        .order_by(*_most_useful())
        .limit(agent.memory_limit - 1)
    )
    await session.execute(
        delete(AgentMemory).where(*same, AgentMemory.id != fact.id, AgentMemory.id.not_in(kept))
    )
    return fact


async def recall_facts(
    session: AsyncSession,
    *,
    tenant_id: int,
    agent_id: int,
    subject: Subject,
    key: str | None = None,
    limit: int = 20,
    shared: bool = False,
) -> list[AgentMemory]:
    """A subject's unexpired facts, most important and most recently used first (only the
    tenant-wide ones when `shared`: the answer lands where the whole tenant reads it); marks
    them used (`accessed_at`, `access_count`)."""
    now = datetime.now(UTC)
    stmt = select(AgentMemory).where(
        AgentMemory.tenant_id == tenant_id,
        AgentMemory.agent_id == agent_id,
        subject.matches(),
        _alive(now),
    )
    if shared:
        stmt = stmt.where(AgentMemory.visibility == TENANT_WIDE)
    if key is not None:
        stmt = stmt.where(AgentMemory.key == key)
    facts = list(await session.scalars(stmt.order_by(*_most_useful()).limit(limit)))
    if facts:
        await session.execute(
            update(AgentMemory)
            .where(AgentMemory.id.in_([f.id for f in facts]))
            .values(accessed_at=now, access_count=AgentMemory.access_count + 1)
        )
    return facts


async def list_facts(
    session: AsyncSession,
    *,
    tenant_id: int,
    agent_id: int,
    reader: uuid.UUID | None,
    user_key: str | None = None,
    limit: int = 200,
) -> list[AgentMemory]:
    """The agent's unexpired facts the reader may read (tenant-wide ones and those about the
    reader), most useful first; a look, not a use (no access is counted)."""
    stmt = select(AgentMemory).where(
        AgentMemory.tenant_id == tenant_id,
        AgentMemory.agent_id == agent_id,
        readable_by(AgentMemory, reader),
        _alive(datetime.now(UTC)),
    )
    if user_key is not None:
        stmt = stmt.where(AgentMemory.user_key == user_key)
    return list(await session.scalars(stmt.order_by(*_most_useful()).limit(limit)))


async def prompt_memories(
    session: AsyncSession, *, agent: Agent, subject: Subject, shared: bool
) -> list[dict[str, Any]]:
    """What a run of the agent for this subject is told it remembers: the most important,
    most recently used facts (at most the agent's `memory_limit` and `IN_PROMPT`; only
    tenant-wide ones when the run's conversation is `shared` with the tenant), marked used;
    none when the agent's memory is off."""
    if agent.tenant_id is None or memory_refusal(agent) is not None:
        return []
    facts = await recall_facts(
        session,
        tenant_id=agent.tenant_id,
        agent_id=agent.id,
        subject=subject,
        limit=min(agent.memory_limit, IN_PROMPT),
        shared=shared,
    )
    return [
        {"id": str(f.id), "key": f.key, "value": f.value.get("value"), "type": f.memory_type}
        for f in facts
    ]


def memory_message(facts: list[dict[str, Any]]) -> str:
    """The system message telling the model what it remembers about the user."""
    lines = [f"- {f['key']}: {f['value']}" if f["key"] else f"- {f['value']}" for f in facts]
    return "What you remember about this user:\n" + "\n".join(lines)


async def forget(
    session: AsyncSession,
    *,
    tenant_id: int,
    agent_id: int,
    reader: uuid.UUID | None,
    memory_id: uuid.UUID,
) -> bool:
    """Delete one fact the reader may read; False if there is no such fact for them."""
    # A DELETE's result is a CursorResult (with rowcount); execute() is typed for any statement.
    result = cast(
        CursorResult[Any],
        await session.execute(
            delete(AgentMemory).where(
                AgentMemory.id == memory_id,
                AgentMemory.tenant_id == tenant_id,
                AgentMemory.agent_id == agent_id,
                readable_by(AgentMemory, reader),
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
