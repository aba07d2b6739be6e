"""Usage and cost: every model call recorded (tokens, cost at the catalogue's prices,
latency), reports whose totals are the sums of those calls, budgets that refuse runs with 429
and alert once at 80% and once at 100% as `budget.threshold` webhook events, per-model
performance and per-conversation analytics."""

import uuid
from decimal import Decimal

import httpx
import pytest
from sqlalchemy import func, select

from orchestrator_service.bootstrap import Runtime
from orchestrator_service.usage.models import ModelCall
from orchestrator_service.webhooks.models import Webhook, WebhookDelivery
from tests.agents.helpers import (
    SCRIPTED_PRICES,
    create_scripted_agent,
    get_json,
    run_agent,
    sse_events,
    store_llm_key,
)
from tests.helpers import Caller, create_key, error_of
from tests.scripted_model import Call, Refuse, Say, ScriptedModel

USAGE = "/api/v1/usage"


def _cost(tokens_in: int, tokens_out: int) -> float:
    return (tokens_in * SCRIPTED_PRICES[0] + tokens_out * SCRIPTED_PRICES[1]) / 1_000_000


async def _recorded(runtime: Runtime, tenant_id: int | None = None) -> dict:
    """The sums of the model calls on record, straight from the table."""
    stmt = select(
        func.count(),
        func.coalesce(func.sum(ModelCall.tokens_in), 0),
        func.coalesce(func.sum(ModelCall.tokens_out), 0),
        func.coalesce(func.sum(ModelCall.cost), 0),
    )
    if tenant_id is not None:
        stmt = stmt.where(ModelCall.tenant_id == tenant_id)
    async with runtime.sessionmaker() as session:
        calls, tokens_in, tokens_out, cost = (await session.execute(stmt)).one()
    return {"calls": calls, "tokens_in": tokens_in, "tokens_out": tokens_out, "cost": cost}


async def test_usage_totals_are_the_sums_of_the_recorded_model_calls(
    client: httpx.AsyncClient,
    runtime: Runtime,
    tenant_a: Caller,
    llm_key: str,
    model: ScriptedModel,
) -> None:
    first = await create_scripted_agent(client, tenant_a, model, name="First")
    second = await create_scripted_agent(client, tenant_a, model, name="Second")
    model.play(
        Call("get_current_time", {"timezone": "UTC"}, usage=(31, 7)),
        Say("Noon.", usage=(52, 11)),
        Say("Streamed hello.", usage=(20, 5)),
        Refuse(500),
        Say("Again.", usage=(17, 3)),
    )
    assert (await run_agent(client, tenant_a, first["id"], "Time?")).status_code == 200
    streamed = await run_agent(client, tenant_a, second["id"], "Hi", stream=True)
    assert sse_events(streamed.text)[-1][0] == "done"
    error_of(await run_agent(client, tenant_a, second["id"], "Hi"), 502, "run_failed")
    assert (await run_agent(client, tenant_a, first["id"], "Hi")).status_code == 200

    expected_in, expected_out = 31 + 52 + 20 + 17, 7 + 11 + 5 + 3
    recorded = await _recorded(runtime, tenant_a.tenant_id)
    assert (recorded["calls"], recorded["tokens_in"], recorded["tokens_out"]) == (
        5,
        expected_in,
        expected_out,
    )
    assert float(recorded["cost"]) == pytest.approx(_cost(expected_in, expected_out))
    for period in ("day", "week", "month"):
        for group_by in ("none", "agent", "user", "model", "tenant"):
            report = await get_json(client, tenant_a, "/usage", period=period, group_by=group_by)
            totals = report["totals"]
            assert (totals["calls"], totals["errors"]) == (5, 1), (period, group_by)
            assert (totals["tokens_in"], totals["tokens_out"]) == (expected_in, expected_out)
            assert totals["tokens"] == expected_in + expected_out
            assert totals["cost"] == pytest.approx(float(recorded["cost"]))
            for field in ("calls", "errors", "tokens_in", "tokens_out", "tokens"):
                assert sum(b[field] for b in report["buckets"]) == totals[field], field
            assert sum(b["cost"] for b in report["buckets"]) == pytest.approx(totals["cost"])
    by_agent = await get_json(client, tenant_a, "/usage", group_by="agent")
    amounts = {b["key"]: (b["calls"], b["tokens_in"], b["tokens_out"]) for b in by_agent["buckets"]}
    assert amounts == {
        str(first["id"]): (3, 31 + 52 + 17, 7 + 11 + 3),
        str(second["id"]): (2, 20, 5),
    }
    by_model = await get_json(client, tenant_a, "/usage", group_by="model")
    assert [b["key"] for b in by_model["buckets"]] == ["openai_compatible/scripted-1"]


