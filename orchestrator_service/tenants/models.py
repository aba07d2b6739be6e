"""Tenants (seed 003: INTEGER ids)."""

import uuid
from datetime import datetime

from sqlalchemy import (
    Boolean,
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

from orchestrator_service.db.base import Base, TimestampMixin


class Tenant(TimestampMixin, Base):
    """A customer of the platform; every other row belongs to one."""

    __tablename__ = "tenants"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(Text, nullable=False, unique=True)
    tool_config: Mapped[dict | None] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    settings: Mapped[dict] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    is_active: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    # The language its knowledge is written in (`es`, `en`, `mixed`): picks the default
    # embedder of its new collections; `embedder` overrides it.
    language: Mapped[str | None] = mapped_column(String(8))
    embedder: Mapped[str | None] = mapped_column(String(20))


class TenantRateWindow(Base):
    """How many times a tenant did one rated thing (`runs`) in the current window (a calendar
    minute): counted with an atomic upsert, so every replica shares the count."""

    __tablename__ = "tenant_rate_windows"
    __table_args__ = (UniqueConstraint("tenant_id", "name"),)

    id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), primary_key=True, server_default=text("gen_random_uuid()")
    )
    tenant_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False, index=True
    )
    name: Mapped[str] = mapped_column(String(50), nullable=False)
    window_start: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    hits: Mapped[int] = mapped_column(Integer, nullable=False)
