"""The tool registry (seed 003's columns plus seed 000's) and its execution log."""

import uuid
from datetime import datetime

from sqlalchemy import (
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from orchestrator_service.db.base import Base, CreatedAtMixin, TimestampMixin


class Tool(TimestampMixin, Base):
    """A callable tool, global (`tenant_id` NULL) or of one tenant."""

    __tablename__ = "tools"
    # Seed 003's UNIQUE(tenant_id, name) lets global tools (NULL tenant) repeat a name.
    __table_args__ = (UniqueConstraint("tenant_id", "name", postgresql_nulls_not_distinct=True),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[int | None] = mapped_column(
        Integer, ForeignKey("tenants.id"), nullable=True, index=True
    )
    name: Mapped[str] = mapped_column(String(255), nullable=False)
    type: Mapped[str] = mapped_column(String(32), nullable=False)
    description: Mapped[str | None] = mapped_column(Text)
    prompt_injection: Mapped[str | None] = mapped_column(Text)
    response_guide: Mapped[str | None] = mapped_column(Text)
    config: Mapped[dict | None] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    service_url: Mapped[str | None] = mapped_column(Text)

    display_name: Mapped[str | None] = mapped_column(String(255))
    category: Mapped[str | None] = mapped_column(String(100), index=True)
    function_schema: Mapped[dict | None] = mapped_column(JSONB)
    requires_confirmation: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    security_level: Mapped[str] = mapped_column(String(20), server_default=text("'safe'"))
    is_enabled: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    usage_count: Mapped[int] = mapped_column(Integer, server_default=text("0"))


class ToolExecution(CreatedAtMixin, Base):
    """One invocation of a tool by an agent (seed 000 `tool_executions`), secrets excluded."""

    __tablename__ = "tool_executions"
    __table_args__ = (Index(None, "tenant_id", "created_at"),)

    id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), primary_key=True, server_default=text("gen_random_uuid()")
    )
    tenant_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("tenants.id"), nullable=False, index=True
    )
    agent_id: Mapped[int | None] = mapped_column(Integer, index=True)
    tool_id: Mapped[int | None] = mapped_column(Integer, index=True)
    tool_name: Mapped[str] = mapped_column(String(255), nullable=False)
    input_parameters: Mapped[dict] = mapped_column(JSONB, nullable=False)
    output_result: Mapped[dict | None] = mapped_column(JSONB)
    status: Mapped[str] = mapped_column(String(20), nullable=False, index=True)
    execution_time_ms: Mapped[int | None] = mapped_column(Integer)
    error_message: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