async def test_platform_keys_see_usage_across_tenants_and_tenants_only_their_own(
    client: httpx.AsyncClient,
    runtime: Runtime,
    tenant_a: Caller,
    tenant_b: Caller,
    platform_admin: Caller,
    llm_key: str,
    model: ScriptedModel,
) -> None:
    await store_llm_key(client, tenant_b)
    for tenant, usage in ((tenant_a, (40, 9)), (tenant_b, (70, 30))):
        agent = await create_scripted_agent(client, tenant, model)
        model.play(Say("Hi.", usage=usage))
        assert (await run_agent(client, tenant, agent["id"], "Hi")).status_code == 200

    everyone = await get_json(client, platform_admin, "/usage", group_by="tenant")
    keys = {b["key"]: b["tokens"] for b in everyone["buckets"]}
    assert keys == {str(tenant_a.tenant_id): 49, str(tenant_b.tenant_id): 100}
    assert everyone["totals"]["tokens"] == 149
    assert everyone["totals"]["calls"] == (await _recorded(runtime))["calls"] == 2
    mine = await get_json(client, tenant_b, "/usage", group_by="tenant")
    assert [b["key"] for b in mine["buckets"]] == [str(tenant_b.tenant_id)]
    assert mine["totals"]["tokens"] == 100
    performance = await get_json(client, platform_admin, "/usage/models")
    assert sum(m["calls"] for m in performance["models"]) == 2


async def test_report_ranges_are_checked(client: httpx.AsyncClient, tenant_a: Caller) -> None:
    backwards = {"since": "2030-02-01T00:00:00Z", "until": "2030-01-01T00:00:00Z"}
    error_of(await client.get(USAGE, headers=tenant_a.headers, params=backwards), 422)
    years = {"since": "2020-01-01T00:00:00Z", "until": "2030-01-01T00:00:00Z"}
    error = error_of(await client.get(USAGE, headers=tenant_a.headers, params=years), 422)
    assert "400 days" in error["message"]
    monthly = await client.get(USAGE, headers=tenant_a.headers, params={**years, "period": "month"})
    assert monthly.status_code == 200 and monthly.json()["totals"]["calls"] == 0
    for bad in ({"period": "hour"}, {"group_by": "password"}, {"since": "yesterday"}):
        error_of(await client.get(USAGE, headers=tenant_a.headers, params=bad), 422)


async def _subscribe(runtime: Runtime, tenant_id: int) -> uuid.UUID:
    """A webhook endpoint of the tenant subscribed to budget alerts."""
    async with runtime.sessionmaker.begin() as session:
        hook = Webhook(
            tenant_id=tenant_id, url="https://hooks.example.com/budget", events=["budget.threshold"]
        )
        session.add(hook)
        await session.flush()
        return hook.id


async def _budget_events(runtime: Runtime, hook: uuid.UUID) -> list[dict]:
    async with runtime.sessionmaker() as session:
        rows = await session.scalars(
            select(WebhookDelivery)
            .where(WebhookDelivery.webhook_id == hook)
            .order_by(WebhookDelivery.created_at)
        )
        return [r.payload["data"] for r in rows if r.event == "budget.threshold"]


