"""/api/v1/executions: the log of agent runs."""

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query

from orchestrator_service.deps import Paging, SessionDep, TenantPrincipal, require
from orchestrator_service.executions import service
from orchestrator_service.executions.schemas import ExecutionDetail, ExecutionOut
from orchestrator_service.pagination import Page, page_of
from orchestrator_service.schemas import TimeFilter, as_utc

router = APIRouter(prefix="/executions", tags=["executions"])
Reader = Annotated[TenantPrincipal, Depends(require("executions:read"))]


@router.get("")
async def list_executions(
    principal: Reader,
    session: SessionDep,
    page: Paging,
    agent_id: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    session_id: uuid.UUID | None = None,
    status: Literal["queued", "running", "completed", "failed"] | None = None,
    since: TimeFilter = None,
    until: TimeFilter = None,
) -> Page[ExecutionOut]:
    """List runs by agent, session, status and time."""
    rows, cursor = await service.list_executions(
        session,
        tenant_id=principal.tenant_id,
        page=page,
        agent_id=agent_id,
        session_id=session_id,
        status=status,
        since=as_utc(since, "since"),
        until=as_utc(until, "until"),
    )
    return page_of(ExecutionOut, rows, cursor)


@router.get("/{execution_id}")
async def get_execution(
    execution_id: uuid.UUID, principal: Reader, session: SessionDep
) -> ExecutionDetail:
    """One run with its steps and metrics."""
    return await service.get_execution(
        session, tenant_id=principal.tenant_id, execution_id=execution_id
    )
