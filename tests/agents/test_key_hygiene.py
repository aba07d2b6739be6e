"""The LLM key from the tenant's vault reaches the model API in the Authorization header and
nowhere else: not in any database row (executions, steps, metrics, messages, audit log, job
queue...), not in any log record, not in any response, even when the API echoes it back."""

import logging

import pytest
from sqlalchemy.engine import URL

from tests.agents.helpers import create_scripted_agent, run_agent
from tests.helpers import Caller, sql
from tests.scripted_model import Call, Refuse, Say, ScriptedModel


async def _rows_holding(url: URL, needle: str) -> list[str]:
    """The tables of every non-system schema with a row whose text contains `needle`."""
    tables = await sql(
        url,
        "SELECT table_schema, table_name FROM information_schema.tables "
        "WHERE table_type = 'BASE TABLE' "
        "AND table_schema NOT IN ('pg_catalog', 'information_schema')",
    )
    assert {t["table_schema"] for t in tables} >= {"public", "agent_execution"}
    holding = []
    for table in tables:
        name = f'"{table["table_schema"]}"."{table["table_name"]}"'
        found = await sql(
            url, f"SELECT count(*) AS n FROM {name} t WHERE strpos(t::text, $1) > 0", needle
        )
        if found[0]["n"]:
            holding.append(name)
    return holding


async def test_the_llm_key_is_sent_to_the_model_and_kept_out_of_records_logs_and_responses(
    client,
    tenant_a: Caller,
    llm_key: str,
    model: ScriptedModel,
    fresh_db: URL,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    agent = await create_scripted_agent(client, tenant_a, model)
    answer = [Call("get_current_time"), Say("It is noon.")]
    model.play(*answer, *answer, Refuse(500), Refuse(429))

    responses = [
        await run_agent(client, tenant_a, agent["id"], "Time?"),
        await run_agent(client, tenant_a, agent["id"], "Time?", stream=True),
        await run_agent(client, tenant_a, agent["id"], "Time?"),
        await run_agent(client, tenant_a, agent["id"], "Time?", stream=True),
    ]
    assert [r.status_code for r in responses] == [200, 200, 502, 200]
    assert '"run_failed"' in responses[3].text  # the streamed failure's error event
    reads = [
        "/api/v1/executions",
        "/api/v1/conversations",
        "/api/v1/credentials",
        "/api/v1/audit-logs",
    ]
    for path in list(reads):
        page = (await client.get(path, headers=tenant_a.headers)).json()
        if path == "/api/v1/executions":
            reads += [f"{path}/{e['id']}" for e in page["items"]]
        if path == "/api/v1/conversations":
            reads += [f"{path}/{c['id']}/messages" for c in page["items"]]
    for path in reads:
        responses.append(await client.get(path, headers=tenant_a.headers))
    assert all(r.status_code == 200 for r in responses[4:])
    assert len(responses) == 4 + 4 + 4 + 4  # runs, lists, executions, message histories

    # The model got the key every time.
    assert [r.authorization for r in model.requests] == [f"Bearer {llm_key}"] * 6
    # And nothing else did.
    assert [r.request.url.path for r in responses if llm_key in r.text] == []
    assert await _rows_holding(fresh_db, llm_key) == []
    assert any(model.base_url in r.getMessage() for r in caplog.records)  # the capture works
    assert [r.name for r in caplog.records if llm_key in r.getMessage()] == []
    assert llm_key not in caplog.text
