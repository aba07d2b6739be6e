"""The record of an agent run (seed 004): each step saved in a transaction of its own as it
ends, so a run's record survives its failure and shows how far it got; then its end. What is
recorded is scrubbed of the tenant's secrets first (a model or a tool's service may echo one)."""

import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from orchestrator_service.agents.llm import Completion
from orchestrator_service.agents.outcomes import announce_run
from orchestrator_service.audit.service import Actor
from orchestrator_service.credentials.scrub import Scrubber
from orchestrator_service.errors import OrchestratorError
from orchestrator_service.executions.models import Execution, ExecutionMetric, ExecutionStep

Emit = Callable[[str, dict], Awaitable[None]]


class RunRecord:
    """One run while it executes: its steps and totals, each step saved as it ends."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        execution: Execution,
        actor: Actor,
        emit: Emit,
        scrubber: Scrubber,
    ) -> None:
        self.sessionmaker = sessionmaker
        self.execution = execution
        self.actor = actor
        self.emit = emit
        self.scrubber = scrubber
        self.step_index = 0
        self.tokens_in = self.tokens_out = self.tool_calls = 0
        self.turns = 0  # model calls made

    async def step(
        self, step_type: str, name: str, work: Callable[[], Awaitable[Any]], *, record_input: Any
    ) -> Any:
        """Run `work` as a recorded step; a failure is recorded and re-raised."""
        started, begun = time.perf_counter(), datetime.now(UTC)
        index, self.step_index = self.step_index, self.step_index + 1
        row = ExecutionStep(
            execution_id=self.execution.id,
            tenant_id=self.execution.tenant_id,
            step_type=step_type,
            step_name=name,
            status="running",
            step_index=index,
            started_at=begun,
            input=self.scrubber.value(record_input),
        )
        try:
            result = await work()
        except OrchestratorError as exc:
            await self._save_step(row, started, status="failed", error=exc)
            raise
        await self._save_step(row, started, status="completed", output=_recordable(result))
        return result

    async def _save_step(
        self,
        row: ExecutionStep,
        started: float,
        *,
        status: str,
        output: Any = None,
        error: OrchestratorError | None = None,
    ) -> None:
        row.status, row.output = status, self.scrubber.value(output)
        row.completed_at = datetime.now(UTC)
        row.execution_time_ms = int((time.perf_counter() - started) * 1000)
        if error is not None:
            row.error_code, row.error_message = error.code, self.scrubber.text(error.message)
        async with self.sessionmaker.begin() as session:
            session.add(row)


def _recordable(result: Any) -> Any:
    if isinstance(result, Completion):
        return {
            "content": result.content,
            "tool_calls": result.tool_calls,
            "tokens_in": result.tokens_in,
            "tokens_out": result.tokens_out,
        }
    return result


async def finish_run(
    run: RunRecord,
    started: float,
    *,
    status: str,
    output: str | None = None,
    error: OrchestratorError | None = None,
) -> None:
    """Record the run's end: status, output or error, duration, tokens and metrics."""
    elapsed = int((time.perf_counter() - started) * 1000)
    values = {
        "status": status,
        "completed_at": datetime.now(UTC),
        "execution_time_ms": elapsed,
        "output_response": None if output is None else run.scrubber.value(output),
        "tokens_used": run.tokens_in + run.tokens_out,
        # The split, as chat-completions clients report it.
        "meta": {
            **(run.execution.meta or {}),
            "usage": {"prompt_tokens": run.tokens_in, "completion_tokens": run.tokens_out},
        },
    }
    if error is not None:
        values |= {"error_code": error.code, "error_message": run.scrubber.text(error.message)}
    metrics = {
        "latency_ms": elapsed,
        "tokens_in": run.tokens_in,
        "tokens_out": run.tokens_out,
        "tool_calls": run.tool_calls,
    }
    async with run.sessionmaker.begin() as session:
        await session.execute(
            update(Execution).where(Execution.id == run.execution.id).values(**values)
        )
        session.add_all(
            ExecutionMetric(
                execution_id=run.execution.id,
                tenant_id=run.execution.tenant_id,
                metric_name=name,
                metric_value=float(value),
            )
            for name, value in metrics.items()
        )
        await announce_run(
            session, run.execution, status=status, error=error, scrubber=run.scrubber
        )
    for field, value in values.items():
        setattr(run.execution, field, value)
