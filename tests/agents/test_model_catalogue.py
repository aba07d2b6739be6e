"""A run names a catalogue model: an unknown one is 422 `model_unknown`, a disabled one 409
`model_disabled`, both before anything is queued or called; another tenant's own model is
unknown; the catalogue's output limit caps what a run asks for."""

import httpx

from tests.agents.helpers import add_catalogue_model, create_scripted_agent, get_json, run_agent
from tests.helpers import Caller, error_of
from tests.scripted_model import Say, ScriptedModel


async def _runs_of(client: httpx.AsyncClient, caller: Caller, agent_id: int) -> list:
    return (await get_json(client, caller, "/executions", agent_id=agent_id))["items"]


async def test_an_unknown_model_is_refused_before_the_run_starts(
    client: httpx.AsyncClient, tenant_a: Caller, llm_key: str, model: ScriptedModel
) -> None:
    agent = await create_scripted_agent(client, tenant_a, model)
    changed = await client.patch(
        f"/api/v1/agents/{agent['id']}",
        headers=tenant_a.headers,
        json={"model_version": "gpt-9-ultra"},
    )
    assert changed.status_code == 200

    for stream in (False, True):
        response = await run_agent(client, tenant_a, agent["id"], "Hi", stream=stream)
        error = error_of(response, 422, "model_unknown")
        assert "gpt-9-ultra" in error["message"] and "/api/v1/models" in error["message"]
    background = await run_agent(client, tenant_a, agent["id"], "Hi", background=True)
    error_of(background, 422, "model_unknown")
    assert model.requests == []
    assert await _runs_of(client, tenant_a, agent["id"]) == []


async def test_another_tenants_own_model_is_unknown(
    client: httpx.AsyncClient,
    tenant_a: Caller,
    tenant_b: Caller,
    llm_key: str,
    model: ScriptedModel,
) -> None:
    await add_catalogue_model(client, tenant_a, "a-private-model")
    agent = await create_scripted_agent(client, tenant_b, model)
    await client.patch(
        f"/api/v1/agents/{agent['id']}",
        headers=tenant_b.headers,
        json={"model_version": "a-private-model"},
    )
    error_of(await run_agent(client, tenant_b, agent["id"], "Hi"), 422, "model_unknown")
    assert model.requests == []


async def test_a_disabled_model_is_refused_until_enabled_again(
    client: httpx.AsyncClient,
    tenant_a: Caller,
    platform_admin: Caller,
    llm_key: str,
    model: ScriptedModel,
) -> None:
    agent = await create_scripted_agent(client, tenant_a, model)
    entry = await add_catalogue_model(client, tenant_a, "scripted-1")
    off = await client.post(f"/api/v1/models/{entry['id']}/disable", headers=tenant_a.headers)
    assert off.status_code == 200

    error = error_of(await run_agent(client, tenant_a, agent["id"], "Hi"), 409, "model_disabled")
    assert "scripted-1" in error["message"] and "enable" in error["message"]
    assert error["details"]["model_id"] == entry["id"]
    assert model.requests == []

    await client.post(f"/api/v1/models/{entry['id']}/enable", headers=tenant_a.headers)
    model.play(Say("Hello again."))
    answered = await run_agent(client, tenant_a, agent["id"], "Hi")
    assert answered.status_code == 200, answered.text

    # A platform model the platform disables is refused to every tenant's agents.
    listed = await client.get(
        "/api/v1/models", headers=platform_admin.headers, params={"limit": 200}
    )
    mini = next(m for m in listed.json()["items"] if m["model"] == "gpt-5-mini")
    await client.patch(
        f"/api/v1/models/{mini['id']}", headers=platform_admin.headers, json={"status": "disabled"}
    )
    default = await client.post(
        "/api/v1/agents",
        headers=tenant_a.headers,
        json={"name": "Default model", "system_prompt_template": "Hi"},
    )
    error_of(await run_agent(client, tenant_a, default.json()["id"], "Hi"), 409, "model_disabled")


async def test_an_embedding_model_cannot_answer_a_run(
    client: httpx.AsyncClient, tenant_a: Caller, llm_key: str, model: ScriptedModel
) -> None:
    agent = await create_scripted_agent(client, tenant_a, model)
    await client.patch(
        f"/api/v1/agents/{agent['id']}",
        headers=tenant_a.headers,
        json={"model_version": "text-embedding-3-small", "model_provider": "openai"},
    )
    error = error_of(await run_agent(client, tenant_a, agent["id"], "Hi"), 422, "model_unknown")
    assert "chat model" in error["message"]


async def test_the_catalogue_caps_the_output_a_run_asks_for(
    client: httpx.AsyncClient, tenant_a: Caller, llm_key: str, model: ScriptedModel
) -> None:
    agent = await create_scripted_agent(client, tenant_a, model, max_tokens=100_000)
    model.play(Say("Short."))
    assert (await run_agent(client, tenant_a, agent["id"], "Hi")).status_code == 200
    assert model.bodies[0]["max_tokens"] == 8192  # the stand-in entry's max_output_tokens
