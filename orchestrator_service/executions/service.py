"""Reading the execution log (seed 004)."""

import uuid
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from orchestrator_service.db.tenancy import get_scoped, scoped
from orchestrator_service.executions.models import Execution, ExecutionMetric, ExecutionStep
from orchestrator_service.executions.schemas import (
    ExecutionDetail,
    ExecutionOut,
    MetricOut,
    StepOut,
)
from orchestrator_service.pagination import PageParams, paginate


async def list_executions(
    session: AsyncSession,
    *,
    tenant_id: int,
    page: PageParams,
    agent_id: int | None = None,
    session_id: uuid.UUID | None = None,
    status: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> tuple[list[Execution], str | None]:
    """The tenant's runs, newest first, filtered."""
    stmt = scoped(Execution, tenant_id)
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
    session: AsyncSession, *, tenant_id: int, execution_id: uuid.UUID
) -> ExecutionDetail:
    """One run with its steps (in order) and metrics."""
    execution = await get_scoped(session, Execution, tenant_id, execution_id, what="Execution")
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
