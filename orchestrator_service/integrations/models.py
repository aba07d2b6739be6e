"""Integrations: one per user and kind, the OAuth states of connections under way, and the map
from each provider item to the local row it became."""

import uuid
from datetime import datetime

from sqlalchemy import (
    DateTime,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from orchestrator_service.db.base import Base, CreatedAtMixin, TimestampMixin, UserOwnedMixin

KINDS = ("gmail", "google_calendar", "outlook_mail", "outlook_calendar")
# pending: waiting for the user's consent; connected: tokens held; error: a person must act
# (status_reason says what); revoked rows are deleted, not kept.
STATUSES = ("pending", "connected", "error")
SYNC_STATUSES = ("idle", "queued", "running", "done", "failed", "throttled")


class Integration(UserOwnedMixin, TimestampMixin, Base):
    """A user's connection to one provider account of one kind, and where its sync stands."""

    __tablename__ = "integrations"
    __table_args__ = (
        UniqueConstraint("tenant_id", "owner_user_id", "kind", postgresql_nulls_not_distinct=True),
    )

    id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), primary_key=True, server_default=text("gen_random_uuid()")
    )
    tenant_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False, index=True
    )
    kind: Mapped[str] = mapped_column(String(32), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, server_default="pending")
    status_reason: Mapped[str | None] = mapped_column(Text)
    scopes: Mapped[list] = mapped_column(JSONB, nullable=False, server_default=text("'[]'"))
    token_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    sync_status: Mapped[str] = mapped_column(String(16), nullable=False, server_default="idle")
    # The provider's incremental position (historyId, syncToken, delta link) and the page in
    # progress: a sync stopped anywhere resumes from here.
    sync_cursor: Mapped[dict] = mapped_column(JSONB, nullable=False, server_default=text("'{}'"))
    sync_progress: Mapped[dict] = mapped_column(JSONB, nullable=False, server_default=text("'{}'"))
    last_error: Mapped[str | None] = mapped_column(Text)
    last_synced_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class OAuthState(CreatedAtMixin, Base):
    """A connection under way: the hash of its `state`, bound to the user who started it, until
    it expires or its callback consumes it (once)."""

    __tablename__ = "integration_oauth_states"

    id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), primary_key=True, server_default=text("gen_random_uuid()")
    )
    state_hash: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    tenant_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False, index=True
    )
    user_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("users.id", ondelete="CASCADE"), nullable=False
    )
    integration_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True),
        ForeignKey("integrations.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    )
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)


class SyncedItem(Base):
    """Which local row a provider item became, so that a sync upserts instead of duplicating,
    deletes what the provider deleted, and after a full resync sweeps what it no longer has
    (rows of an older `generation`)."""

    __tablename__ = "integration_items"
    __table_args__ = (UniqueConstraint("integration_id", "external_id"),)

    id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), primary_key=True, server_default=text("gen_random_uuid()")
    )
    integration_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("integrations.id", ondelete="CASCADE"), nullable=False
    )
    external_id: Mapped[str] = mapped_column(Text, nullable=False)
    local_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    generation: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
