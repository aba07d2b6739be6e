"""Seed 004's execution log in schema `agent_execution`, with our INTEGER tenant and agent ids."""

import uuid
from datetime import datetime

from sqlalchemy import DateTime, Float, ForeignKey, Integer, String, Text, func, text
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from orchestrator_service.db.base import Base

SCHEMA = "agent_execution"


def _uuid_pk() -> Mapped[uuid.UUID]:
    return mapped_column(
        UUID(as_uuid=True), primary_key=True, server_default=text("gen_random_uuid()")
    )


def _tenant_fk() -> Mapped[int]:
    return mapped_column(Integer, ForeignKey("tenants.id"), nullable=False, index=True)


def _execution_fk() -> Mapped[uuid.UUID]:
    return mapped_column(
        UUID(as_uuid=True),
        ForeignKey(f"{SCHEMA}.executions.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    )


class Execution(Base):
    """One agent run."""

    __tablename__ = "executions"
    __table_args__ = {"schema": SCHEMA}

    id: Mapped[uuid.UUID] = _uuid_pk()
    tenant_id: Mapped[int] = _tenant_fk()
    # No foreign key: the record outlives a deleted agent.
    agent_id: Mapped[int] = mapped_column(Integer, nullable=False, index=True)
    user_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    conversation_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), index=True)
    session_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), index=True)
    status: Mapped[str] = mapped_column(String(50), nullable=False, index=True)
    started_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), index=True
    )
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    execution_time_ms: Mapped[int | None] = mapped_column(Integer)
    error_code: Mapped[str | None] = mapped_column(String(50))
    error_message: Mapped[str | None] = mapped_column(Text)
    input_prompt: Mapped[str | None] = mapped_column(Text)
    output_response: Mapped[str | None] = mapped_column(Text)
    tokens_used: Mapped[int | None] = mapped_column(Integer)
    model_name: Mapped[str | None] = mapped_column(String(100))
    created_by: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    meta: Mapped[dict | None] = mapped_column("metadata", JSONB)
    # Set by a cancel while the run is running: it stops at its next step boundary.
    cancel_requested_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )

    @property
    def pending_confirmation(self) -> dict | None:
        """The tool call an `awaiting_confirmation` run waits on: tool, call id, arguments."""
        pending = (self.meta or {}).get("pending")
        if self.status != "awaiting_confirmation" or not pending:
            return None
        return {k: pending.get(k) for k in ("tool", "tool_call_id", "arguments", "paused_at")}


class ExecutionStep(Base):
    """One step of a run: a model call, a retrieval, a tool call."""

    __tablename__ = "execution_steps"
    __table_args__ = {"schema": SCHEMA}

    id: Mapped[uuid.UUID] = _uuid_pk()
    execution_id: Mapped[uuid.UUID] = _execution_fk()
    tenant_id: Mapped[int] = _tenant_fk()
    step_type: Mapped[str] = mapped_column(String(50), nullable=False, index=True)
    step_name: Mapped[str] = mapped_column(String(100), nullable=False)
    status: Mapped[str] = mapped_column(String(50), nullable=False, index=True)
    started_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    input: Mapped[dict | None] = mapped_column(JSONB)
    output: Mapped[dict | None] = mapped_column(JSONB)
    error_code: Mapped[str | None] = mapped_column(String(50))
    error_message: Mapped[str | None] = mapped_column(Text)
    step_index: Mapped[int] = mapped_column(Integer, nullable=False, index=True)
    execution_time_ms: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )


class ExecutionMetric(Base):
    """A named number measured during a run (latency, tokens, tool calls)."""

    __tablename__ = "execution_metrics"
    __table_args__ = {"schema": SCHEMA}

    id: Mapped[uuid.UUID] = _uuid_pk()
    execution_id: Mapped[uuid.UUID] = _execution_fk()
    tenant_id: Mapped[int] = _tenant_fk()
    metric_name: Mapped[str] = mapped_column(String(100), nullable=False, index=True)
    metric_value: Mapped[float] = mapped_column(Float, nullable=False)
    created_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    meta: Mapped[dict | None] = mapped_column("metadata", JSONB)
