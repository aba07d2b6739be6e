"""Tasks: start a background agent run as one, list and read them with their status and
progress (read from the execution or the document they follow), cancel them."""

import uuid

from sqlalchemy import ColumnElement, and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from orchestrator_service.agents.runs import AgentRunner
from orchestrator_service.agents.schemas import RunRequest
from orchestrator_service.audit.service import Actor
from orchestrator_service.conversations.models import ChatConversation
from orchestrator_service.db.base import TENANT_WIDE
from orchestrator_service.db.tenancy import get_visible, visible
from orchestrator_service.errors import Conflict
from orchestrator_service.executions import control
from orchestrator_service.executions.models import Execution
from orchestrator_service.jobs.queue import enqueue_run
from orchestrator_service.pagination import PageParams, paginate
from orchestrator_service.rag.models import RagDocument
from orchestrator_service.tasks.models import Task
from orchestrator_service.tasks.schemas import TaskCreate, TaskOut

RUN_PHASES = ["queued", "running", "finished"]
INGESTION_PHASES = ["queued", "processing", "finished"]
# A task's status from its execution's, and from its document's.
_RUN_STATUS = {"queued": "pending"}
_DOCUMENT_STATUS = {
    "queued": "pending",
    "processing": "running",
    "ready": "completed",
    "failed": "failed",
    "deleting": "cancelled",
}


async def start_run(
    session: AsyncSession,
    runs: AgentRunner,
    *,
    tenant_id: int,
    data: TaskCreate,
    actor: Actor,
) -> Task:
    """Start an agent run in the background as a task; its priority orders it in the queue
    (and when it resumes after a confirmation)."""
    execution = await runs.start(
        tenant_id=tenant_id,
        agent_id=data.agent_id,
        request=RunRequest(
            input=data.input,
            conversation_id=data.conversation_id,
            variables=data.variables,
            background=True,
        ),
        actor=actor,
    )
    await session.execute(
        update(Execution)
        .where(Execution.id == execution.id)
        .values(meta={**(execution.meta or {}), "priority": data.priority})
    )
    # The task shows the run's answer: it is as private as the conversation the run is in.
    visibility = await session.scalar(
        select(ChatConversation.visibility).where(ChatConversation.id == execution.conversation_id)
    )
    task = Task(
        tenant_id=tenant_id,
        kind="agent_run",
        title=data.title,
        description=data.description,
        priority=data.priority,
        conversation_id=execution.conversation_id,
        execution_id=execution.id,
        owner_user_id=actor.user_id,
        visibility=visibility or TENANT_WIDE,
    )
    session.add(task)
    await session.flush()
    await enqueue_run(session, str(execution.id), data.priority)
    await actor.record_change(
        session,
        action="create",
        resource_type="task",
        resource_id=task.id,
        # A private task's title is its user's content: the audit log names it by id only.
        new={"kind": task.kind, "priority": task.priority}
        | ({"title": task.title} if task.visibility == TENANT_WIDE else {}),
        tenant_id=tenant_id,
    )
    return task


async def track_ingestion(
    session: AsyncSession,
    *,
    tenant_id: int,
    document_id: str,
    title: str,
    conversation_id: uuid.UUID | None,
    actor: Actor,
) -> Task:
    """A task following a document's ingestion (in the caller's transaction)."""
    task = Task(
        tenant_id=tenant_id,
        kind="ingestion",
        title=title[:255],
        priority=3,
        conversation_id=conversation_id,
        document_id=document_id,
        owner_user_id=actor.user_id,
    )
    session.add(task)
    await session.flush()
    return task


def _status_filter(status: str) -> ColumnElement[bool]:
    """Tasks whose work is in `status`."""
    run_states = [
        s
        for s in ("queued", "running", "awaiting_confirmation", "completed", "failed", "cancelled")
        if _RUN_STATUS.get(s, s) == status
    ]
    document_states = [s for s, mapped in _DOCUMENT_STATUS.items() if mapped == status]
    return or_(
        and_(Task.kind == "agent_run", Execution.status.in_(run_states)),
        and_(Task.kind == "ingestion", RagDocument.status.in_(document_states)),
    )


