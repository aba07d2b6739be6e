"""Channel connections, the threads they carry (one per external user) and every inbound
delivery seen, keyed by the provider's message id."""

import uuid
from datetime import datetime

from sqlalchemy import (
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from orchestrator_service.db.base import Base, CreatedAtMixin, TimestampMixin


def _uuid_pk() -> Mapped[uuid.UUID]:
    return mapped_column(
        UUID(as_uuid=True), primary_key=True, server_default=text("gen_random_uuid()")
    )


class ChannelConnection(TimestampMixin, Base):
    """A tenant's account on a channel: which agent answers, and the vault credentials (by
    name) that verify deliveries and send replies."""

    __tablename__ = "channel_connections"
    __table_args__ = (UniqueConstraint("channel", "external_account_id"),)

    id: Mapped[uuid.UUID] = _uuid_pk()
    tenant_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("tenants.id"), nullable=False, index=True
    )
    channel: Mapped[str] = mapped_column(String(32), nullable=False)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    # WhatsApp: the phone number id; Messenger: the page id; Instagram: the account id.
    external_account_id: Mapped[str] = mapped_column(String(100), nullable=False)
    business_account_id: Mapped[str | None] = mapped_column(String(100))
    agent_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("agents.id", ondelete="RESTRICT"), nullable=False, index=True
    )
    app_secret_credential: Mapped[str] = mapped_column(String(255), nullable=False)
    access_token_credential: Mapped[str] = mapped_column(String(255), nullable=False)
    verify_token_credential: Mapped[str] = mapped_column(String(255), nullable=False)
    # WhatsApp outside the 24-hour window: {"name": ..., "language": ...}, or none.
    reengagement_template: Mapped[dict | None] = mapped_column(JSONB)
    status: Mapped[str] = mapped_column(String(20), server_default=text("'active'"))


class ChannelThread(CreatedAtMixin, Base):
    """One external user on one connection, and the conversation that holds their messages."""

    __tablename__ = "channel_threads"
    __table_args__ = (UniqueConstraint("connection_id", "external_user_id"),)

    id: Mapped[uuid.UUID] = _uuid_pk()
    tenant_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("tenants.id"), nullable=False, index=True
    )
    connection_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True),
        ForeignKey("channel_connections.id", ondelete="CASCADE"),
        nullable=False,
    )
    external_user_id: Mapped[str] = mapped_column(String(100), nullable=False)
    conversation_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("chat_conversations.id", ondelete="CASCADE"), nullable=False
    )
    last_inbound_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ChannelDelivery(CreatedAtMixin, Base):
    """One inbound message or status update, once per provider message id: a retried webhook
    finds its row and does nothing."""

    __tablename__ = "channel_deliveries"
    __table_args__ = (
        UniqueConstraint("connection_id", "provider_message_id", "kind"),
        Index(None, "thread_id", "status", "sent_at"),
    )

    id: Mapped[uuid.UUID] = _uuid_pk()
    tenant_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("tenants.id"), nullable=False, index=True
    )
    connection_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True),
        ForeignKey("channel_connections.id", ondelete="CASCADE"),
        nullable=False,
    )
    thread_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("channel_threads.id", ondelete="CASCADE")
    )
    provider_message_id: Mapped[str] = mapped_column(String(255), nullable=False)
    # message (text or media), or status (sent, delivered, read, failed of our replies)
    kind: Mapped[str] = mapped_column(String(20), nullable=False)
    content: Mapped[dict] = mapped_column(JSONB, nullable=False)
    sent_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    # pending -> answered | not_sent | failed | recorded (statuses, media without text)
    status: Mapped[str] = mapped_column(String(20), nullable=False)
    outcome: Mapped[str | None] = mapped_column(Text)
    reply_message_id: Mapped[str | None] = mapped_column(String(255))
