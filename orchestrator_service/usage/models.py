"""Usage and cost: one row per model call (tenant, user, agent, model, tokens, cost from the
catalogue's prices, latency), each tenant's monthly budget, and the budget alerts sent (seed
002's `usage_metrics` are the daily aggregates of these calls, served by GET /usage)."""

import uuid
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from orchestrator_service.db.base import Base, CreatedAtMixin, TimestampMixin

# US dollars, to a hundred-millionth (a token of the cheapest model costs less than a cent).
COST = Numeric(20, 8)


class ModelCall(CreatedAtMixin, Base):
    """One call to a model API, as it ended: tokens, cost and latency, or the error's code."""

    __tablename__ = "model_calls"
    __table_args__ = (
        Index(None, "tenant_id", "created_at"),
        Index(None, "model_id", "created_at"),
        Index(None, "conversation_id"),
        CheckConstraint("tokens_in >= 0 AND tokens_out >= 0 AND cost >= 0", name="amounts"),
    )

    id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), primary_key=True, server_default=text("gen_random_uuid()")
    )
    tenant_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False
    )
    user_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("users.id", ondelete="SET NULL")
    )
    # No foreign keys to agents, executions, conversations: the usage outlives them.
    agent_id: Mapped[int | None] = mapped_column(Integer, index=True)
    execution_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), index=True)
    conversation_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    model_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("ai_models.id", ondelete="SET NULL")
    )
    provider: Mapped[str] = mapped_column(String(50), nullable=False)
    model: Mapped[str] = mapped_column(String(200), nullable=False)
    status: Mapped[str] = mapped_column(String(20), nullable=False)
    error_code: Mapped[str | None] = mapped_column(String(50))
    tokens_in: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    tokens_out: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    cost: Mapped[Decimal] = mapped_column(COST, server_default=text("0"))
    latency_ms: Mapped[int] = mapped_column(Integer, nullable=False)
    streamed: Mapped[bool] = mapped_column(server_default=text("false"))


class TenantBudget(TimestampMixin, Base):
    """A tenant's monthly limits on model tokens and cost (calendar months, UTC)."""

    __tablename__ = "tenant_budgets"
    __table_args__ = (
        CheckConstraint(
            "(monthly_tokens IS NULL OR monthly_tokens > 0) "
            "AND (monthly_cost IS NULL OR monthly_cost > 0)",
            name="positive",
        ),
    )

    tenant_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    monthly_tokens: Mapped[int | None] = mapped_column(BigInteger)
    monthly_cost: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))


class BudgetAlert(Base):
    """A budget threshold a tenant's usage crossed: each (budget, threshold) once a month."""

    __tablename__ = "budget_alerts"
    __table_args__ = (UniqueConstraint("tenant_id", "month", "budget", "threshold"),)

    id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), primary_key=True, server_default=text("gen_random_uuid()")
    )
    tenant_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False, index=True
    )
    month: Mapped[date] = mapped_column(Date, nullable=False)
    budget: Mapped[str] = mapped_column(String(20), nullable=False)
    threshold: Mapped[int] = mapped_column(Integer, nullable=False)
    used: Mapped[Decimal] = mapped_column(Numeric(24, 8), nullable=False)
    limit: Mapped[Decimal] = mapped_column(Numeric(24, 8), nullable=False)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )
