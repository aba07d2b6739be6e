"""Reading the execution log (seed 004)."""

import uuid
from datetime import datetime

from sqlalchemy import ColumnElement, and_, exists, not_, select
from sqlalchemy.ext.asyncio import AsyncSession

from orchestrator_service.agents.models import Agent
from orchestrator_service.conversations.models import ChatConversation
from orchestrator_service.db.tenancy import readable_by, scoped
from orchestrator_service.errors import NotFound
from orchestrator_service.executions.models import Execution, ExecutionMetric, ExecutionStep
from orchestrator_service.executions.schemas import (
    ExecutionDetail,
    ExecutionOut,
    MetricOut,
    StepOut,
)
from orchestrator_service.pagination import PageParams, paginate


def readable_runs(user_id: uuid.UUID | None) -> ColumnElement[bool]:
    """Runs the user may read: not in a conversation, nor of an agent, private to another
    user (a run's input, steps and answer are its conversation's content)."""
    hidden_conversation = exists().where(
        ChatConversation.id == Execution.conversation_id,
        not_(readable_by(ChatConversation, user_id)),
    )
    hidden_agent = exists().where(Agent.id == Execution.agent_id, not_(readable_by(Agent, user_id)))
    return and_(not_(hidden_conversation), not_(hidden_agent))


async def list_executions(
    session: AsyncSession,
    *,
    tenant_id: int,
    user_id: uuid.UUID | None,
    page: PageParams,
    agent_id: int | None = None,
    session_id: uuid.UUID | None = None,
    status: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> tuple[list[Execution], str | None]:
    """The runs the user may read, newest first, filtered."""
    stmt = scoped(Execution, tenant_id).where(readable_runs(user_id))
    if agent_id is not None:
        stmt = stmt.where(Execution.agent_id == agent_id)
    if session_id is not None:
        stmt = stmt.where(Execution.session_id == session_id)
    if status is not None:
        stmt = stmt.where(Execution.status == status)
    if since is not None:
        stmt = stmt.where(Execution.started_at >= since)
    if until is not None:
        stmt = stmt.where(Execution.started_at < until)
    return await paginate(session, stmt, Execution, page)


async def get_execution(
    session: AsyncSession, *, tenant_id: int, user_id: uuid.UUID | None, execution_id: uuid.UUID
) -> ExecutionDetail:
    """One run the user may read, with its steps (in order) and metrics; 404 otherwise."""
    execution = await session.scalar(
        scoped(Execution, tenant_id).where(Execution.id == execution_id, readable_runs(user_id))
    )
    if execution is None:
        raise NotFound("Execution not found")
    steps = await session.scalars(
        select(ExecutionStep)
        .where(ExecutionStep.execution_id == execution.id, ExecutionStep.tenant_id == tenant_id)
        .order_by(ExecutionStep.step_index)
    )
    metrics = await session.scalars(
        select(ExecutionMetric).where(
            ExecutionMetric.execution_id == execution.id, ExecutionMetric.tenant_id == tenant_id
        )
    )
    return ExecutionDetail(
        **ExecutionOut.model_validate(execution).model_dump(),
        steps=[StepOut.model_validate(s) for s in steps],
        metrics=[MetricOut.model_validate(m) for m in metrics],
    )
