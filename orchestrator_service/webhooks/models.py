"""Seed 002's `webhooks` as tenant endpoints, each delivery of an event to one, and the log of
every attempt."""

import uuid
from datetime import datetime

from sqlalchemy import Boolean, DateTime, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from orchestrator_service.db.base import Base, CreatedAtMixin, TimestampMixin


def _uuid_pk() -> Mapped[uuid.UUID]:
    return mapped_column(
        UUID(as_uuid=True), primary_key=True, server_default=text("gen_random_uuid()")
    )


def _tenant_fk() -> Mapped[int]:
    return mapped_column(Integer, ForeignKey("tenants.id"), nullable=False, index=True)


class Webhook(TimestampMixin, Base):
    """A tenant's URL subscribed to events. Its signing secret is in the vault (credential
    `webhook:<id>:signing`), never in this row; after a rotation the previous secret
    (`webhook:<id>:previous`) still signs until `previous_secret_expires_at`."""

    __tablename__ = "webhooks"

    id: Mapped[uuid.UUID] = _uuid_pk()
    tenant_id: Mapped[int] = _tenant_fk()
    user_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("users.id", ondelete="SET NULL")
    )
    url: Mapped[str] = mapped_column(String(500), nullable=False)
    events: Mapped[list] = mapped_column(JSONB, nullable=False)
    description: Mapped[str | None] = mapped_column(Text)
    is_active: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("true"))
    # Why it stopped receiving: `failures` (disabled automatically) or `manual`.
    disabled_reason: Mapped[str | None] = mapped_column(String(32))
    consecutive_failures: Mapped[int] = mapped_column(
        Integer, nullable=False, server_default=text("0")
    )
    previous_secret_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class WebhookDelivery(TimestampMixin, Base):
    """One event for one endpoint: the message (its id is the `webhook-id` header) and where
    its delivery stands: `pending`, `succeeded`, `failed` (gave up) or `skipped` (endpoint
    disabled or gone)."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (Index(None, "webhook_id", "created_at"),)

    id: Mapped[uuid.UUID] = _uuid_pk()
    tenant_id: Mapped[int] = _tenant_fk()
    webhook_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("webhooks.id", ondelete="CASCADE"), nullable=False
    )
    event: Mapped[str] = mapped_column(String(64), nullable=False)
    # The message body sent (event type, timestamp, data): ids and statuses, never a secret.
    payload: Mapped[dict] = mapped_column(JSONB, nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, server_default="pending")
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, server_default=text("0"))
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class WebhookAttempt(CreatedAtMixin, Base):
    """One try at a delivery: the answer's status code or the failure, and how long it took."""

    __tablename__ = "webhook_attempts"

    id: Mapped[uuid.UUID] = _uuid_pk()
    tenant_id: Mapped[int] = _tenant_fk()
    delivery_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True),
        ForeignKey("webhook_deliveries.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    )
    attempt: Mapped[int] = mapped_column(Integer, nullable=False)
    succeeded: Mapped[bool] = mapped_column(Boolean, nullable=False)
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    duration_ms: Mapped[int | None] = mapped_column(Integer)
