"""/api/v1/tasks: background work as its users see it: start a run as a task, follow its
status and progress, cancel it."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, status

from orchestrator_service.deps import (
    ActorDep,
    AgentRunnerDep,
    Paging,
    SessionDep,
    TenantPrincipal,
    require,
)
from orchestrator_service.pagination import Page, page_of
from orchestrator_service.tasks import service
from orchestrator_service.tasks.schemas import TaskCreate, TaskKind, TaskOut, TaskStatus

router = APIRouter(prefix="/tasks", tags=["tasks"])
Reader = Annotated[TenantPrincipal, Depends(require("executions:read"))]
Writer = Annotated[TenantPrincipal, Depends(require("executions:write"))]


@router.post("", status_code=status.HTTP_202_ACCEPTED)
async def create_task(
    data: TaskCreate,
    principal: Writer,
    actor: ActorDep,
    session: SessionDep,
    runs: AgentRunnerDep,
) -> TaskOut:
    """Run an agent in the background as a task; higher `priority` runs first."""
    task = await service.start_run(
        session, runs, tenant_id=principal.tenant_id, data=data, actor=actor
    )
    return await service.get_task(
        session, tenant_id=principal.tenant_id, user_id=principal.user_id, task_id=task.id
    )


@router.get("")
async def list_tasks(
    principal: Reader,
    session: SessionDep,
    page: Paging,
    status: TaskStatus | None = None,
    kind: TaskKind | None = None,
) -> Page[TaskOut]:
    """The tasks the caller may read, newest first, by status and kind."""
    items, cursor = await service.list_tasks(
        session,
        tenant_id=principal.tenant_id,
        user_id=principal.user_id,
        page=page,
        status=status,
        kind=kind,
    )
    return page_of(TaskOut, items, cursor)


@router.get("/{task_id}")
async def get_task(task_id: uuid.UUID, principal: Reader, session: SessionDep) -> TaskOut:
    """One task with its status, phases and progress."""
    return await service.get_task(
        session, tenant_id=principal.tenant_id, user_id=principal.user_id, task_id=task_id
    )


@router.post("/{task_id}/cancel", status_code=status.HTTP_202_ACCEPTED)
async def cancel_task(
    task_id: uuid.UUID, principal: Writer, actor: ActorDep, session: SessionDep
) -> TaskOut:
    """Cancel a task's run: a queued or paused one at once, a running one at its next step
    boundary (`cancel_requested` true meanwhile). 409 once ended, or for an ingestion."""
    return await service.cancel_task(
        session,
        tenant_id=principal.tenant_id,
        task_id=task_id,
        actor=actor,
        admin=principal.role == "admin",
    )
