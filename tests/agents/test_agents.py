"""/api/v1/agents: CRUD, validation with the one error body, prompt rendering, tenant scoping."""

from tests.helpers import Caller, create_agent, error_of, sql

TEMPLATE = (
    "Hola {{ customer }}, soy {{agent.name}} de {{ company }}. {{customer}}, ¿en qué te ayudo?"
)


async def test_agent_crud_with_seed_defaults(client, tenant_a: Caller) -> None:
    created = await create_agent(
        client,
        tenant_a,
        name="Ventas",
        system_prompt_template=TEMPLATE,
        temperature=0,
        enabled_tools=["get_current_time"],
        knowledge_collections=["faq"],
    )
    assert created["model_provider"] == "openai"
    assert created["model_version"] == "gpt-5-mini"
    assert created["role"] == "sales"
    assert created["temperature"] == 0
    assert created["max_tokens"] == 4096
    # Every door, `api` (the OpenAI-compatible /v1) included (issue 18).
    assert created["channels"] == ["web", "api", "whatsapp", "instagram", "facebook"]
    assert created["is_active"] is True

    path = f"/api/v1/agents/{created['id']}"
    assert (await client.get(path, headers=tenant_a.headers)).json() == created
    listed = await client.get("/api/v1/agents", headers=tenant_a.headers)
    assert [a["id"] for a in listed.json()["items"]] == [created["id"]]

    changed = await client.patch(
        path,
        headers=tenant_a.headers,
        json={"temperature": 2, "model_provider": "anthropic", "channels": ["web"]},
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["temperature"] == 2
    assert changed.json()["model_provider"] == "anthropic"
    assert changed.json()["channels"] == ["web"]
    assert changed.json()["name"] == "Ventas"

    assert (await client.delete(path, headers=tenant_a.headers)).status_code == 204
    error_of(await client.get(path, headers=tenant_a.headers), 404, "not_found")


INVALID_AGENTS = {
    "temperature above 2": ({"temperature": 2.01}, "body.temperature", "less than or equal to 2"),
    "temperature below 0": ({"temperature": -0.1}, "body.temperature", "greater than or equal"),
    "unknown provider": ({"model_provider": "skynet"}, "body.model_provider", "openai"),
    "bad placeholder": (
        {"system_prompt_template": "Hola {{ 1x }}"},
        "body.system_prompt_template",
        "{{ 1x }}",
    ),
    "empty placeholder": (
        {"system_prompt_template": "{{}}"},
        "body.system_prompt_template",
        "not a variable",
    ),
    "unclosed {{": (
        {"system_prompt_template": "Hola {{ name"},
        "body.system_prompt_template",
        "unbalanced '{{'",
    ),
    "stray }}": (
        {"system_prompt_template": "Hola name }}"},
        "body.system_prompt_template",
        "unbalanced '}}'",
    ),
    "unknown channel": ({"channels": ["telegram"]}, "body.channels.0", "whatsapp"),
    "bad tool name": ({"enabled_tools": ["no spaces"]}, "body.enabled_tools.0", "pattern"),
    "unknown field": ({"colour": "blue"}, "body.colour", "Extra inputs"),
}


async def test_invalid_agent_is_422_and_stores_nothing(
    client, tenant_a: Caller, fresh_db, subtests
) -> None:
    for case, (fields, location, fragment) in INVALID_AGENTS.items():
        with subtests.test(msg=case):
            body = {"name": "Ventas", "system_prompt_template": "Hola {{ customer }}", **fields}
            response = await client.post("/api/v1/agents", headers=tenant_a.headers, json=body)

            error = error_of(response, 422, "validation_error")
            assert location in error["message"] and fragment in error["message"], error
            assert [".".join(d["loc"]) for d in error["details"]] == [location]
    assert (await sql(fresh_db, "SELECT count(*) AS n FROM agents"))[0]["n"] == 0


async def test_invalid_update_is_422_and_changes_nothing(
    client, tenant_a: Caller, subtests
) -> None:
    agent = await create_agent(client, tenant_a, temperature=0.5)
    path = f"/api/v1/agents/{agent['id']}"
    cases = [
        {"temperature": 3},
        {"model_provider": "skynet"},
        {"system_prompt_template": "{{ 1x }}"},
        {"name": None},
        {"system_prompt_template": None},
        {"max_tokens": 0},
    ]
    for fields in cases:
        with subtests.test(msg=str(fields)):
            response = await client.patch(path, headers=tenant_a.headers, json=fields)

            error = error_of(response, 422, "validation_error")
            assert next(iter(fields)) in error["message"]
    assert (await client.get(path, headers=tenant_a.headers)).json() == agent


async def test_render_fills_variables_and_reports_missing_ones(client, tenant_a: Caller) -> None:
    agent = await create_agent(client, tenant_a, system_prompt_template=TEMPLATE)

    response = await client.post(
        f"/api/v1/agents/{agent['id']}/render",
        headers=tenant_a.headers,
        json={"variables": {"customer": "Ana", "company": "ACME", "unused": 7}},
    )

    assert response.status_code == 200, response.text
    assert response.json() == {
        "rendered": "Hola Ana, soy {{agent.name}} de ACME. Ana, ¿en qué te ayudo?",
        "variables": ["customer", "agent.name", "company"],
        "missing": ["agent.name"],
    }
    complete = await client.post(
        f"/api/v1/agents/{agent['id']}/render",
        headers=tenant_a.headers,
        json={"variables": {"customer": "Ana", "company": "ACME", "agent.name": "Lía"}},
    )
    assert complete.json()["rendered"] == "Hola Ana, soy Lía de ACME. Ana, ¿en qué te ayudo?"
    assert complete.json()["missing"] == []


async def test_render_refuses_non_scalar_variables(client, tenant_a: Caller) -> None:
    agent = await create_agent(client, tenant_a)

    response = await client.post(
        f"/api/v1/agents/{agent['id']}/render",
        headers=tenant_a.headers,
        json={"variables": {"customer": {"name": "Ana"}}},
    )

    error = error_of(response, 422, "validation_error")
    assert "body.variables.customer" in error["message"]


async def test_another_tenants_agent_is_404_everywhere(
    client, tenant_a: Caller, tenant_b: Caller
) -> None:
    agent = await create_agent(client, tenant_a)
    path = f"/api/v1/agents/{agent['id']}"

    for response in (
        await client.get(path, headers=tenant_b.headers),
        await client.patch(path, headers=tenant_b.headers, json={"temperature": 1}),
        await client.post(f"{path}/render", headers=tenant_b.headers, json={}),
        await client.get(f"{path}/tools", headers=tenant_b.headers),
        await client.delete(path, headers=tenant_b.headers),
    ):
        error_of(response, 404, "not_found")
    assert (await client.get("/api/v1/agents", headers=tenant_b.headers)).json()["items"] == []
    assert (await client.get(path, headers=tenant_a.headers)).json() == agent
