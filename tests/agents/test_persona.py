"""Seed 001's personality and expertise reach the system prompt: where the template places
them (`{{ personality }}`, `{{ expertise }}`), or else after it; the render endpoint shows the
same prompt a run sends."""

import httpx

from tests.agents.helpers import VARIABLES, create_scripted_agent, run_agent
from tests.helpers import Caller
from tests.scripted_model import Say, ScriptedModel


async def test_personality_and_expertise_follow_the_template_when_it_does_not_place_them(
    client: httpx.AsyncClient, tenant_a: Caller, llm_key: str, model: ScriptedModel
) -> None:
    agent = await create_scripted_agent(
        client, tenant_a, model, personality="Warm and brief", expertise="Peruvian tax law"
    )
    model.play(Say("Hola."))
    response = await run_agent(client, tenant_a, agent["id"], "Hi", variables=VARIABLES)
    assert response.status_code == 200, response.text
    system = model.bodies[-1]["messages"][0]["content"]
    assert system.endswith("\n\nPersonality: Warm and brief\n\nExpertise: Peruvian tax law")
    rendered = await client.post(
        f"/api/v1/agents/{agent['id']}/render",
        headers=tenant_a.headers,
        json={"variables": VARIABLES},
    )
    assert rendered.json()["rendered"] == system


async def test_a_template_places_them_itself_and_run_variables_cannot_replace_them(
    client: httpx.AsyncClient, tenant_a: Caller, llm_key: str, model: ScriptedModel
) -> None:
    agent = await create_scripted_agent(
        client,
        tenant_a,
        model,
        system_prompt_template="You are {{ personality }}. You know {{ expertise }}.",
        personality="patient",
        expertise="gardening",
    )
    model.play(Say("Hi."))
    variables = {"personality": "rude", "expertise": "nothing"}
    response = await run_agent(client, tenant_a, agent["id"], "Hi", variables=variables)
    assert response.status_code == 200, response.text
    assert model.bodies[-1]["messages"][0]["content"] == "You are patient. You know gardening."

    # Without them set, the template's placeholders stay for the variables to fill.
    cleared = await client.patch(
        f"/api/v1/agents/{agent['id']}",
        headers=tenant_a.headers,
        json={"personality": None, "expertise": None},
    )
    assert cleared.status_code == 200, cleared.text
    model.play(Say("Hi."))
    response = await run_agent(client, tenant_a, agent["id"], "Hi", variables=variables)
    assert model.bodies[-1]["messages"][0]["content"] == "You are rude. You know nothing."
