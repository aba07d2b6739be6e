"""Steering a run: cancel it, or confirm or reject the tool call it is paused on.

A queued or paused run is cancelled at once; a running one is asked to stop, and stops at its
next step boundary (before its next model or tool call), its execution then `cancelled`. A
decision on a paused run queues it again: the worker resumes it where it stopped.
"""

import uuid
from datetime import UTC, datetime
from typing import Literal

from sqlalchemy.ext.asyncio import AsyncSession

from orchestrator_service.audit.service import Actor
from orchestrator_service.db.tenancy import scoped
from orchestrator_service.errors import Conflict, Forbidden, NotFound
from orchestrator_service.executions.models import Execution
from orchestrator_service.executions.service import readable_runs
from orchestrator_service.jobs.queue import enqueue_run
from orchestrator_service.webhooks.events import publish

ENDED = ("completed", "failed", "cancelled")


async def _locked(
    session: AsyncSession, tenant_id: int, execution_id: uuid.UUID, actor: Actor
) -> Execution:
    """The tenant's run the actor's user may read, locked against the worker and other
    requests, or 404 (also another user's run in a private conversation or agent)."""
    execution = await session.scalar(
        scoped(Execution, tenant_id)
        .where(Execution.id == execution_id, readable_runs(actor.user_id))
        .with_for_update(of=Execution)
    )
    if execution is None:
        raise NotFound("Execution not found")
    return execution


def _check_steerer(execution: Execution, actor: Actor, *, admin: bool) -> None:
    """Only the user who started a run, or a tenant admin, steers it."""
    if admin or execution.user_id is None or execution.user_id == actor.user_id:
        return
    raise Forbidden("Only the user who started this run, or an admin, can steer it")


async def cancel(
    session: AsyncSession, *, tenant_id: int, execution_id: uuid.UUID, actor: Actor, admin: bool
) -> Execution:
    """Cancel a run: at once when queued or paused, at its next step boundary when running
    (the answer then shows `cancel_requested_at`). An ended run is a 409."""
    execution = await _locked(session, tenant_id, execution_id, actor)
    _check_steerer(execution, actor, admin=admin)
    now = datetime.now(UTC)
    if execution.status in ENDED:
        raise Conflict(f"This run has already ended ({execution.status})")
    if execution.status == "running":
        execution.cancel_requested_at = execution.cancel_requested_at or now
    else:
        execution.status, execution.completed_at = "cancelled", now
        execution.cancel_requested_at = now
        execution.error_code, execution.error_message = "run_cancelled", "The run was cancelled"
        execution.meta = {k: v for k, v in (execution.meta or {}).items() if k != "pending"}
        await publish(
            session,
            tenant_id=tenant_id,
            event="run.cancelled",
            data={
                "execution_id": str(execution.id),
                "agent_id": execution.agent_id,
                "conversation_id": str(execution.conversation_id)
                if execution.conversation_id
                else None,
                "status": "cancelled",
            },
        )
    await actor.record_change(
        session, action="cancel", resource_type="execution", resource_id=execution.id
    )
    await session.flush()
    return execution


async def decide(
    session: AsyncSession,
    *,
    tenant_id: int,
    execution_id: uuid.UUID,
    decision: Literal["confirmed", "rejected"],
    actor: Actor,
    admin: bool,
) -> Execution:
    """Confirm or reject the tool call a paused run waits on, and queue the run to go on. A
    run not awaiting confirmation (already decided, say) is a 409."""
    execution = await _locked(session, tenant_id, execution_id, actor)
    _check_steerer(execution, actor, admin=admin)
    pending = (execution.meta or {}).get("pending")
    if execution.status != "awaiting_confirmation" or not pending:
        raise Conflict(f"This run is not awaiting a confirmation (it is {execution.status})")
    execution.meta = {**(execution.meta or {}), "pending": {**pending, "decision": decision}}
    execution.status = "queued"
    await actor.record_change(
        session,
        action=decision.removesuffix("ed"),
        resource_type="execution",
        resource_id=execution.id,
        new={"tool": pending.get("tool"), "decision": decision},
    )
    await session.flush()
    await enqueue_run(session, str(execution.id), int((execution.meta or {}).get("priority", 0)))
    return execution
