"""Notes (seed 001's `notes`): a user's markdown, plain or HTML text, searchable in Spanish and
English through a generated tsvector column."""

import uuid

from sqlalchemy import Computed, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.dialects.postgresql import ARRAY, TSVECTOR, UUID
from sqlalchemy.orm import Mapped, mapped_column

from orchestrator_service.db.base import Base, TimestampMixin, UserOwnedMixin
from orchestrator_service.db.fulltext import bilingual_vector

CONTENT_TYPES = ("markdown", "plain", "html")


class Note(UserOwnedMixin, TimestampMixin, Base):
    """A note of a user (private by default), possibly written by one of their agents."""

    __tablename__ = "notes"
    __table_args__ = (
        Index(None, "tenant_id", "owner_user_id", "updated_at"),
        Index("ix_notes_tags", "tags", postgresql_using="gin"),
        Index("ix_notes_search_vector", "search_vector", postgresql_using="gin"),
    )

    id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), primary_key=True, server_default=text("gen_random_uuid()")
    )
    tenant_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("tenants.id"), nullable=False, index=True
    )
    agent_id: Mapped[int | None] = mapped_column(
        Integer, ForeignKey("agents.id", ondelete="SET NULL"), index=True
    )
    title: Mapped[str | None] = mapped_column(String(255))
    content: Mapped[str] = mapped_column(Text, nullable=False)
    content_type: Mapped[str] = mapped_column(
        String(20), nullable=False, server_default=text("'markdown'")
    )
    # The content as plain text (HTML tags and markdown markup removed): what search and its
    # highlights read, so a highlight never carries the note's own markup.
    search_text: Mapped[str] = mapped_column(Text, nullable=False, server_default=text("''"))
    tags: Mapped[list[str]] = mapped_column(
        ARRAY(Text), nullable=False, server_default=text("'{}'::text[]")
    )
    category: Mapped[str | None] = mapped_column(String(100))
    search_vector: Mapped[str] = mapped_column(
        TSVECTOR,
        Computed(bilingual_vector([("title", "A"), ("search_text", "B")]), persisted=True),
    )