async def list_tasks(
    session: AsyncSession,
    *,
    tenant_id: int,
    user_id: uuid.UUID | None,
    page: PageParams,
    status: str | None = None,
    kind: str | None = None,
) -> tuple[list[TaskOut], str | None]:
    """The tasks this user may read, newest first."""
    stmt = visible(Task, tenant_id, user_id)
    if kind is not None:
        stmt = stmt.where(Task.kind == kind)
    if status is not None:
        stmt = (
            stmt.outerjoin(Execution, Execution.id == Task.execution_id)
            .outerjoin(RagDocument, RagDocument.id == Task.document_id)
            .where(_status_filter(status))
        )
    tasks, cursor = await paginate(session, stmt, Task, page)
    return await _views(session, tasks), cursor


async def get_task(
    session: AsyncSession, *, tenant_id: int, user_id: uuid.UUID | None, task_id: uuid.UUID
) -> TaskOut:
    """One task, or 404."""
    task = await get_visible(session, Task, tenant_id, user_id, task_id, what="Task")
    return (await _views(session, [task]))[0]


async def cancel_task(
    session: AsyncSession,
    *,
    tenant_id: int,
    task_id: uuid.UUID,
    actor: Actor,
    admin: bool,
) -> TaskOut:
    """Cancel a task's run (at once when queued or paused, at its next step boundary when
    running); an ingestion is stopped by deleting its document."""
    task = await get_visible(session, Task, tenant_id, actor.user_id, task_id, what="Task")
    if task.execution_id is None:
        raise Conflict(
            "An ingestion task is stopped by deleting its document "
            f"(DELETE /api/v1/rag/documents/{task.document_id})"
        )
    await control.cancel(
        session, tenant_id=tenant_id, execution_id=task.execution_id, actor=actor, admin=admin
    )
    return (await _views(session, [task]))[0]


async def _views(session: AsyncSession, tasks: list[Task]) -> list[TaskOut]:
    """Tasks with the status and progress of the work each follows (two queries in all)."""
    executions = {
        e.id: e
        for e in await session.scalars(
            select(Execution).where(
                Execution.id.in_([t.execution_id for t in tasks if t.execution_id])
            )
        )
    }
    documents = {
        d.id: d
        for d in await session.scalars(
            select(RagDocument).where(
                RagDocument.id.in_([t.document_id for t in tasks if t.document_id])
            )
        )
    }
    views = []
    for task in tasks:
        if task.kind == "agent_run":
            views.append(_run_view(task, executions.get(task.execution_id or uuid.uuid4())))
        else:
            views.append(_ingestion_view(task, documents.get(task.document_id or "")))
    return views


def _base(task: Task) -> dict:
    return {
        "id": task.id,
        "kind": task.kind,
        "title": task.title,
        "description": task.description,
        "priority": task.priority,
        "execution_id": task.execution_id,
        "document_id": task.document_id,
        "conversation_id": task.conversation_id,
        "created_at": task.created_at,
    }


def _run_view(task: Task, execution: Execution | None) -> TaskOut:
    """A run task: queued (0%), running or awaiting confirmation (50%), finished (100%)."""
    state = execution.status if execution is not None else "failed"
    phase = {"queued": 1, "running": 2, "awaiting_confirmation": 2}.get(state, 3)
    return TaskOut(
        **_base(task),
        status=_RUN_STATUS.get(state, state),  # type: ignore[arg-type]
        phases=RUN_PHASES,
        current_phase=phase,
        total_phases=len(RUN_PHASES),
        progress_percentage=(0, 50, 100)[phase - 1],
        result=execution.output_response if execution is not None else None,
        error_message=execution.error_message if execution is not None else "The run is gone",
        cancel_requested=execution is not None and execution.cancel_requested_at is not None,
        started_at=execution.started_at if execution is not None and phase > 1 else None,
        completed_at=execution.completed_at if execution is not None else None,
    )


def _ingestion_view(task: Task, document: RagDocument | None) -> TaskOut:
    """An ingestion task: queued, processing (progress by chunks embedded), finished."""
    state = document.status if document is not None else "deleting"
    phase = {"queued": 1, "processing": 2}.get(state, 3)
    progress = 100 if phase == 3 else 0
    if document is not None and phase == 2 and document.chunks_total:
        progress = min(99, 100 * document.chunks_done // document.chunks_total)
    return TaskOut(
        **_base(task),
        status=_DOCUMENT_STATUS.get(state, "failed"),  # type: ignore[arg-type]
        phases=INGESTION_PHASES,
        current_phase=phase,
        total_phases=len(INGESTION_PHASES),
        progress_percentage=progress,
        result=None,
        error_message=document.error if document is not None else "The document was deleted",
        cancel_requested=False,
        started_at=None,
        completed_at=document.updated_at if document is not None and phase == 3 else None,
    )
