"""Request and response bodies of /usage."""

import uuid
from datetime import date, datetime
from typing import Literal

from pydantic import Field

from orchestrator_service.schemas import Input, Output

Period = Literal["day", "week", "month"]
GroupBy = Literal["none", "agent", "user", "model", "tenant"]


class Amounts(Output):
    """Calls, tokens and cost of a set of model calls."""

    calls: int
    errors: int
    tokens_in: int
    tokens_out: int
    tokens: int
    cost: float = Field(description="US dollars, from the catalogue's prices at call time")


class UsageBucket(Amounts):
    """The model calls of one period (and group)."""

    start: date
    key: str | None = Field(description="The agent id, user id, provider/model or tenant id")


class UsageReport(Output):
    """Model usage aggregated by period and group, with the totals over the whole range."""

    period: Period
    group_by: GroupBy
    since: datetime
    until: datetime
    buckets: list[UsageBucket]
    totals: Amounts


class ModelPerformance(Output):
    """How one model behaved over a range: calls, error rate, latency, tokens."""

    model_id: uuid.UUID | None
    provider: str
    model: str
    calls: int
    errors: int
    error_rate: float
    latency_p50_ms: float | None
    latency_p95_ms: float | None
    tokens_in: int
    tokens_out: int
    avg_tokens_out: float | None


class ModelPerformanceReport(Output):
    """Per-model performance over a range."""

    since: datetime
    until: datetime
    models: list[ModelPerformance]


class ConversationAnalytics(Output):
    """One conversation: messages, runs, tokens, cost, duration and the tools its runs used."""

    conversation_id: uuid.UUID
    messages: int
    messages_by_role: dict[str, int]
    runs: int
    runs_by_status: dict[str, int]
    model_calls: int
    tokens_in: int
    tokens_out: int
    cost: float
    first_message_at: datetime | None
    last_message_at: datetime | None
    duration_seconds: float | None
    avg_response_time_ms: float | None
    tools_used: dict[str, int]


class BudgetUpdate(Input):
    """The tenant's monthly limits; null (or omitted) means no limit of that kind."""

    monthly_tokens: int | None = Field(default=None, ge=1, le=10**15)
    monthly_cost: float | None = Field(
        default=None, gt=0, le=10**11, allow_inf_nan=False, description="US dollars"
    )


class BudgetUse(Output):
    """One budget of this month: its limit, what is used, and the share."""

    limit: float
    used: float
    percent: float


class BudgetOut(Output):
    """The tenant's budgets and this month's use of each."""

    month: date
    monthly_tokens: int | None
    monthly_cost: float | None
    tokens: BudgetUse | None
    cost: BudgetUse | None


class BudgetAlertOut(Output):
    """A budget threshold crossed (80% or 100%), sent as a `budget.threshold` webhook event."""

    id: uuid.UUID
    month: date
    budget: str
    threshold: int
    used: float
    limit: float
    created_at: datetime
