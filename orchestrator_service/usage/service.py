"""Usage and cost: every model call is recorded with its tokens, its cost from the catalogue's
prices and its latency; reports aggregate those calls, so their totals are the calls' sums.
Budgets are checked when a run is admitted; a call that takes the month's use past 80% or 100%
of a budget records the crossing once and publishes a `budget.threshold` webhook event in the
same transaction."""

import time
import uuid
from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Select, String, and_, cast, func, literal, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from orchestrator_service.agents.llm import ModelFailed
from orchestrator_service.catalogue.models import AiModel
from orchestrator_service.conversations import service as conversations
from orchestrator_service.conversations.models import ChatMessage
from orchestrator_service.errors import InvalidInput, OrchestratorError, TooManyRequests
from orchestrator_service.executions.models import Execution, ExecutionStep
from orchestrator_service.usage.models import BudgetAlert, ModelCall, TenantBudget
from orchestrator_service.usage.schemas import (
    Amounts,
    BudgetAlertOut,
    BudgetOut,
    BudgetUpdate,
    BudgetUse,
    ConversationAnalytics,
    GroupBy,
    ModelPerformance,
    ModelPerformanceReport,
    Period,
    UsageBucket,
    UsageReport,
)
from orchestrator_service.webhooks.events import publish

THRESHOLDS = (80, 100)
# More tokens than one call of any model uses: a count past it is a lie, not a bill.
MAX_CALL_TOKENS = 10_000_000
_MILLION = Decimal(1_000_000)
_EIGHT_PLACES = Decimal("0.00000001")
# The longest range one report may cover, by period (bounds the rows a report returns).
MAX_RANGE = {"day": timedelta(days=400), "week": timedelta(days=5 * 366), "month": None}
MAX_MONTHS_RANGE = timedelta(days=10 * 366)


class BudgetExceeded(TooManyRequests):
    """A tenant's monthly token or cost budget is used up; the message names it,
    `Retry-After` says when the next month starts."""

    code = "budget_exceeded"


def cost_of(entry: AiModel, tokens_in: int, tokens_out: int) -> Decimal:
    """What a call costs at the entry's prices (US dollars per million tokens)."""
    amount = (
        Decimal(tokens_in) * entry.input_price_per_million
        + Decimal(tokens_out) * entry.output_price_per_million
    ) / _MILLION
    return amount.quantize(_EIGHT_PLACES)


def month_start(now: datetime | None = None) -> datetime:
    """The start of the current calendar month, UTC."""
    now = now or datetime.now(UTC)
    return now.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def _next_month(start: datetime) -> datetime:
    return (start + timedelta(days=32)).replace(day=1)


@dataclass(frozen=True)
class CallOf:
    """Who a model call is made for."""

    tenant_id: int
    user_id: uuid.UUID | None
    agent_id: int | None
    execution_id: uuid.UUID | None
    conversation_id: uuid.UUID | None

    @classmethod
    def of(cls, execution: Execution) -> "CallOf":
        """The calls of an agent run."""
        return cls(
            tenant_id=execution.tenant_id,
            user_id=execution.user_id,
            agent_id=execution.agent_id,
            execution_id=execution.id,
            conversation_id=execution.conversation_id,
        )


