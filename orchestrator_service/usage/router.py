"""/api/v1/usage: model usage and cost by period and group, per-model performance,
per-conversation analytics, and the tenant's monthly budget. Platform-admin keys see usage
and performance across every tenant."""

import uuid
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from orchestrator_service.deps import (
    ActorDep,
    SessionDep,
    TenantPrincipal,
    require,
    tenant_or_global,
)
from orchestrator_service.errors import Forbidden
from orchestrator_service.schemas import TimeFilter, as_utc
from orchestrator_service.usage import service
from orchestrator_service.usage.schemas import (
    BudgetAlertOut,
    BudgetOut,
    BudgetUpdate,
    ConversationAnalytics,
    GroupBy,
    ModelPerformanceReport,
    Period,
    UsageReport,
)

router = APIRouter(prefix="/usage", tags=["usage"])
# Whose usage: the tenant's (executions:read), or every tenant's for a platform-admin key.
Reader = Annotated[int | None, Depends(tenant_or_global("executions:read"))]
TenantReader = Annotated[TenantPrincipal, Depends(require("executions:read"))]


async def _admin(principal: Annotated[TenantPrincipal, Depends(require("agents:write"))]) -> int:
    """The tenant of an admin's key: budgets are an admin's decision."""
    if principal.role != "admin":
        raise Forbidden("Only an admin sets the tenant's budget")
    return principal.tenant_id


@router.get("")
async def get_usage(
    owner: Reader,
    session: SessionDep,
    since: TimeFilter = None,
    until: TimeFilter = None,
    period: Annotated[Period, Query(description="Bucket size")] = "day",
    group_by: Annotated[GroupBy, Query(description="Group within each bucket")] = "none",
) -> UsageReport:
    """Model calls, tokens and cost by day, week or month, and by agent, user, model (or
    tenant, for a platform key); from the start of this month until now by default."""
    return await service.usage_report(
        session,
        tenant_id=owner,
        period=period,
        group_by=group_by,
        since=as_utc(since, "since"),
        until=as_utc(until, "until"),
    )


@router.get("/models")
async def get_model_performance(
    owner: Reader,
    session: SessionDep,
    since: TimeFilter = None,
    until: TimeFilter = None,
    model_id: Annotated[uuid.UUID | None, Query()] = None,
) -> ModelPerformanceReport:
    """Per-model performance: calls, error rate, latency p50 and p95, tokens."""
    return await service.model_performance(
        session,
        tenant_id=owner,
        since=as_utc(since, "since"),
        until=as_utc(until, "until"),
        model_id=model_id,
    )


@router.get("/conversations/{conversation_id}")
async def get_conversation_analytics(
    conversation_id: uuid.UUID, principal: TenantReader, session: SessionDep
) -> ConversationAnalytics:
    """One conversation's messages, runs, tokens, cost, duration and tools used."""
    return await service.conversation_analytics(
        session,
        tenant_id=principal.tenant_id,
        user_id=principal.user_id,
        conversation_id=conversation_id,
    )


@router.get("/budget")
async def get_budget(principal: TenantReader, session: SessionDep) -> BudgetOut:
    """The tenant's monthly budgets and this month's use of each."""
    return await service.get_budget(session, tenant_id=principal.tenant_id)


@router.put("/budget")
async def set_budget(
    data: BudgetUpdate,
    tenant_id: Annotated[int, Depends(_admin)],
    actor: ActorDep,
    session: SessionDep,
) -> BudgetOut:
    """Set the monthly token and cost budgets (null: none). Over a budget, runs answer 429
    `budget_exceeded`; crossing 80% and 100% sends a `budget.threshold` webhook event."""
    return await service.set_budget(session, tenant_id=tenant_id, data=data, actor=actor)


@router.get("/budget/alerts")
async def list_budget_alerts(
    principal: TenantReader,
    session: SessionDep,
    month: Annotated[date | None, Query(description="Any day of the month")] = None,
) -> list[BudgetAlertOut]:
    """The budget thresholds the tenant crossed, newest first."""
    return await service.list_alerts(session, tenant_id=principal.tenant_id, month=month)
