"""A run's step boundaries: a tool that requires confirmation pauses the run
(`awaiting_confirmation`, the pending call on record) until the user confirms (the tool runs)
or rejects it (the model is told the user declined); a cancel stops a running run at its next
step boundary, and a queued one at once. Confirming twice, or another tenant's run, fails."""

import asyncio
import json

import httpx

from orchestrator_service.bootstrap import Runtime, running_jobs
from tests.agents.helpers import create_scripted_agent, get_json, messages_of, run_agent
from tests.helpers import Caller, error_of, eventually
from tests.scripted_model import Call, Hold, Say, ScriptedModel
from tests.webhooks.receiver import Answer, Receiver

API = "/api/v1"
PAY = Call("send_invoice", {"amount": 120}, call_id="call_pay", usage=(40, 9))
DONE = "The invoice is on its way."


async def invoice_agent(
    client: httpx.AsyncClient, caller: Caller, model: ScriptedModel, service: Receiver
) -> dict:
    """An agent whose `send_invoice` tool (an HTTP tool on loopback) requires confirmation."""
    response = await client.post(
        f"{API}/tools",
        headers=caller.headers,
        json={
            "name": "send_invoice",
            "type": "http",
            "description": "Send an invoice to the customer",
            "function_schema": {
                "type": "object",
                "properties": {"amount": {"type": "number"}},
                "required": ["amount"],
            },
            "config": {"url": service.url, "method": "POST", "body": {"amount": "{{amount}}"}},
            "requires_confirmation": True,
        },
    )
    assert response.status_code == 201, response.text
    return await create_scripted_agent(client, caller, model, enabled_tools=["send_invoice"])


async def finished(client: httpx.AsyncClient, caller: Caller, execution_id: str) -> dict:
    """The execution once it has left the queue and ended (or paused again)."""
    return await eventually(
        lambda: get_json(client, caller, f"/executions/{execution_id}"),
        lambda e: e["status"] not in ("queued", "running"),
        attempts=100,
    )


async def test_a_confirmed_run_resumes_runs_the_tool_and_answers(
    client: httpx.AsyncClient,
    runtime: Runtime,
    tenant_a: Caller,
    tenant_b: Caller,
    llm_key: str,
    model: ScriptedModel,
) -> None:
    with Receiver() as service:
        service.default = Answer(200, {"Content-Type": "application/json"}, b'{"sent": true}')
        agent = await invoice_agent(client, tenant_a, model, service)
        model.play(PAY, Say(DONE, usage=(60, 8)))

        response = await run_agent(client, tenant_a, agent["id"], "Bill Rosa 120")

        assert response.status_code == 200, response.text
        paused = response.json()
        assert paused["status"] == "awaiting_confirmation" and paused["output"] is None
        execution_id = paused["execution_id"]
        execution = await get_json(client, tenant_a, f"/executions/{execution_id}")
        assert execution["pending_confirmation"]["tool"] == "send_invoice"
        assert execution["pending_confirmation"]["tool_call_id"] == "call_pay"
        assert json.loads(execution["pending_confirmation"]["arguments"]) == {"amount": 120}
        assert service.requests == []  # nothing sent before the user says so
        assert len(model.requests) == 1

        # Another tenant cannot see or steer it; a second decision is refused.
        confirm = f"{API}/executions/{execution_id}/confirm"
        error_of(await client.post(confirm, headers=tenant_b.headers), 404, "not_found")
        response = await client.post(confirm, headers=tenant_a.headers)
        assert response.status_code == 202, response.text
        assert response.json()["status"] == "queued"
        error_of(await client.post(confirm, headers=tenant_a.headers), 409, "conflict")
        reject = f"{API}/executions/{execution_id}/reject"
        error_of(await client.post(reject, headers=tenant_a.headers), 409, "conflict")

        async with running_jobs(runtime):
            done = await finished(client, tenant_a, execution_id)

        assert done["status"] == "completed", done
        assert done["output_response"] == DONE
        assert done["pending_confirmation"] is None
        assert done["tokens_used"] == 40 + 9 + 60 + 8
        assert [json.loads(r.body) for r in service.requests] == [{"amount": 120}]
        assert [(s["step_type"], s["status"], s["error_code"]) for s in done["steps"]] == [
            ("prompt", "completed", None),
            ("llm", "completed", None),
            ("tool", "failed", "confirmation_required"),
            ("tool", "completed", None),
            ("llm", "completed", None),
        ]
        assert [s["step_index"] for s in done["steps"]] == [0, 1, 2, 3, 4]
        # The model got the tool's real answer after the confirmation.
        tool_message = model.bodies[1]["messages"][-1]
        assert tool_message["role"] == "tool" and tool_message["tool_call_id"] == "call_pay"
        assert json.loads(tool_message["content"])["sent"] is True
        messages = await messages_of(client, tenant_a, paused["conversation_id"])
        assert [m["role"] for m in messages] == ["user", "assistant", "tool", "assistant"]