class Metering:
    """Measures and records model calls, and admits runs within the tenant's budget."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self._sessionmaker = sessionmaker

    async def admit(self, session: AsyncSession, *, tenant_id: int) -> None:
        """Refuse (`BudgetExceeded`, 429) a run of a tenant whose monthly budget is used up."""
        budget = await session.get(TenantBudget, tenant_id)
        if budget is None or (budget.monthly_tokens is None and budget.monthly_cost is None):
            return
        start = month_start()
        tokens, cost = await _month_use(session, tenant_id, start)
        wait = (_next_month(start) - datetime.now(UTC)).total_seconds()
        if budget.monthly_tokens is not None and tokens >= budget.monthly_tokens:
            raise BudgetExceeded(
                f"The monthly token budget ({budget.monthly_tokens} tokens) is used up: the "
                f"tenant used {tokens} tokens this month; an admin may raise it (PUT "
                "/api/v1/usage/budget), or wait for next month",
                retry_after=wait,
                details={
                    "budget": "monthly_tokens",
                    "limit": budget.monthly_tokens,
                    "used": tokens,
                },
            )
        if budget.monthly_cost is not None and cost >= budget.monthly_cost:
            raise BudgetExceeded(
                f"The monthly cost budget (${budget.monthly_cost}) is used up: the tenant spent "
                f"${cost:.2f} this month; an admin may raise it (PUT /api/v1/usage/budget), or "
                "wait for next month",
                retry_after=wait,
                details={
                    "budget": "monthly_cost",
                    "limit": float(budget.monthly_cost),
                    "used": float(cost),
                },
            )

    async def measure(
        self, call: CallOf, entry: AiModel, work: Awaitable[Any], *, streamed: bool
    ) -> Any:
        """Await one model call (`work`, a Completion), then record it: tokens, cost and
        latency, or the error's code (and re-raise it)."""
        started = time.perf_counter()
        try:
            completion = await work
            tokens = (completion.tokens_in, completion.tokens_out)
            if not all(0 <= t <= MAX_CALL_TOKENS for t in tokens):
                raise ModelFailed(
                    f"The model API reported {tokens[0]} input and {tokens[1]} output tokens "
                    f"for one call (at most {MAX_CALL_TOKENS} each are believed); the answer "
                    "was discarded",
                    details={"max_call_tokens": MAX_CALL_TOKENS},
                )
        except OrchestratorError as exc:
            await self._record(call, entry, started, streamed, error_code=exc.code)
            raise
        await self._record(call, entry, started, streamed, tokens=tokens)
        return completion

    async def _record(
        self,
        call: CallOf,
        entry: AiModel,
        started: float,
        streamed: bool,
        *,
        tokens: tuple[int, int] = (0, 0),
        error_code: str | None = None,
    ) -> None:
        row = ModelCall(
            tenant_id=call.tenant_id,
            user_id=call.user_id,
            agent_id=call.agent_id,
            execution_id=call.execution_id,
            conversation_id=call.conversation_id,
            model_id=entry.id,
            provider=entry.provider,
            model=entry.model,
            status="error" if error_code else "ok",
            error_code=error_code,
            tokens_in=tokens[0],
            tokens_out=tokens[1],
            cost=cost_of(entry, *tokens),
            latency_ms=int((time.perf_counter() - started) * 1000),
            streamed=streamed,
        )
        async with self._sessionmaker.begin() as session:
            session.add(row)
            await session.flush()
            if error_code is None:
                await _alert_crossings(session, call.tenant_id)


async def _month_use(session: AsyncSession, tenant_id: int, start: datetime) -> tuple[int, Decimal]:
    """The tenant's (tokens, cost) since `start`."""
    row = (
        await session.execute(
            select(
                func.coalesce(func.sum(ModelCall.tokens_in + ModelCall.tokens_out), 0),
                func.coalesce(func.sum(ModelCall.cost), 0),
            ).where(ModelCall.tenant_id == tenant_id, ModelCall.created_at >= start)
        )
    ).one()
    return int(row[0]), Decimal(row[1])


async def _alert_crossings(session: AsyncSession, tenant_id: int) -> None:
    """Record each budget threshold the month's use has reached for the first time this
    month, and publish it as a `budget.threshold` event (same transaction)."""
    budget = await session.get(TenantBudget, tenant_id)
    if budget is None:
        return
    start = month_start()
    tokens, cost = await _month_use(session, tenant_id, start)
    limits = [
        (
            "monthly_tokens",
            Decimal(budget.monthly_tokens) if budget.monthly_tokens else None,
            tokens,
        ),
        ("monthly_cost", budget.monthly_cost, cost),
    ]
    for name, limit, used in limits:
        if not limit:
            continue
        for threshold in THRESHOLDS:
            if Decimal(used) * 100 < limit * threshold:
                continue
            inserted = await session.scalar(
                insert(BudgetAlert)
                .values(
                    tenant_id=tenant_id,
                    month=start.date(),
                    budget=name,
                    threshold=threshold,
                    used=used,
                    limit=limit,
                )
                .on_conflict_do_nothing()
                .returning(BudgetAlert.id)
            )
            if inserted is not None:
                await publish(
                    session,
                    tenant_id=tenant_id,
                    event="budget.threshold",
                    data={
                        "alert_id": str(inserted),
                        "budget": name,
                        "threshold": threshold,
                        "used": float(used),
                        "limit": float(limit),
                        "month": start.date().isoformat(),
                    },
                )


def _range(
    since: datetime | None, until: datetime | None, period: str
) -> tuple[datetime, datetime]:
    """The report's range: by default from the start of this month until now."""
    until = until or datetime.now(UTC)
    since = since or month_start(until)
    if since >= until:
        raise InvalidInput("`since` must be before `until`", details={"fields": ["since", "until"]})
    longest = MAX_RANGE.get(period) or MAX_MONTHS_RANGE
    if until - since > longest:
        raise InvalidInput(
            f"A report by {period} covers at most {longest.days} days; narrow `since`/`until` "
            "or choose a longer period",
            details={"max_days": longest.days},
        )
    return since, until


