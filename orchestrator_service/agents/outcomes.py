"""What a run's end tells others: the `run.<status>` webhook event, and for a failure an
error-log entry, in the transaction that records the run's end."""

from sqlalchemy.ext.asyncio import AsyncSession

from orchestrator_service.credentials.scrub import Scrubber
from orchestrator_service.error_log.service import record
from orchestrator_service.errors import OrchestratorError
from orchestrator_service.executions.models import Execution
from orchestrator_service.webhooks.events import publish


async def announce_run(
    session: AsyncSession,
    execution: Execution,
    *,
    status: str,
    error: OrchestratorError | None,
    scrubber: Scrubber,
) -> None:
    """Publish the run's end (`run.completed`, `run.failed`, `run.cancelled`,
    `run.awaiting_confirmation`) and put a failure in the error log."""
    data = {
        "execution_id": str(execution.id),
        "agent_id": execution.agent_id,
        "conversation_id": str(execution.conversation_id) if execution.conversation_id else None,
        "status": status,
    }
    if error is not None:
        data["error_code"] = error.code
    await publish(session, tenant_id=execution.tenant_id, event=f"run.{status}", data=data)
    if status == "failed" and error is not None:
        await record(
            session,
            tenant_id=execution.tenant_id,
            kind="run",
            code=error.code,
            message=error.message,
            subject=f"agent:{execution.agent_id}",
            execution_id=execution.id,
            user_id=execution.user_id,
            scrubber=scrubber,
        )
