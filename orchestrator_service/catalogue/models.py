"""The model catalogue (seed 002 `ai_models`): platform models (no tenant) that every tenant may
use unless it turns them off, and each tenant's own models."""

import uuid
from decimal import Decimal

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from orchestrator_service.db.base import Base, CreatedAtMixin, TimestampMixin

# Prices are US dollars per million tokens, with six decimals (a millionth of a dollar).
PRICE = Numeric(14, 6)


class AiModel(TimestampMixin, Base):
    """A model an agent can name: who serves it, its limits, prices and capabilities."""

    __tablename__ = "ai_models"
    __table_args__ = (
        # One entry per provider's model id among the platform's, and among each tenant's.
        UniqueConstraint("tenant_id", "provider", "model", postgresql_nulls_not_distinct=True),
        CheckConstraint(
            "input_price_per_million >= 0 AND output_price_per_million >= 0", name="prices"
        ),
        CheckConstraint("context_window > 0 AND max_output_tokens > 0", name="limits"),
        CheckConstraint("status IN ('active', 'disabled', 'deprecated')", name="status"),
        Index(None, "model"),
    )

    id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), primary_key=True, server_default=text("gen_random_uuid()")
    )
    # NULL: a platform model, managed by platform keys.
    tenant_id: Mapped[int | None] = mapped_column(
        Integer, ForeignKey("tenants.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    provider: Mapped[str] = mapped_column(String(50), nullable=False)
    # The provider's own id of the model, as agents name it (`agents.model_version`).
    model: Mapped[str] = mapped_column(String(200), nullable=False)
    model_type: Mapped[str] = mapped_column(String(50), server_default=text("'chat'"))
    version: Mapped[str | None] = mapped_column(String(50))
    status: Mapped[str] = mapped_column(String(20), server_default=text("'active'"))
    context_window: Mapped[int] = mapped_column(Integer, nullable=False)
    max_output_tokens: Mapped[int] = mapped_column(Integer, nullable=False)
    input_price_per_million: Mapped[Decimal] = mapped_column(PRICE, server_default=text("0"))
    output_price_per_million: Mapped[Decimal] = mapped_column(PRICE, server_default=text("0"))
    supports_tools: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    supports_streaming: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    supports_vision: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    supports_embeddings: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    dimensions: Mapped[int | None] = mapped_column(Integer)
    # Where calls go and which vault credential they carry, unless the agent's config says.
    base_url: Mapped[str | None] = mapped_column(Text)
    api_key_credential: Mapped[str | None] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(Text)


class TenantModelSetting(CreatedAtMixin, Base):
    """A tenant's choice about a platform model: `enabled` false turns it off for the tenant."""

    __tablename__ = "tenant_model_settings"

    tenant_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    model_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("ai_models.id", ondelete="CASCADE"), primary_key=True
    )
    enabled: Mapped[bool] = mapped_column(Boolean, nullable=False)
