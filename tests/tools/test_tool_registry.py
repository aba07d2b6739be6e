"""/api/v1/tools and GET /agents/{id}/tools: tenant and global tools, built-ins, validation,
shadowing, and the OpenAI function-calling export."""

from tests.helpers import Caller, create_agent, error_of, sql
from tests.tools.helpers import create_tool, http_tool

CITY_SCHEMA = {
    "type": "object",
    "properties": {"city": {"type": "string", "description": "City name"}},
    "required": ["city"],
}


async def test_tenant_tool_crud(client, tenant_a: Caller) -> None:
    created = await http_tool(
        client, tenant_a, "weather", "https://api.weather.example/v1?q={{city}}", method="GET"
    )
    assert created["tenant_id"] == tenant_a.tenant_id
    assert created["type"] == "http"
    assert (created["is_enabled"], created["requires_confirmation"]) == (True, False)
    assert (created["security_level"], created["usage_count"]) == ("safe", 0)

    path = f"/api/v1/tools/{created['id']}"
    assert (await client.get(path, headers=tenant_a.headers)).json() == created
    listed = (await client.get("/api/v1/tools", headers=tenant_a.headers)).json()["items"]
    assert created["id"] in [t["id"] for t in listed]

    changed = await client.patch(
        path,
        headers=tenant_a.headers,
        json={"description": "Current weather", "function_schema": CITY_SCHEMA},
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["description"] == "Current weather"
    assert changed.json()["function_schema"] == CITY_SCHEMA

    assert (await client.delete(path, headers=tenant_a.headers)).status_code == 204
    error_of(await client.get(path, headers=tenant_a.headers), 404, "not_found")


async def test_a_tenant_tool_name_is_unique_per_tenant(
    client, tenant_a: Caller, tenant_b: Caller
) -> None:
    await http_tool(client, tenant_a, "crm", "https://crm.example/api")

    again = await client.post(
        "/api/v1/tools",
        headers=tenant_a.headers,
        json={"name": "crm", "type": "http", "service_url": "https://crm.example/other"},
    )

    error_of(again, 409, "conflict")
    await http_tool(client, tenant_b, "crm", "https://crm.example/api")


# Issue 17: the personal workspace (notes, calendar, mail).
WORKSPACE_TOOLS = (
    "create_note",
    "search_notes",
    "list_events",
    "create_event",
    "search_email",
    "send_email",
)


async def test_builtins_exist_as_global_internal_tools(client, tenant_a: Caller) -> None:
    listed = (await client.get("/api/v1/tools", headers=tenant_a.headers)).json()["items"]
    builtins = {t["name"]: t for t in listed if t["type"] == "internal"}

    assert set(builtins) == {
        "get_current_time",
        "search_knowledge",
        "remember",
        "recall",
        *WORKSPACE_TOOLS,
    }
    confirmed = {name for name, tool in builtins.items() if tool["requires_confirmation"]}
    assert confirmed == {"create_event", "send_email"}
    for tool in builtins.values():
        assert tool["tenant_id"] is None
        assert tool["is_enabled"] is True
        assert tool["function_schema"]["type"] == "object"
    assert builtins["search_knowledge"]["function_schema"]["required"] == ["query"]


async def test_global_tools_are_shared_and_only_the_platform_admin_edits_them(
    client, tenant_a: Caller, tenant_b: Caller, platform_admin: Caller
) -> None:
    shared = await http_tool(client, platform_admin, "translate", "https://tr.example/v2")
    own = await http_tool(client, tenant_a, "crm", "https://crm.example/api")
    assert shared["tenant_id"] is None
    path = f"/api/v1/tools/{shared['id']}"

    for tenant in (tenant_a, tenant_b):
        assert (await client.get(path, headers=tenant.headers)).json()["name"] == "translate"
        listed = (await client.get("/api/v1/tools", headers=tenant.headers)).json()["items"]
        assert shared["id"] in [t["id"] for t in listed]
        error_of(
            await client.patch(path, headers=tenant.headers, json={"is_enabled": False}),
            404,
            "not_found",
        )
        error_of(await client.delete(path, headers=tenant.headers), 404, "not_found")

    # The platform admin manages the global tools and does not see tenants' tools.
    error_of(
        await client.get(f"/api/v1/tools/{own['id']}", headers=platform_admin.headers),
        404,
        "not_found",
    )
    changed = await client.patch(
        path, headers=platform_admin.headers, json={"description": "Translate text"}
    )
    assert changed.json()["description"] == "Translate text"
    assert changed.json()["is_enabled"] is True
    assert (await client.delete(path, headers=platform_admin.headers)).status_code == 204
    error_of(await client.get(path, headers=tenant_a.headers), 404, "not_found")


async def test_another_tenants_tool_is_404(client, tenant_a: Caller, tenant_b: Caller) -> None:
    tool = await http_tool(client, tenant_a, "crm", "https://crm.example/api")
    path = f"/api/v1/tools/{tool['id']}"

    error_of(await client.get(path, headers=tenant_b.headers), 404, "not_found")
    error_of(
        await client.patch(path, headers=tenant_b.headers, json={"description": "mine"}),
        404,
        "not_found",
    )
    error_of(await client.delete(path, headers=tenant_b.headers), 404, "not_found")
    listed = (await client.get("/api/v1/tools", headers=tenant_b.headers)).json()["items"]
    assert tool["id"] not in [t["id"] for t in listed]
    assert (await client.get(path, headers=tenant_a.headers)).json() == tool


HTTP = {"type": "http", "service_url": "https://api.example/x"}
INVALID_TOOLS = {
    "unknown JSON Schema type": (
        {**HTTP, "function_schema": {"type": "object", "properties": {"x": {"type": "strng"}}}},
        "validation_error",
        "not a valid JSON Schema",
    ),
    "required is not a list": (
        {**HTTP, "function_schema": {"type": "object", "required": "city"}},
        "validation_error",
        "not a valid JSON Schema",
    ),
    "bad OpenAI parameters": (
        {**HTTP, "function_schema": {"type": "function", "function": {"parameters": 5}}},
        "validation_error",
        "not a valid JSON Schema",
    ),
    "arguments not an object": (
        {**HTTP, "function_schema": {"type": "array"}},
        "validation_error",
        "must have type 'object'",
    ),
    "unknown internal tool": ({"type": "internal"}, "invalid_input", "get_current_time"),
    "http without a URL": ({"type": "http"}, "validation_error", "needs config.url"),
    "unknown type": (
        {"type": "ftp", "service_url": "https://a.example"},
        "validation_error",
        "type",
    ),
    "zero timeout": ({**HTTP, "config": {"timeout_s": 0}}, "validation_error", "timeout_s"),
    "unknown method": ({**HTTP, "config": {"method": "TRACE"}}, "validation_error", "method"),
    "cap too large": (
        {**HTTP, "config": {"max_response_bytes": 10**9}},
        "validation_error",
        "max_response_bytes",
    ),
    "too many retries": ({**HTTP, "config": {"retries": 9}}, "validation_error", "retries"),
    "unknown config key": ({**HTTP, "config": {"verb": "GET"}}, "validation_error", "verb"),
    "unknown security level": (
        {**HTTP, "security_level": "yolo"},
        "validation_error",
        "security_level",
    ),
    "bad name": ({**HTTP, "name": "launch rockets"}, "validation_error", "body.name"),
}


async def test_invalid_tool_is_422_and_stores_nothing(
    client, tenant_a: Caller, fresh_db, subtests
) -> None:
    for case, (body, code, fragment) in INVALID_TOOLS.items():
        with subtests.test(msg=case):
            response = await client.post(
                "/api/v1/tools", headers=tenant_a.headers, json={"name": "launch_rockets", **body}
            )

            assert fragment in error_of(response, 422, code)["message"]
    rows = await sql(fresh_db, "SELECT count(*) AS n FROM tools WHERE tenant_id IS NOT NULL")
    assert rows[0]["n"] == 0


async def test_invalid_tool_update_is_422_and_changes_nothing(
    client, tenant_a: Caller, subtests
) -> None:
    tool = await http_tool(client, tenant_a, "crm", "https://crm.example/api")
    path = f"/api/v1/tools/{tool['id']}"
    cases = [
        ({"function_schema": {"type": "object", "required": "city"}}, "function_schema"),
        ({"config": {"url": "https://api.example/x", "timeout_s": -1}}, "timeout_s"),
        ({"config": {"url": "https://api.example/x", "method": "TRACE"}}, "method"),
        ({"config": {"url": "https://api.example/x", "verb": "GET"}}, "verb"),
        ({"config": {}}, "url"),
        ({"is_enabled": None}, "is_enabled"),
        ({"requires_confirmation": None}, "requires_confirmation"),
    ]
    for fields, fragment in cases:
        with subtests.test(msg=str(fields)):
            response = await client.patch(path, headers=tenant_a.headers, json=fields)

            assert response.status_code == 422, response.text
            error = response.json()["error"]
            # Checked by the schema, or against the merged tool by the service.
            assert error["code"] in {"validation_error", "invalid_input"}, error
            assert fragment in error["message"], error
    assert (await client.get(path, headers=tenant_a.headers)).json() == tool


async def test_agent_tools_are_openai_function_definitions(client, tenant_a: Caller) -> None:
    await create_tool(
        client,
        tenant_a,
        name="weather",
        type="http",
        service_url="https://api.weather.example/v1",
        display_name="Weather",
        description="Current weather for a city",
        function_schema=CITY_SCHEMA,
        prompt_injection="Use weather when the customer asks about the weather.",
        response_guide="Answer in degrees Celsius.",
    )
    # Seed 000 stores whole OpenAI definitions; only their parameters are the schema.
    await create_tool(
        client,
        tenant_a,
        name="book_visit",
        type="http",
        service_url="https://crm.example/visits",
        display_name="Book a visit",
        requires_confirmation=True,
        function_schema={
            "type": "function",
            "function": {"name": "book_visit", "parameters": CITY_SCHEMA},
        },
    )
    off = await http_tool(client, tenant_a, "switched_off", "https://off.example")
    switched = await client.patch(
        f"/api/v1/tools/{off['id']}", headers=tenant_a.headers, json={"is_enabled": False}
    )
    assert switched.json()["is_enabled"] is False
    await http_tool(client, tenant_a, "not_enabled", "https://other.example")
    agent = await create_agent(
        client,
        tenant_a,
        enabled_tools=["book_visit", "weather", "switched_off", "no_such_tool", "get_current_time"],
    )

    response = await client.get(f"/api/v1/agents/{agent['id']}/tools", headers=tenant_a.headers)

    assert response.status_code == 200, response.text
    page = response.json()
    assert page["next_cursor"] is None
    assert [t["function"]["name"] for t in page["items"]] == [
        "book_visit",
        "weather",
        "get_current_time",
    ]
    book, weather, clock = page["items"]
    assert weather == {
        "type": "function",
        "function": {
            "name": "weather",
            "description": "Current weather for a city",
            "parameters": CITY_SCHEMA,
        },
        "prompt_injection": "Use weather when the customer asks about the weather.",
        "response_guide": "Answer in degrees Celsius.",
        "requires_confirmation": False,
    }
    assert book["function"]["description"] == "Book a visit"
    assert book["function"]["parameters"] == CITY_SCHEMA
    assert book["requires_confirmation"] is True
    assert clock["function"]["parameters"]["properties"]["timezone"]["type"] == "string"


async def test_a_tenant_tool_shadows_the_global_one_of_the_same_name(
    client, tenant_a: Caller, tenant_b: Caller, platform_admin: Caller
) -> None:
    await create_tool(
        client,
        platform_admin,
        name="weather",
        type="http",
        service_url="https://global.example",
        description="Global weather",
    )
    await create_tool(
        client,
        tenant_a,
        name="weather",
        type="http",
        service_url="https://tenant.example",
        description="Tenant A's weather",
        function_schema=CITY_SCHEMA,
    )
    agent_a = await create_agent(client, tenant_a, enabled_tools=["weather"])
    agent_b = await create_agent(client, tenant_b, enabled_tools=["weather"])

    tools_a = await client.get(f"/api/v1/agents/{agent_a['id']}/tools", headers=tenant_a.headers)
    tools_b = await client.get(f"/api/v1/agents/{agent_b['id']}/tools", headers=tenant_b.headers)

    assert [t["function"]["description"] for t in tools_a.json()["items"]] == ["Tenant A's weather"]
    assert tools_a.json()["items"][0]["function"]["parameters"] == CITY_SCHEMA
    assert [t["function"]["description"] for t in tools_b.json()["items"]] == ["Global weather"]


async def test_an_agent_never_lists_another_tenants_tool(
    client, tenant_a: Caller, tenant_b: Caller
) -> None:
    await http_tool(client, tenant_a, "a_only", "https://a.example")
    agent_b = await create_agent(client, tenant_b, enabled_tools=["a_only", "get_current_time"])

    response = await client.get(f"/api/v1/agents/{agent_b['id']}/tools", headers=tenant_b.headers)

    assert [t["function"]["name"] for t in response.json()["items"]] == ["get_current_time"]
