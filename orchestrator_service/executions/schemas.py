"""Response bodies of /executions."""

import uuid
from datetime import datetime
from typing import Any

from pydantic import Field

from orchestrator_service.schemas import Output


class StepOut(Output):
    """One step of a run."""

    id: uuid.UUID
    step_index: int
    step_type: str
    step_name: str
    status: str
    input: Any
    output: Any
    error_code: str | None
    error_message: str | None
    execution_time_ms: int | None
    started_at: datetime | None
    completed_at: datetime | None


class MetricOut(Output):
    """A number measured during a run."""

    metric_name: str
    metric_value: float
    metadata: dict | None = Field(validation_alias="meta")


class ExecutionOut(Output):
    """A run of an agent."""

    id: uuid.UUID
    agent_id: int
    conversation_id: uuid.UUID | None
    session_id: uuid.UUID | None
    status: str
    input_prompt: str | None
    output_response: str | None
    error_code: str | None
    error_message: str | None
    tokens_used: int | None
    model_name: str | None
    execution_time_ms: int | None
    started_at: datetime | None
    completed_at: datetime | None
    cancel_requested_at: datetime | None
    pending_confirmation: dict | None = Field(
        description="For a run awaiting confirmation: the tool call it waits on (`tool`, "
        "`tool_call_id`, `arguments`, `paused_at`)"
    )


class ExecutionDetail(ExecutionOut):
    """A run with its steps and metrics."""

    steps: list[StepOut]
    metrics: list[MetricOut]
