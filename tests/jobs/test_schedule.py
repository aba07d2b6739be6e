"""The scheduled sweep: the reconciler plus the agent-memory purge, both in one report."""

from sqlalchemy.engine import URL

from orchestrator_service.agents.memory import remember_fact
from orchestrator_service.agents.models import Agent
from orchestrator_service.bootstrap import Runtime
from orchestrator_service.jobs.schedule import sweep
from tests.helpers import Caller, sql


async def test_the_sweep_reports_expired_memories_and_purges_them_unless_dry(
    runtime: Runtime, tenant_a: Caller, fresh_db: URL
) -> None:
    async with runtime.sessionmaker.begin() as session:
        agent = Agent(tenant_id=tenant_a.tenant_id, name="memo", system_prompt_template="hi")
        session.add(agent)
        await session.flush()
        for key in ("old", "older", "kept"):
            await remember_fact(
                session,
                tenant_id=tenant_a.tenant_id,
                agent_id=agent.id,
                user_key="luis",
                key=key,
                value=key,
                ttl_seconds=3600,
            )
    # Two facts expired an hour ago: set in SQL rather than waiting for time to pass.
    await sql(
        fresh_db,
        "UPDATE agent_memory SET expires_at = now() - interval '1 hour' WHERE key <> 'kept'",
    )

    dry = await sweep(runtime.sessionmaker, runtime.reconciler, dry_run=True)
    assert dry.expired_memories == 2
    assert dry.counts()["expired_memories"] == 2
    assert len(await sql(fresh_db, "SELECT 1 FROM agent_memory")) == 3

    done = await sweep(runtime.sessionmaker, runtime.reconciler)
    assert done.as_dict()["counts"]["expired_memories"] == 2
    assert [r["key"] for r in await sql(fresh_db, "SELECT key FROM agent_memory")] == ["kept"]
    assert (await sweep(runtime.sessionmaker, runtime.reconciler)).expired_memories == 0
