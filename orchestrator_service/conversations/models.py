"""Omnichannel conversations (seed 003) and their messages (seeds 000, 002)."""

import uuid
from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from orchestrator_service.db.base import (
    TENANT_WIDE,
    Base,
    CreatedAtMixin,
    TimestampMixin,
    UserOwnedMixin,
)


def _fulltext(table: str, column: str) -> tuple[Index, ...]:
    """GIN indexes for full-text search of a column in Spanish and in English (seeds 000 and
    002), spelled as conversations/search.py queries them."""
    return tuple(
        Index(
            f"ix_{table}_{column}_fts_{code}",
            text(f"to_tsvector('{config}'::regconfig, {column})"),
            postgresql_using="gin",
        )
        for code, config in (("es", "spanish"), ("en", "english"))
    )


class ChatConversation(UserOwnedMixin, TimestampMixin, Base):
    """A conversation on one channel (whatsapp, instagram, facebook, web). Its owner is the
    user who opened it; it is the whole tenant's (`tenant`) unless made `private`. `user_id`
    keeps its seed meaning, the user the conversation is with, and grants nothing."""

    __tablename__ = "chat_conversations"
    __table_args__ = _fulltext("chat_conversations", "title")
    default_visibility = TENANT_WIDE

    id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), primary_key=True, server_default=text("gen_random_uuid()")
    )
    tenant_id: Mapped[int | None] = mapped_column(
        Integer, ForeignKey("tenants.id"), nullable=True, index=True
    )
    channel: Mapped[str] = mapped_column(String(32), nullable=False)
    channel_source: Mapped[str | None] = mapped_column(
        String(32), server_default=text("'whatsapp'")
    )
    display_name: Mapped[str | None] = mapped_column(String(255))
    meta: Mapped[dict | None] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    last_message_preview: Mapped[str | None] = mapped_column(Text)
    last_message_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    agent_id: Mapped[int | None] = mapped_column(
        Integer, ForeignKey("agents.id", ondelete="SET NULL"), index=True
    )
    user_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("users.id", ondelete="SET NULL")
    )
    title: Mapped[str | None] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(50), server_default=text("'active'"))
    total_tokens: Mapped[int] = mapped_column(Integer, server_default=text("0"))


class ChatMessage(CreatedAtMixin, Base):
    """One message of a conversation, including tool calls and their results; readable by
    whoever reads its conversation."""

    __tablename__ = "chat_messages"
    __table_args__ = (
        Index(None, "conversation_id", "created_at"),
        *_fulltext("chat_messages", "content"),
    )

    id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), primary_key=True, server_default=text("gen_random_uuid()")
    )
    tenant_id: Mapped[int | None] = mapped_column(
        Integer, ForeignKey("tenants.id"), nullable=True, index=True
    )
    conversation_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True),
        ForeignKey("chat_conversations.id", ondelete="CASCADE"),
        nullable=False,
    )
    role: Mapped[str] = mapped_column(String(20), nullable=False)
    content: Mapped[str] = mapped_column(Text, nullable=False)
    tool_calls: Mapped[list | None] = mapped_column(JSONB)
    tool_call_id: Mapped[str | None] = mapped_column(String(255))
    tokens_used: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    meta: Mapped[dict] = mapped_column("metadata", JSONB, server_default=text("'{}'::jsonb"))
