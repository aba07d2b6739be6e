"""Declarative bases with one naming convention, and the column mixins the models share."""

from datetime import datetime

from sqlalchemy import DateTime, MetaData, func
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

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
