"""/api/v1/executions: the log of agent runs."""

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, status

from orchestrator_service.deps import ActorDep, Paging, SessionDep, TenantPrincipal, require
from orchestrator_service.executions import control, service
from orchestrator_service.executions.schemas import ExecutionDetail, ExecutionOut
from orchestrator_service.pagination import Page, page_of
from orchestrator_service.schemas import TimeFilter, as_utc

router = APIRouter(prefix="/executions", tags=["executions"])
Reader = Annotated[TenantPrincipal, Depends(require("executions:read"))]
Steerer = Annotated[TenantPrincipal, Depends(require("executions:write"))]
Status = Literal["queued", "running", "awaiting_confirmation", "completed", "failed", "cancelled"]


@router.get("")
async def list_executions(
    principal: Reader,
    session: SessionDep,
    page: Paging,
    agent_id: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    session_id: uuid.UUID | None = None,
    status: Status | None = None,
    since: TimeFilter = None,
    until: TimeFilter = None,
) -> Page[ExecutionOut]:
    """List runs by agent, session, status and time (never runs in another user's private
    conversation or of their private agent)."""
    rows, cursor = await service.list_executions(
        session,
        tenant_id=principal.tenant_id,
        user_id=principal.user_id,
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
        session, tenant_id=principal.tenant_id, user_id=principal.user_id, execution_id=execution_id
    )


@router.post("/{execution_id}/cancel", status_code=status.HTTP_202_ACCEPTED)
async def cancel_execution(
    execution_id: uuid.UUID, principal: Steerer, actor: ActorDep, session: SessionDep
) -> ExecutionOut:
    """Cancel a run: a queued or paused one at once (`cancelled`), a running one at its next
    step boundary (`cancel_requested_at` set; poll it). 409 once it has ended. Only the user
    who started it, or an admin."""
    execution = await control.cancel(
        session,
        tenant_id=principal.tenant_id,
        execution_id=execution_id,
        actor=actor,
        admin=principal.role == "admin",
    )
    return ExecutionOut.model_validate(execution)


@router.post("/{execution_id}/confirm", status_code=status.HTTP_202_ACCEPTED)
async def confirm_execution(
    execution_id: uuid.UUID, principal: Steerer, actor: ActorDep, session: SessionDep
) -> ExecutionOut:
    """Confirm the tool call a run `awaiting_confirmation` waits on: the run is queued and
    goes on in the background, running the tool. 409 when it is not awaiting one."""
    execution = await control.decide(
        session,
        tenant_id=principal.tenant_id,
        execution_id=execution_id,
        decision="confirmed",
        actor=actor,
        admin=principal.role == "admin",
    )
    return ExecutionOut.model_validate(execution)


@router.post("/{execution_id}/reject", status_code=status.HTTP_202_ACCEPTED)
async def reject_execution(
    execution_id: uuid.UUID, principal: Steerer, actor: ActorDep, session: SessionDep
) -> ExecutionOut:
    """Reject the tool call a run `awaiting_confirmation` waits on: the run is queued and
    goes on in the background, the model told that the user declined. 409 when it is not
    awaiting one."""
    execution = await control.decide(
        session,
        tenant_id=principal.tenant_id,
        execution_id=execution_id,
        decision="rejected",
        actor=actor,
        admin=principal.role == "admin",
    )
    return ExecutionOut.model_validate(execution)
