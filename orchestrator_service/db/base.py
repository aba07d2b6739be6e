"""Declarative bases with one naming convention, and the column mixins the models share."""

import uuid
from datetime import datetime
from typing import TYPE_CHECKING, ClassVar

from sqlalchemy import DateTime, ForeignKey, MetaData, String, func, text
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import DeclarativeBase, Mapped, declared_attr, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Base of every model in the metadata (local) database."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


# The vector database needs pgvector; nothing else is assumed installed.
VECTOR_EXTENSIONS = ("vector",)


class VectorBase(DeclarativeBase):
    """Base of every model in the vector (Supabase) database."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class CreatedAtMixin:
    """A `created_at` set by the database."""

    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=True
    )


class TimestampMixin(CreatedAtMixin):
    """`created_at` and an `updated_at` refreshed on every ORM update."""

    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now(), nullable=True
    )


PRIVATE = "private"
TENANT_WIDE = "tenant"
VISIBILITIES = (PRIVATE, TENANT_WIDE)


class UserOwnedMixin:
    """An owner user and who may read the row: `private` (the owner only) or `tenant` (every
    member). Subclasses set `default_visibility`: personal data is private by default."""

    default_visibility: ClassVar[str] = PRIVATE

    if TYPE_CHECKING:  # what the mapped class has, for the type checker (`UserOwned`)
        owner_user_id: Mapped[uuid.UUID | None]
        visibility: Mapped[str]
    else:

        @declared_attr
        def owner_user_id(cls) -> Mapped[uuid.UUID | None]:
            # NULL: created by a key acting for no user (platform, CLI); such rows are
            # tenant-wide.
            return mapped_column(
                UUID(as_uuid=True), ForeignKey("users.id", ondelete="CASCADE"), index=True
            )

        @declared_attr
        def visibility(cls) -> Mapped[str]:
            return mapped_column(
                String(16), nullable=False, server_default=text(f"'{cls.default_visibility}'")
            )
