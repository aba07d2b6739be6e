"""Request and response bodies of /tasks."""

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from orchestrator_service.schemas import Input, Output

TaskStatus = Literal[
    "pending", "running", "awaiting_confirmation", "completed", "failed", "cancelled"
]
TaskKind = Literal["agent_run", "ingestion"]
Priority = Annotated[int, Field(ge=1, le=5, description="1 (lowest) to 5 (most urgent)")]


class TaskCreate(Input):
    """An agent run in the background, as a task."""

    agent_id: int = Field(ge=1, le=2**31 - 1)
    input: str = Field(min_length=1, max_length=100_000)
    conversation_id: uuid.UUID | None = None
    variables: dict[str, str | int | float | bool] = Field(default_factory=dict)
    title: Annotated[str, StringConstraints(min_length=1, max_length=255)]
    description: Annotated[str, StringConstraints(max_length=10_000)] | None = None
    priority: Priority = 3


class TaskOut(Output):
    """A task: what it is, where it stands (read from the work itself), and its result."""

    id: uuid.UUID
    kind: TaskKind
    title: str
    description: str | None
    priority: int
    status: TaskStatus
    phases: list[str]
    current_phase: int = Field(description="1-based index into `phases`")
    total_phases: int
    progress_percentage: int
    execution_id: uuid.UUID | None
    document_id: str | None
    conversation_id: uuid.UUID | None
    result: str | None = Field(description="A run's answer")
    error_message: str | None
    cancel_requested: bool
    started_at: datetime | None
    completed_at: datetime | None
    created_at: datetime | None
