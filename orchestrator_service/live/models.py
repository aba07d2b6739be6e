"""Live events: what was pushed (or is to be pushed) to a tenant's users over server-sent
events. A row is the event itself; NOTIFY only carries its id (NOTIFY payloads are capped at
8000 bytes), so any replica can read it and the stream can replay what a client missed."""

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, DateTime, ForeignKey, Identity, Index, Integer, String, func
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from orchestrator_service.db.base import Base


class LiveEvent(Base):
    """One event for a user of a tenant (or, with no user, for every member)."""

    __tablename__ = "live_events"
    __table_args__ = (Index(None, "tenant_id", "user_id", "id"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    tenant_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False
    )
    # NULL: every member of the tenant may receive it (an event about tenant-wide objects).
    user_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("users.id", ondelete="CASCADE")
    )
    event: Mapped[str] = mapped_column(String(64), nullable=False)
    # The permission a receiver's key must grant (e.g. agents:read); NULL: none beyond the stream.
    scope: Mapped[str | None] = mapped_column(String(64))
    data: Mapped[dict] = mapped_column(JSONB, nullable=False)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False, index=True
    )
