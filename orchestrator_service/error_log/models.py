"""Seed 002's `error_logs`, one row per distinct handled failure of a tenant, counted."""

import uuid
from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Integer, String, Text, UniqueConstraint, func, text
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from orchestrator_service.db.base import Base


class ErrorLog(Base):
    """A failure the service handled: what kind, a safe message (scrubbed of the tenant's
    secrets, never a raw payload or a stack trace), the last request or execution it happened
    in, and how often it happened (rows are deduplicated by fingerprint)."""

    __tablename__ = "error_logs"
    __table_args__ = (UniqueConstraint("tenant_id", "fingerprint"),)

    id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), primary_key=True, server_default=text("gen_random_uuid()")
    )
    tenant_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False, index=True
    )
    user_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("users.id", ondelete="SET NULL")
    )
    # run, tool_call, ingestion, webhook_delivery, sync, ...
    error_type: Mapped[str] = mapped_column(String(100), nullable=False, index=True)
    error_code: Mapped[str | None] = mapped_column(String(100))
    error_message: Mapped[str] = mapped_column(Text, nullable=False)
    fingerprint: Mapped[str] = mapped_column(String(64), nullable=False)
    occurrences: Mapped[int] = mapped_column(Integer, nullable=False, server_default=text("1"))
    request_id: Mapped[str | None] = mapped_column(String(64))
    execution_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    # What it happened to: "document:<id>", "webhook:<id>", "tool:<name>", ...
    subject: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    last_seen_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), index=True
    )