def _scope(stmt: Select, tenant_id: int | None, since: datetime, until: datetime) -> Select:
    stmt = stmt.where(ModelCall.created_at >= since, ModelCall.created_at < until)
    return stmt if tenant_id is None else stmt.where(ModelCall.tenant_id == tenant_id)


def _amount_columns() -> list:
    return [
        func.count().label("calls"),
        func.count().filter(ModelCall.status == "error").label("errors"),
        func.coalesce(func.sum(ModelCall.tokens_in), 0).label("tokens_in"),
        func.coalesce(func.sum(ModelCall.tokens_out), 0).label("tokens_out"),
        func.coalesce(func.sum(ModelCall.cost), 0).label("cost"),
    ]


def _amounts(row: Any) -> dict[str, Any]:
    return {
        "calls": row.calls,
        "errors": row.errors,
        "tokens_in": int(row.tokens_in),
        "tokens_out": int(row.tokens_out),
        "tokens": int(row.tokens_in) + int(row.tokens_out),
        "cost": float(row.cost),
    }


_KEYS = {
    "none": literal(None, String),
    "agent": cast(ModelCall.agent_id, String),
    "user": cast(ModelCall.user_id, String),
    "model": ModelCall.provider + "/" + ModelCall.model,
    "tenant": cast(ModelCall.tenant_id, String),
}


async def usage_report(
    session: AsyncSession,
    *,
    tenant_id: int | None,
    period: Period,
    group_by: GroupBy,
    since: datetime | None,
    until: datetime | None,
) -> UsageReport:
    """Model calls aggregated by period and group (the tenant's; every tenant's for None)."""
    since, until = _range(since, until, period)
    start = func.date_trunc(period, func.timezone("UTC", ModelCall.created_at)).label("start")
    key = _KEYS[group_by].label("key")
    stmt = _scope(select(start, key, *_amount_columns()), tenant_id, since, until)
    rows = await session.execute(stmt.group_by(start, key).order_by(start, key))
    buckets = [UsageBucket(start=row.start.date(), key=row.key, **_amounts(row)) for row in rows]
    totals = (
        await session.execute(_scope(select(*_amount_columns()), tenant_id, since, until))
    ).one()
    return UsageReport(
        period=period,
        group_by=group_by,
        since=since,
        until=until,
        buckets=buckets,
        totals=Amounts(**_amounts(totals)),
    )


async def model_performance(
    session: AsyncSession,
    *,
    tenant_id: int | None,
    since: datetime | None,
    until: datetime | None,
    model_id: uuid.UUID | None = None,
) -> ModelPerformanceReport:
    """Per model: calls, error rate, latency p50/p95 of the calls that answered, tokens."""
    since, until = _range(since, until, "month")
    ok = ModelCall.status == "ok"
    stmt = select(
        ModelCall.model_id,
        ModelCall.provider,
        ModelCall.model,
        *_amount_columns(),
        func.percentile_cont(0.5).within_group(ModelCall.latency_ms).filter(ok).label("p50"),
        func.percentile_cont(0.95).within_group(ModelCall.latency_ms).filter(ok).label("p95"),
        func.avg(ModelCall.tokens_out).filter(ok).label("avg_out"),
    )
    stmt = _scope(stmt, tenant_id, since, until)
    if model_id is not None:
        stmt = stmt.where(ModelCall.model_id == model_id)
    stmt = stmt.group_by(ModelCall.model_id, ModelCall.provider, ModelCall.model).order_by(
        ModelCall.provider, ModelCall.model
    )
    models = []
    for row in await session.execute(stmt):
        amounts = _amounts(row)
        models.append(
            ModelPerformance(
                model_id=row.model_id,
                provider=row.provider,
                model=row.model,
                calls=amounts["calls"],
                errors=amounts["errors"],
                error_rate=amounts["errors"] / amounts["calls"],
                latency_p50_ms=row.p50,
                latency_p95_ms=row.p95,
                tokens_in=amounts["tokens_in"],
                tokens_out=amounts["tokens_out"],
                avg_tokens_out=None if row.avg_out is None else float(row.avg_out),
            )
        )
    return ModelPerformanceReport(since=since, until=until, models=models)