async def test_a_token_budget_alerts_at_80_and_100_percent_once_then_refuses_runs(
    client: httpx.AsyncClient,
    runtime: Runtime,
    tenant_a: Caller,
    llm_key: str,
    model: ScriptedModel,
) -> None:
    hook = await _subscribe(runtime, tenant_a.tenant_id)
    set_budget = await client.put(
        f"{USAGE}/budget", headers=tenant_a.headers, json={"monthly_tokens": 100}
    )
    assert set_budget.status_code == 200, set_budget.text
    assert set_budget.json()["tokens"] == {"limit": 100.0, "used": 0.0, "percent": 0.0}
    agent = await create_scripted_agent(client, tenant_a, model)

    seen = []
    for _ in range(3):  # 49, 98 (past 80%), 147 tokens (past 100%)
        model.play(Say("Hi.", usage=(40, 9)))
        assert (await run_agent(client, tenant_a, agent["id"], "Hi")).status_code == 200
        seen.append([(e["budget"], e["threshold"]) for e in await _budget_events(runtime, hook)])
    assert seen == [
        [],
        [("monthly_tokens", 80)],
        [("monthly_tokens", 80), ("monthly_tokens", 100)],
    ]

    refused = await run_agent(client, tenant_a, agent["id"], "Hi")
    error = error_of(refused, 429, "budget_exceeded")
    assert "monthly token budget (100 tokens)" in error["message"]
    assert error["details"] == {
        "budget": "monthly_tokens",
        "limit": 100,
        "used": 147,
        "retry_after": error["details"]["retry_after"],
    }
    assert 0 < int(refused.headers["Retry-After"]) <= 31 * 24 * 3600
    assert len(model.requests) == 3  # the refused run never reached the model
    alerts = await get_json(client, tenant_a, "/usage/budget/alerts")
    assert sorted(a["threshold"] for a in alerts) == [80, 100]
    budget = await get_json(client, tenant_a, "/usage/budget")
    assert budget["tokens"]["used"] == 147 and budget["tokens"]["percent"] == 147.0

    # Raising the budget lets runs through again; the month's alerts are not sent twice.
    await client.put(f"{USAGE}/budget", headers=tenant_a.headers, json={"monthly_tokens": 10_000})
    model.play(Say("Hi.", usage=(40, 9)))
    assert (await run_agent(client, tenant_a, agent["id"], "Hi")).status_code == 200
    assert len(await _budget_events(runtime, hook)) == 2


async def test_a_cost_budget_names_itself_when_spent(
    client: httpx.AsyncClient, tenant_a: Caller, llm_key: str, model: ScriptedModel
) -> None:
    await client.put(f"{USAGE}/budget", headers=tenant_a.headers, json={"monthly_cost": 0.01})
    agent = await create_scripted_agent(client, tenant_a, model)
    model.play(Say("Pricey.", usage=(4000, 1000)))  # $0.006 + $0.006
    assert (await run_agent(client, tenant_a, agent["id"], "Hi")).status_code == 200
    error = error_of(await run_agent(client, tenant_a, agent["id"], "Hi"), 429, "budget_exceeded")
    assert "monthly cost budget ($0.01)" in error["message"]
    streamed = await run_agent(client, tenant_a, agent["id"], "Hi", stream=True)
    error_of(streamed, 429, "budget_exceeded")
    budget = await get_json(client, tenant_a, "/usage/budget")
    assert budget["cost"]["used"] == pytest.approx(_cost(4000, 1000))
    cleared = await client.put(f"{USAGE}/budget", headers=tenant_a.headers, json={})
    assert cleared.json()["cost"] is None
    model.play(Say("Free again."))
    assert (await run_agent(client, tenant_a, agent["id"], "Hi")).status_code == 200


