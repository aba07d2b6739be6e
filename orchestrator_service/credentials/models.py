"""The vault's table, in seed 003's shape."""

import uuid

from sqlalchemy import ForeignKey, Integer, Text, UniqueConstraint, text
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from orchestrator_service.db.base import Base, CreatedAtMixin


class Credential(Base, CreatedAtMixin):
    """An encrypted secret of a tenant (or a global one, `tenant_id` NULL)."""

    __tablename__ = "credentials"
    # Seed 003's UNIQUE(name, tenant_id) lets global rows (NULL tenant) repeat a name.
    __table_args__ = (UniqueConstraint("name", "tenant_id", postgresql_nulls_not_distinct=True),)

    id_uuid: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), primary_key=True, server_default=text("gen_random_uuid()")
    )
    tenant_id: Mapped[int | None] = mapped_column(
        Integer, ForeignKey("tenants.id"), nullable=True, index=True
    )
    name: Mapped[str] = mapped_column(Text, nullable=False)
    value: Mapped[str] = mapped_column(Text, nullable=False)
    category: Mapped[str | None] = mapped_column(Text, server_default=text("'general'"))
    scope: Mapped[str | None] = mapped_column(Text, server_default=text("'global'"))
