"""A run's step boundaries: where a cancel stops it, and where a tool that needs a user's
confirmation pauses it until `POST /executions/{id}/confirm` or `/reject`.

A paused run keeps, in its execution's metadata (`pending`), what it needs to go on: the
messages so far, the tool calls still to make (the first is the one awaiting a decision), the
model turns used, its step index and token counts. Resuming is a queued run that finds them.
"""

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select, update

from orchestrator_service.agents.outcomes import announce_run
from orchestrator_service.agents.record import RunRecord
from orchestrator_service.errors import Conflict
from orchestrator_service.executions.models import Execution

AWAITING = "awaiting_confirmation"
DECLINED = {"error": "the user declined this tool call; do not try it again"}


class RunCancelled(Conflict):
    """The run was cancelled; it stopped at a step boundary."""

    code = "run_cancelled"


class RunPaused(Exception):
    """A tool call needs the user's confirmation: the run stops here, to resume later."""

    def __init__(self, calls: list[dict], messages: list[dict]) -> None:
        super().__init__("awaiting confirmation")
        self.calls = calls
        self.messages = messages


@dataclass
class Resumed:
    """What a resumed run goes on from."""

    messages: list[dict]
    calls: list[dict]
    turns: int
    decision: str  # "confirmed" or "rejected": for calls[0]


async def checkpoint(run: RunRecord) -> None:
    """A step boundary: `RunCancelled` if a cancel was asked for meanwhile."""
    async with run.sessionmaker.begin() as session:
        asked = await session.scalar(
            select(Execution.cancel_requested_at).where(Execution.id == run.execution.id)
        )
    if asked is not None:
        raise RunCancelled("The run was cancelled")


def resumed(run: RunRecord) -> Resumed | None:
    """A resumed run's state (its counters restored on `run`), or None for a fresh run."""
    pending = (run.execution.meta or {}).get("pending")
    if not pending or "decision" not in pending:
        return None
    run.step_index = pending["step_index"]
    run.tokens_in, run.tokens_out = pending["tokens_in"], pending["tokens_out"]
    run.tool_calls = pending["tool_calls"]
    # Gone from the record once the run goes on (its end writes the metadata back).
    run.execution.meta = {k: v for k, v in (run.execution.meta or {}).items() if k != "pending"}
    return Resumed(
        messages=pending["messages"],
        calls=pending["calls"],
        turns=pending["turns"],
        decision=pending["decision"],
    )


async def pause_run(run: RunRecord, paused: RunPaused, *, turns: int) -> None:
    """Record the run as awaiting confirmation, with what it needs to resume."""
    call = paused.calls[0]
    meta = {key: v for key, v in (run.execution.meta or {}).items() if key != "pending"}
    meta["pending"] = run.scrubber.value(
        {
            "tool": (call.get("function") or {}).get("name"),
            "tool_call_id": call.get("id"),
            "arguments": (call.get("function") or {}).get("arguments"),
            "calls": paused.calls,
            "messages": paused.messages,
            "turns": turns,
            "step_index": run.step_index,
            "tokens_in": run.tokens_in,
            "tokens_out": run.tokens_out,
            "tool_calls": run.tool_calls,
            "paused_at": datetime.now(UTC).isoformat(),
        }
    )
    async with run.sessionmaker.begin() as session:
        await session.execute(
            update(Execution)
            .where(Execution.id == run.execution.id)
            .values(status=AWAITING, meta=meta, tokens_used=run.tokens_in + run.tokens_out)
        )
        await announce_run(
            session, run.execution, status=AWAITING, error=None, scrubber=run.scrubber
        )
    run.execution.status, run.execution.meta = AWAITING, meta
    await run.emit("confirmation", {"tool": meta["pending"]["tool"], "call": call})