async def test_budgets_refuse_bad_values_and_non_admins(
    client: httpx.AsyncClient, tenant_a: Caller, platform_admin: Caller
) -> None:
    for bad in (
        {"monthly_tokens": 0},
        {"monthly_tokens": -5},
        {"monthly_cost": -1},
        {"monthly_cost": 0},
        {"monthly_cost": 0.001},
        {"monthly_cost": "lots"},
        {"monthly_tokens": True},
        {"monthly_tokens": 10**16},
        {"limit": 5},
    ):
        response = await client.put(f"{USAGE}/budget", headers=tenant_a.headers, json=bad)
        error_of(response, 422)
    member_key = (await create_key(client, tenant_a.headers, "member", role="member"))["api_key"]
    member = {"Authorization": f"Bearer {member_key}"}
    error_of(await client.put(f"{USAGE}/budget", headers=member, json={"monthly_tokens": 5}), 403)
    error_of(await client.put(f"{USAGE}/budget", headers=platform_admin.headers, json={}), 403)
    assert (await get_json(client, tenant_a, "/usage/budget"))["monthly_tokens"] is None


async def test_conversation_analytics_and_model_performance(
    client: httpx.AsyncClient,
    tenant_a: Caller,
    tenant_b: Caller,
    llm_key: str,
    model: ScriptedModel,
) -> None:
    agent = await create_scripted_agent(client, tenant_a, model)
    model.play(
        Call("get_current_time", {"timezone": "UTC"}, usage=(31, 7)),
        Say("Noon.", usage=(52, 11)),
        Refuse(503),
    )
    run = (await run_agent(client, tenant_a, agent["id"], "Time?")).json()
    conversation = run["conversation_id"]
    error_of(
        await run_agent(client, tenant_a, agent["id"], "And now?", conversation_id=conversation),
        502,
    )

    analytics = await get_json(client, tenant_a, f"/usage/conversations/{conversation}")
    assert analytics["messages_by_role"] == {"user": 2, "assistant": 2, "tool": 1}
    assert analytics["messages"] == 5
    assert analytics["runs"] == 2 and analytics["runs_by_status"] == {"completed": 1, "failed": 1}
    assert analytics["model_calls"] == 3
    assert (analytics["tokens_in"], analytics["tokens_out"]) == (83, 18)
    assert analytics["cost"] == pytest.approx(_cost(83, 18))
    assert analytics["tools_used"] == {"get_current_time": 1}
    assert analytics["duration_seconds"] >= 0 and analytics["avg_response_time_ms"] >= 0
    error_of(
        await client.get(f"{USAGE}/conversations/{conversation}", headers=tenant_b.headers), 404
    )

    performance = await get_json(client, tenant_a, "/usage/models")
    (scripted,) = performance["models"]
    assert (scripted["calls"], scripted["errors"]) == (3, 1)
    assert scripted["error_rate"] == pytest.approx(1 / 3)
    assert 0 <= scripted["latency_p50_ms"] <= scripted["latency_p95_ms"]
    assert (scripted["tokens_in"], scripted["tokens_out"]) == (83, 18)
    assert scripted["avg_tokens_out"] == pytest.approx(9)
    only = await get_json(client, tenant_a, "/usage/models", model_id=scripted["model_id"])
    assert only["models"] == performance["models"]
    assert (await get_json(client, tenant_b, "/usage/models"))["models"] == []


def test_cost_is_computed_in_decimals() -> None:
    from orchestrator_service.catalogue.models import AiModel  # noqa: PLC0415
    from orchestrator_service.usage.service import cost_of  # noqa: PLC0415

    entry = AiModel(
        input_price_per_million=Decimal("0.15"), output_price_per_million=Decimal("0.6")
    )
    assert cost_of(entry, 1_000_000, 1_000_000) == Decimal("0.75")
    assert cost_of(entry, 1, 1) == Decimal("0.00000075")
