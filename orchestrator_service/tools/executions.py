"""Reading back `tool_executions`: a tenant's calls, filtered and paged, and per-tool
statistics (calls, success rate, latency percentiles) as seed 000's `tool_statistics` view."""

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from orchestrator_service.credentials.scrub import Scrubber
from orchestrator_service.db.tenancy import get_scoped, scoped
from orchestrator_service.pagination import PageParams, paginate
from orchestrator_service.tools.models import ToolExecution
from orchestrator_service.tools.schemas import (
    ToolExecutionDetail,
    ToolExecutionOut,
    ToolStatistics,
)

# Tools one statistics answer covers, the busiest first.
MAX_STATISTICS = 1000


def _filtered(
    stmt: Select,
    *,
    tool_name: str | None,
    agent_id: int | None,
    status: str | None = None,
    since: datetime | None,
    until: datetime | None,
) -> Select:
    if tool_name is not None:
        stmt = stmt.where(ToolExecution.tool_name == tool_name)
    if agent_id is not None:
        stmt = stmt.where(ToolExecution.agent_id == agent_id)
    if status is not None:
        stmt = stmt.where(ToolExecution.status == status)
    if since is not None:
        stmt = stmt.where(ToolExecution.created_at >= since)
    if until is not None:
        stmt = stmt.where(ToolExecution.created_at < until)
    return stmt


async def list_tool_executions(
    session: AsyncSession,
    *,
    tenant_id: int,
    page: PageParams,
    scrubber: Scrubber,
    **filters: Any,
) -> tuple[list[ToolExecutionOut], str | None]:
    """The tenant's tool calls, newest first, filtered; inputs scrubbed again on the way out
    (a secret stored after the call was recorded is caught too)."""
    rows, cursor = await paginate(
        session, _filtered(scoped(ToolExecution, tenant_id), **filters), ToolExecution, page
    )
    items = [
        ToolExecutionOut.model_validate(row).model_copy(
            update={
                "input_parameters": scrubber.value(row.input_parameters),
                "error_message": scrubber.value(row.error_message),
            }
        )
        for row in rows
    ]
    return items, cursor


async def get_tool_execution(
    session: AsyncSession, *, tenant_id: int, execution_id: uuid.UUID, scrubber: Scrubber
) -> ToolExecutionDetail:
    """One of the tenant's tool calls with its output, scrubbed."""
    row = await get_scoped(session, ToolExecution, tenant_id, execution_id, what="Tool execution")
    return ToolExecutionDetail.model_validate(row).model_copy(
        update={
            "input_parameters": scrubber.value(row.input_parameters),
            "error_message": scrubber.value(row.error_message),
            "output_result": scrubber.value(row.output_result),
        }
    )


async def tool_statistics(
    session: AsyncSession, *, tenant_id: int, **filters: Any
) -> list[ToolStatistics]:
    """Per tool: calls, completed and failed, success rate, p50 / p95 / mean latency of the
    finished calls, and the last call; the busiest tools first."""
    finished = ToolExecution.status.in_(("completed", "failed"))
    latency = ToolExecution.execution_time_ms
    completed = func.count().filter(ToolExecution.status == "completed")
    failed = func.count().filter(ToolExecution.status == "failed")
    stmt = (
        select(
            ToolExecution.tool_name,
            func.count().label("calls"),
            completed.label("completed"),
            failed.label("failed"),
            func.percentile_cont(0.5).within_group(latency).filter(finished).label("p50"),
            func.percentile_cont(0.95).within_group(latency).filter(finished).label("p95"),
            func.avg(latency).filter(finished).label("avg"),
            func.max(ToolExecution.created_at).label("last"),
        )
        .where(ToolExecution.tenant_id == tenant_id)
        .group_by(ToolExecution.tool_name)
        .order_by(func.count().desc(), ToolExecution.tool_name)
        .limit(MAX_STATISTICS)
    )
    rows = (await session.execute(_filtered(stmt, **filters))).all()
    return [
        ToolStatistics(
            tool_name=row.tool_name,
            calls=row.calls,
            completed=row.completed,
            failed=row.failed,
            success_rate=(
                row.completed / (row.completed + row.failed) if row.completed + row.failed else None
            ),
            p50_ms=None if row.p50 is None else float(row.p50),
            p95_ms=None if row.p95 is None else float(row.p95),
            avg_ms=None if row.avg is None else float(row.avg),
            last_called_at=row.last,
        )
        for row in rows
    ]