async def test_a_rejected_call_tells_the_model_the_user_declined(
    client: httpx.AsyncClient,
    runtime: Runtime,
    tenant_a: Caller,
    llm_key: str,
    model: ScriptedModel,
) -> None:
    with Receiver() as service:
        agent = await invoice_agent(client, tenant_a, model, service)
        model.play(PAY, Say("Understood, I will not send it."))
        paused = (await run_agent(client, tenant_a, agent["id"], "Bill Rosa 120")).json()

        response = await client.post(
            f"{API}/executions/{paused['execution_id']}/reject", headers=tenant_a.headers
        )
        assert response.status_code == 202, response.text
        async with running_jobs(runtime):
            done = await finished(client, tenant_a, paused["execution_id"])

        assert done["status"] == "completed", done
        assert service.requests == []  # the tool never ran
        tool_message = model.bodies[1]["messages"][-1]
        assert tool_message["role"] == "tool"
        assert "declined" in json.loads(tool_message["content"])["error"]


async def test_cancelling_a_running_run_stops_it_at_the_next_step_boundary(
    client: httpx.AsyncClient,
    runtime: Runtime,
    tenant_a: Caller,
    llm_key: str,
    model: ScriptedModel,
) -> None:
    agent = await create_scripted_agent(client, tenant_a, model)
    held = Hold(Call("get_current_time", {"timezone": "UTC"}, call_id="call_t"))
    model.play(held)  # a second model call would be an overrun and fail the test

    running = asyncio.create_task(run_agent(client, tenant_a, agent["id"], "Time?"))
    await asyncio.to_thread(held.arrived.wait, 10)
    [execution] = (await get_json(client, tenant_a, "/executions", status="running"))["items"]
    response = await client.post(
        f"{API}/executions/{execution['id']}/cancel", headers=tenant_a.headers
    )
    assert response.status_code == 202, response.text
    assert response.json()["status"] == "running"
    assert response.json()["cancel_requested_at"] is not None
    held.go.set()  # the model answers asking for a tool: the boundary before it stops the run
    answer = (await running).json()

    assert answer["status"] == "cancelled"
    done = await get_json(client, tenant_a, f"/executions/{execution['id']}")
    assert done["status"] == "cancelled" and done["error_code"] == "run_cancelled"
    assert [s["step_type"] for s in done["steps"]] == ["prompt", "llm"]  # no tool ran
    error_of(
        await client.post(f"{API}/executions/{execution['id']}/cancel", headers=tenant_a.headers),
        409,
        "conflict",
    )


async def test_a_queued_run_is_cancelled_at_once_and_the_worker_leaves_it(
    client: httpx.AsyncClient,
    runtime: Runtime,
    tenant_a: Caller,
    llm_key: str,
    model: ScriptedModel,
) -> None:
    agent = await create_scripted_agent(client, tenant_a, model)
    queued = (await run_agent(client, tenant_a, agent["id"], "Time?", background=True)).json()

    response = await client.post(
        f"{API}/executions/{queued['execution_id']}/cancel", headers=tenant_a.headers
    )

    assert response.status_code == 202 and response.json()["status"] == "cancelled"
    async with running_jobs(runtime):
        await asyncio.sleep(1)  # the worker picks the job and finds nothing to run
    done = await get_json(client, tenant_a, f"/executions/{queued['execution_id']}")
    assert done["status"] == "cancelled"
    assert model.requests == []
