"""Tenants (seed 003: INTEGER ids)."""

from sqlalchemy import Boolean, Integer, Text, text
from sqlalchemy.dialects.postgresql import JSONB
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