async def conversation_analytics(
    session: AsyncSession, *, tenant_id: int, user_id: uuid.UUID | None, conversation_id: uuid.UUID
) -> ConversationAnalytics:
    """Messages, runs, tokens, cost, duration and tools of one conversation the user sees."""
    conversation = await conversations.get_conversation(
        session, tenant_id=tenant_id, user_id=user_id, conversation_id=conversation_id
    )
    by_role = dict(
        (
            await session.execute(
                select(ChatMessage.role, func.count())
                .where(ChatMessage.conversation_id == conversation.id)
                .group_by(ChatMessage.role)
            )
        ).all()
    )
    first, last = (
        await session.execute(
            select(func.min(ChatMessage.created_at), func.max(ChatMessage.created_at)).where(
                ChatMessage.conversation_id == conversation.id
            )
        )
    ).one()
    runs = and_(Execution.tenant_id == tenant_id, Execution.conversation_id == conversation.id)
    by_status = dict(
        (
            await session.execute(
                select(Execution.status, func.count()).where(runs).group_by(Execution.status)
            )
        ).all()
    )
    response_ms = await session.scalar(
        select(func.avg(Execution.execution_time_ms)).where(runs, Execution.status == "completed")
    )
    tools = dict(
        (
            await session.execute(
                select(ExecutionStep.step_name, func.count())
                .join(Execution, Execution.id == ExecutionStep.execution_id)
                .where(runs, ExecutionStep.step_type == "tool")
                .group_by(ExecutionStep.step_name)
            )
        ).all()
    )
    calls = (
        await session.execute(
            select(*_amount_columns()).where(
                ModelCall.tenant_id == tenant_id, ModelCall.conversation_id == conversation.id
            )
        )
    ).one()
    amounts = _amounts(calls)
    return ConversationAnalytics(
        conversation_id=conversation.id,
        messages=sum(by_role.values()),
        messages_by_role=by_role,
        runs=sum(by_status.values()),
        runs_by_status=by_status,
        model_calls=amounts["calls"],
        tokens_in=amounts["tokens_in"],
        tokens_out=amounts["tokens_out"],
        cost=amounts["cost"],
        first_message_at=first,
        last_message_at=last,
        duration_seconds=(last - first).total_seconds() if first and last else None,
        avg_response_time_ms=None if response_ms is None else float(response_ms),
        tools_used=tools,
    )


async def get_budget(session: AsyncSession, *, tenant_id: int) -> BudgetOut:
    """The tenant's budgets and this month's use of each."""
    budget = await session.get(TenantBudget, tenant_id)
    start = month_start()
    tokens, cost = await _month_use(session, tenant_id, start)
    limit_tokens = budget.monthly_tokens if budget else None
    limit_cost = budget.monthly_cost if budget else None

    def use(limit: Decimal | int | None, used: Decimal | int) -> BudgetUse | None:
        if limit is None:
            return None
        return BudgetUse(
            limit=float(limit), used=float(used), percent=round(float(used) * 100 / float(limit), 2)
        )

    return BudgetOut(
        month=start.date(),
        monthly_tokens=limit_tokens,
        monthly_cost=None if limit_cost is None else float(limit_cost),
        tokens=use(limit_tokens, tokens),
        cost=use(limit_cost, cost),
    )


async def set_budget(
    session: AsyncSession, *, tenant_id: int, data: BudgetUpdate, actor: Any
) -> BudgetOut:
    """Set the tenant's monthly limits (null: none), audited."""
    cost = (
        None
        if data.monthly_cost is None
        else Decimal(str(data.monthly_cost)).quantize(Decimal("0.01"))
    )
    if cost is not None and cost <= 0:
        raise InvalidInput(
            "monthly_cost must be at least $0.01", details={"fields": ["monthly_cost"]}
        )
    old = await session.get(TenantBudget, tenant_id)
    before = (
        None
        if old is None
        else {"monthly_tokens": old.monthly_tokens, "monthly_cost": str(old.monthly_cost)}
    )
    await session.execute(
        insert(TenantBudget)
        .values(tenant_id=tenant_id, monthly_tokens=data.monthly_tokens, monthly_cost=cost)
        .on_conflict_do_update(
            index_elements=["tenant_id"],
            set_={
                "monthly_tokens": data.monthly_tokens,
                "monthly_cost": cost,
                "updated_at": func.now(),
            },
        )
    )
    await actor.record_change(
        session,
        action="update",
        resource_type="budget",
        resource_id=tenant_id,
        old=before,
        new={
            "monthly_tokens": data.monthly_tokens,
            "monthly_cost": None if cost is None else str(cost),
        },
        tenant_id=tenant_id,
    )
    session.expire_all()
    return await get_budget(session, tenant_id=tenant_id)


async def list_alerts(
    session: AsyncSession, *, tenant_id: int, month: date | None = None
) -> list[BudgetAlertOut]:
    """The budget thresholds the tenant crossed, newest first (one month's, if given)."""
    stmt = select(BudgetAlert).where(BudgetAlert.tenant_id == tenant_id)
    if month is not None:
        stmt = stmt.where(BudgetAlert.month == month.replace(day=1))
    rows = await session.scalars(stmt.order_by(BudgetAlert.created_at.desc()).limit(200))
    return [BudgetAlertOut.model_validate(r) for r in rows]
