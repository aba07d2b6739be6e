"""Seed 000's `tasks`: the user-facing face of background work (an agent run, an ingestion).
A task holds what the user gave it (title, description, priority); its status, progress and
phases are read from the work itself, so they can never disagree with it."""

import uuid

from sqlalchemy import CheckConstraint, ForeignKey, Integer, String, Text, text
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from orchestrator_service.db.base import TENANT_WIDE, Base, TimestampMixin
from orchestrator_service.executions.models import SCHEMA


class Task(TimestampMixin, Base):
    """A run or a multi-step job, as its user sees it. Owner and visibility as in
    `UserOwnedMixin` (tenant-wide by default, like conversations), declared as plain columns
    so that the type checker sees them as the `UserOwned` protocol of `db.tenancy` wants."""

    __tablename__ = "tasks"
    __table_args__ = (CheckConstraint("priority BETWEEN 1 AND 5", name="priority_range"),)

    id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), primary_key=True, server_default=text("gen_random_uuid()")
    )
    tenant_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("tenants.id"), nullable=False, index=True
    )
    owner_user_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    visibility: Mapped[str] = mapped_column(
        String(16), nullable=False, server_default=text(f"'{TENANT_WIDE}'")
    )
    # `agent_run` (execution_id) or `ingestion` (document_id).
    kind: Mapped[str] = mapped_column(String(32), nullable=False)
    title: Mapped[str] = mapped_column(String(255), nullable=False)
    description: Mapped[str | None] = mapped_column(Text)
    # 1 (lowest) to 5 (most urgent): the job queue takes higher priorities first.
    priority: Mapped[int] = mapped_column(Integer, nullable=False, server_default=text("3"))
    conversation_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("chat_conversations.id", ondelete="CASCADE"), index=True
    )
    execution_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey(f"{SCHEMA}.executions.id", ondelete="CASCADE"), index=True
    )
    document_id: Mapped[str | None] = mapped_column(
        String, ForeignKey("rag_documents.id", ondelete="CASCADE"), index=True
    )
