"""Agent connections and the messages agents send each other (seed 001 `agent_connections`,
`agent_messages`), with our tenant and id conventions: agents keep their INTEGER ids."""

import uuid

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from orchestrator_service.db.base import Base, CreatedAtMixin, TimestampMixin

CONNECTION_TYPES = ("bidirectional", "one_way")
CONNECTION_STATUSES = ("active", "paused", "blocked")
MESSAGE_TYPES = ("text", "system", "error")


class AgentConnection(TimestampMixin, Base):
    """Which agents may message which: `bidirectional` both ways, `one_way` from agent1 to
    agent2 only. One connection per pair of agents, whichever way round it was made."""

    __tablename__ = "agent_connections"
    __table_args__ = (
        CheckConstraint("agent1_id <> agent2_id", name="not_self"),
        CheckConstraint("connection_type IN ('bidirectional', 'one_way')", name="connection_type"),
        CheckConstraint("status IN ('active', 'paused', 'blocked')", name="status"),
        # The reverse of a connection is the same pair: A->B and B->A cannot both exist.
        Index(
            "uq_agent_connections_pair",
            "tenant_id",
            func.least(text("agent1_id"), text("agent2_id")),
            func.greatest(text("agent1_id"), text("agent2_id")),
            unique=True,
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), primary_key=True, server_default=text("gen_random_uuid()")
    )
    tenant_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("tenants.id"), nullable=False, index=True
    )
    agent1_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("agents.id", ondelete="CASCADE"), nullable=False, index=True
    )
    agent2_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("agents.id", ondelete="CASCADE"), nullable=False, index=True
    )
    connection_type: Mapped[str] = mapped_column(
        String(50), nullable=False, server_default=text("'bidirectional'")
    )
    status: Mapped[str] = mapped_column(String(20), nullable=False, server_default=text("'active'"))
    created_by: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("users.id", ondelete="SET NULL")
    )


class AgentMessage(CreatedAtMixin, Base):
    """One message of one agent to another, in an exchange grouped by `conversation_id`."""

    __tablename__ = "agent_messages"
    __table_args__ = (
        CheckConstraint("message_type IN ('text', 'system', 'error')", name="message_type"),
        Index(None, "tenant_id", "conversation_id", "created_at"),
        Index(None, "from_agent_id", "to_agent_id"),
        Index(None, "execution_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), primary_key=True, server_default=text("gen_random_uuid()")
    )
    tenant_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("tenants.id"), nullable=False, index=True
    )
    conversation_id: Mapped[str] = mapped_column(String(100), nullable=False)
    from_agent_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("agents.id", ondelete="CASCADE"), nullable=False
    )
    to_agent_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("agents.id", ondelete="CASCADE"), nullable=False
    )
    content: Mapped[str] = mapped_column(Text, nullable=False)
    message_type: Mapped[str] = mapped_column(
        String(50), nullable=False, server_default=text("'text'")
    )
    # How many messages deep in the exchange this one is (1: sent by a run nobody messaged).
    depth: Mapped[int] = mapped_column(Integer, nullable=False, server_default=text("1"))
    # The run that sent it (a request from an agent), or that answered (a reply); no FK:
    # executions live in their own schema and are purged on their own schedule.
    execution_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    # A reply names the message it answers; a request names none.
    in_reply_to: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("agent_messages.id", ondelete="CASCADE")
    )
    # The receiving agent's chat conversation, so a continued exchange keeps its history.
    chat_conversation_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    # An exchange started from a private agent or a private conversation carries that user's
    # data: its messages are private to them (`UserOwnedMixin`'s meaning), else tenant-wide.
    owner_user_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    visibility: Mapped[str] = mapped_column(
        String(16), nullable=False, server_default=text("'tenant'")
    )
