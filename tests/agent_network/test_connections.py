"""Agent connections: one per pair of agents (either way round), never to itself, never to
another tenant's agent; CRUD with clear 4xx."""

import httpx

from tests.helpers import PASSWORD, Caller, all_pages, create_agent, create_user, error_of, login

PATH = "/api/v1/agent-connections"


async def connect(
    client: httpx.AsyncClient, caller: Caller, a: int, b: int, **fields: str
) -> httpx.Response:
    return await client.post(
        PATH, headers=caller.headers, json={"agent1_id": a, "agent2_id": b, **fields}
    )


async def test_connections_are_created_listed_changed_and_deleted(
    client: httpx.AsyncClient, tenant_a: Caller
) -> None:
    a, b, c = [(await create_agent(client, tenant_a, name=n))["id"] for n in "ABC"]
    created = await connect(client, tenant_a, a, b, connection_type="one_way")
    assert created.status_code == 201, created.text
    connection = created.json()
    assert connection | {"id": None, "created_at": None, "updated_at": None} == {
        "id": None,
        "agent1_id": a,
        "agent2_id": b,
        "connection_type": "one_way",
        "status": "active",
        "created_at": None,
        "updated_at": None,
    }
    assert (await connect(client, tenant_a, b, c)).json()["connection_type"] == "bidirectional"
    of_a = await all_pages(client, PATH, tenant_a.headers, agent_id=a)
    assert [x["id"] for x in of_a] == [connection["id"]]
    assert len(await all_pages(client, PATH, tenant_a.headers, agent_id=b)) == 2

    url = f"{PATH}/{connection['id']}"
    paused = await client.patch(url, headers=tenant_a.headers, json={"status": "paused"})
    assert paused.status_code == 200 and paused.json()["status"] == "paused"
    error_of(await client.patch(url, headers=tenant_a.headers, json={"status": "gone"}), 422)
    error_of(await client.patch(url, headers=tenant_a.headers, json={"status": None}), 422)
    error_of(await client.patch(url, headers=tenant_a.headers, json={"agent1_id": c}), 422)
    assert (await client.get(url, headers=tenant_a.headers)).json()["status"] == "paused"
    assert (await client.delete(url, headers=tenant_a.headers)).status_code == 204
    error_of(await client.get(url, headers=tenant_a.headers), 404, "not_found")


async def test_no_self_connection_and_no_duplicate_either_way_round(
    client: httpx.AsyncClient, tenant_a: Caller
) -> None:
    a, b = [(await create_agent(client, tenant_a, name=n))["id"] for n in "AB"]
    error = error_of(await connect(client, tenant_a, a, a), 422, "invalid_input")
    assert "itself" in error["message"]
    assert (await connect(client, tenant_a, a, b, connection_type="one_way")).status_code == 201
    for first, second in ((a, b), (b, a)):  # the same pair, and its reverse
        error = error_of(await connect(client, tenant_a, first, second), 409, "conflict")
        assert "already connected" in error["message"]
    assert len(await all_pages(client, PATH, tenant_a.headers)) == 1


async def test_another_tenants_agents_and_connections_are_out_of_reach(
    client: httpx.AsyncClient, tenant_a: Caller, tenant_b: Caller
) -> None:
    mine, also_mine = [(await create_agent(client, tenant_a, name=n))["id"] for n in "AB"]
    theirs, also_theirs = [(await create_agent(client, tenant_b, name=n))["id"] for n in "XY"]
    for pair in ((mine, theirs), (theirs, mine), (theirs, also_theirs)):
        error = error_of(await connect(client, tenant_a, *pair), 404, "not_found")
        assert str(theirs) in error["message"]
    their_connection = (await connect(client, tenant_b, theirs, also_theirs)).json()
    url = f"{PATH}/{their_connection['id']}"
    error_of(await client.get(url, headers=tenant_a.headers), 404)
    error_of(await client.patch(url, headers=tenant_a.headers, json={"status": "active"}), 404)
    error_of(await client.delete(url, headers=tenant_a.headers), 404)
    assert await all_pages(client, PATH, tenant_a.headers) == []
    assert (await connect(client, tenant_a, mine, also_mine)).status_code == 201


async def test_bad_input_is_refused_clearly(client: httpx.AsyncClient, tenant_a: Caller) -> None:
    a, b = [(await create_agent(client, tenant_a, name=n))["id"] for n in "AB"]
    for body in (
        {"agent1_id": a},
        {"agent1_id": a, "agent2_id": b, "connection_type": "sideways"},
        {"agent1_id": a, "agent2_id": b, "status": "asleep"},
        {"agent1_id": 0, "agent2_id": b},
        {"agent1_id": a, "agent2_id": 2**31},
        {"agent1_id": "a", "agent2_id": b},
        {"agent1_id": a, "agent2_id": b, "tenant_id": 1},
    ):
        error_of(await client.post(PATH, headers=tenant_a.headers, json=body), 422)
    error_of(await client.get(f"{PATH}/not-a-uuid", headers=tenant_a.headers), 422)
    error_of(await client.get(PATH, headers=tenant_a.headers, params={"agent_id": 0}), 422)


async def test_deleting_an_agent_removes_its_connections(
    client: httpx.AsyncClient, tenant_a: Caller
) -> None:
    a, b = [(await create_agent(client, tenant_a, name=n))["id"] for n in "AB"]
    assert (await connect(client, tenant_a, a, b)).status_code == 201
    assert (await client.delete(f"/api/v1/agents/{a}", headers=tenant_a.headers)).status_code == 204
    assert await all_pages(client, PATH, tenant_a.headers) == []


async def test_another_users_private_agent_cannot_be_connected(
    client: httpx.AsyncClient, tenant_a: Caller
) -> None:
    """User B connecting their agent to user A's private agent gets the 404 of a missing id."""
    users = []
    for name in ("alice-net", "bob-net"):
        email = f"{name}@example.com"
        await create_user(client, tenant_a.headers, email, role="member", password=PASSWORD)
        users.append(Caller(api_key=await login(client, email), tenant_id=tenant_a.tenant_id))
    alice, bob = users
    private = (await create_agent(client, alice, name="A-private", visibility="private"))["id"]
    shared = (await create_agent(client, bob, name="B-shared"))["id"]

    refused = await connect(client, bob, shared, private)

    assert error_of(refused, 404)["message"] == f"Agent {private} (agent2_id) not found"
    assert (await connect(client, alice, private, shared)).status_code == 201
