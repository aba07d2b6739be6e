"""The vault's tables: credentials (seed 003's shape plus vault columns), data keys, state."""

import uuid
from datetime import datetime

from sqlalchemy import (
    DateTime,
    ForeignKey,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column, synonym

from orchestrator_service.db.base import Base, CreatedAtMixin


class Credential(CreatedAtMixin, Base):
    """An encrypted secret of a tenant (or a global one, `tenant_id` NULL)."""

    __tablename__ = "credentials"
    # Seed 003's UNIQUE(name, tenant_id) lets global rows (NULL tenant) repeat a name.
    __table_args__ = (UniqueConstraint("name", "tenant_id", postgresql_nulls_not_distinct=True),)

    id_uuid: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), primary_key=True, server_default=text("gen_random_uuid()")
    )
    id: Mapped[uuid.UUID] = synonym("id_uuid")
    tenant_id: Mapped[int | None] = mapped_column(
        Integer, ForeignKey("tenants.id"), nullable=True, index=True
    )
    name: Mapped[str] = mapped_column(Text, nullable=False)
    value: Mapped[str] = mapped_column(Text, nullable=False)
    category: Mapped[str | None] = mapped_column(Text, server_default=text("'general'"))
    scope: Mapped[str | None] = mapped_column(Text, server_default=text("'global'"))

    key_id: Mapped[str | None] = mapped_column(String(64))
    fingerprint: Mapped[str | None] = mapped_column(String(32))
    # Random per credential, new with every new value: without it the fingerprints of two
    # credentials of a tenant holding the same value would match, so storing a guess would
    # confirm it. NULL on rows written before salts (their fingerprint is cleared at boot
    # and recomputed, salted, on their next write).
    fingerprint_salt: Mapped[str | None] = mapped_column(String(32))
    hint: Mapped[str | None] = mapped_column(String(4))
    allowed_hosts: Mapped[list] = mapped_column(JSONB, server_default=text("'[]'::jsonb"))
    status: Mapped[str] = mapped_column(String(20), server_default=text("'ok'"))
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )


class VaultDataKey(CreatedAtMixin, Base):
    """A tenant's data key, stored only wrapped by a key-encryption key.

    Deleting the row (with its tenant) makes the tenant's ciphertexts unreadable for good.
    """

    __tablename__ = "vault_data_keys"

    id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), primary_key=True, server_default=text("gen_random_uuid()")
    )
    # NULL for the data key of global credentials. Not unique: during a re-encryption a
    # tenant briefly has its old key and its new one.
    tenant_id: Mapped[int | None] = mapped_column(
        Integer, ForeignKey("tenants.id", ondelete="CASCADE"), index=True
    )
    kek_id: Mapped[str] = mapped_column(String(32), nullable=False)
    wrapped_key: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)


class VaultState(Base):
    """One row: a check value that proves the configured keys are the vault's keys."""

    __tablename__ = "vault_state"

    id: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    kek_id: Mapped[str] = mapped_column(String(32), nullable=False)
    check_value: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    reencrypt_started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
