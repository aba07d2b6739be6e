"""Agents: seed 003's columns plus description, limits, memory and knowledge (seeds 000, 001)."""

import uuid
from datetime import datetime

from sqlalchemy import Boolean, DateTime, Float, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from orchestrator_service.db.base import (
    TENANT_WIDE,
    Base,
    CreatedAtMixin,
    TimestampMixin,
    UserOwnedMixin,
)

AGENT_STATUSES = ("online", "offline", "busy")


class Agent(UserOwnedMixin, TimestampMixin, Base):
    """An LLM agent configuration of a tenant, owned by the user who made it (seed 001): the
    whole tenant's (`tenant`, seed 001's `is_public`) unless its owner makes it `private`."""

    __tablename__ = "agents"
    __table_args__ = (Index(None, "tenant_id", "is_active"),)
    default_visibility = TENANT_WIDE

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[int | None] = mapped_column(
        Integer, ForeignKey("tenants.id"), nullable=True, index=True
    )
    name: Mapped[str] = mapped_column(Text, nullable=False)
    role: Mapped[str | None] = mapped_column(Text, server_default=text("'sales'"))
    model_provider: Mapped[str | None] = mapped_column(Text, server_default=text("'openai'"))
    model_version: Mapped[str | None] = mapped_column(Text, server_default=text("'gpt-5-mini'"))
    temperature: Mapped[float | None] = mapped_column(Float, server_default=text("0.7"))
    system_prompt_template: Mapped[str] = mapped_column(Text, nullable=False)
    enabled_tools: Mapped[list | None] = mapped_column(JSONB, server_default=text("'[]'::jsonb"))
    channels: Mapped[list | None] = mapped_column(
        JSONB, server_default=text("""'["whatsapp", "instagram", "facebook", "web"]'::jsonb""")
    )
    config: Mapped[dict | None] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    template_type: Mapped[str | None] = mapped_column(String(50), server_default=text("'custom'"))
    is_active: Mapped[bool | None] = mapped_column(Boolean, server_default=text("true"))

    description: Mapped[str | None] = mapped_column(Text)
    personality: Mapped[str | None] = mapped_column(Text)
    expertise: Mapped[str | None] = mapped_column(Text)
    max_tokens: Mapped[int] = mapped_column(Integer, server_default=text("4096"))
    memory_enabled: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    memory_limit: Mapped[int] = mapped_column(Integer, server_default=text("10000"))
    knowledge_collections: Mapped[list] = mapped_column(JSONB, server_default=text("'[]'::jsonb"))
    # A remote MCP server whose tools the agent may use (its bearer: config.mcp_credential).
    mcp_endpoint: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("users.id", ondelete="SET NULL")
    )
    # Seed 001: online, offline or busy.
    status: Mapped[str] = mapped_column(String(20), server_default=text("'online'"))


class AgentMemory(UserOwnedMixin, CreatedAtMixin, Base):
    """A fact an agent keeps about a user (seed 001 `agent_memory`). The owner is the user the
    fact is about (seed 001's `user_id`), and only they read it (`private`); a fact about a
    channel contact, who is no user, has no owner and is the tenant's."""

    __tablename__ = "agent_memory"
    __table_args__ = (Index(None, "tenant_id", "agent_id", "user_key"),)

    id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), primary_key=True, server_default=text("gen_random_uuid()")
    )
    tenant_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("tenants.id"), nullable=False, index=True
    )
    agent_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("agents.id", ondelete="CASCADE"), nullable=False
    )
    # Who the fact is about: a user id, a phone number, a conversation's contact.
    user_key: Mapped[str] = mapped_column(String(255), nullable=False)
    memory_type: Mapped[str] = mapped_column(String(50), nullable=False)
    key: Mapped[str | None] = mapped_column(String(255))
    value: Mapped[dict] = mapped_column(JSONB, nullable=False)
    context: Mapped[str | None] = mapped_column(Text)
    importance_score: Mapped[int] = mapped_column(Integer, server_default=text("5"))
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), index=True)
    accessed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    access_count: Mapped[int] = mapped_column(Integer, server_default=text("0"))
