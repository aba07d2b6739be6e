"""Users own things (issue 17): who owns a new conversation, agent or memory, who may read and
change it, what an admin sees and deletes, whom an API key acts for, and what happens to a
user's things when the user is deleted. Probes of user B (member) and a viewer of the same
tenant against user A's private objects, beyond the schema-wide proof in tests/test_isolation."""

import uuid

import httpx
import pytest
from sqlalchemy.engine import URL

from tests.helpers import (
    PASSWORD,
    Caller,
    all_pages,
    create_key,
    create_user,
    error_of,
    login,
    sql,
)

API = "/api/v1"


async def _user(client: httpx.AsyncClient, admin: Caller, role: str = "member") -> Caller:
    """A new user of the admin's tenant, calling through a session of theirs."""
    email = f"{role}-{uuid.uuid4().hex[:8]}@example.com"
    await create_user(client, admin.headers, email, role=role, password=PASSWORD)
    return Caller(api_key=await login(client, email), tenant_id=admin.tenant_id)


async def _post(client: httpx.AsyncClient, caller: Caller, path: str, body: dict) -> dict:
    response = await client.post(f"{API}{path}", headers=caller.headers, json=body)
    assert response.status_code == 201, response.text
    return response.json()


async def _ids(client: httpx.AsyncClient, caller: Caller, path: str, **params: object) -> set:
    return {
        item["id"] for item in await all_pages(client, f"{API}{path}", caller.headers, **params)
    }


@pytest.fixture
async def a(client: httpx.AsyncClient, tenant_a: Caller) -> Caller:
    """User A, a member of tenant A."""
    return await _user(client, tenant_a)


@pytest.fixture
async def b(client: httpx.AsyncClient, tenant_a: Caller) -> Caller:
    """User B, another member of tenant A."""
    return await _user(client, tenant_a)


async def test_defaults_conversations_and_agents_are_the_tenants_memories_are_private(
    client: httpx.AsyncClient, a: Caller, b: Caller
) -> None:
    me = (await client.get(f"{API}/me", headers=a.headers)).json()["user_id"]
    conversation = await _post(client, a, "/conversations", {"title": "Shared"})
    agent = await _post(client, a, "/agents", {"name": "Helper", "system_prompt_template": "Hi"})
    memory = await _post(client, a, f"/agents/{agent['id']}/memories", {"key": "k", "value": 1})

    assert (conversation["owner_user_id"], conversation["visibility"]) == (me, "tenant")
    assert (agent["owner_user_id"], agent["visibility"], agent["is_public"]) == (
        me,
        "tenant",
        True,
    )
    assert agent["status"] == "online"
    assert (memory["owner_user_id"], memory["visibility"], memory["user_key"]) == (
        me,
        "private",
        me,
    )
    # B sees the tenant's conversation and agent, not the fact about A.
    assert conversation["id"] in await _ids(client, b, "/conversations")
    assert agent["id"] in await _ids(client, b, "/agents")
    assert await _ids(client, b, f"/agents/{agent['id']}/memories") == set()
    assert await _ids(client, b, f"/agents/{agent['id']}/memories", user_key=me) == set()
    assert await _ids(client, a, f"/agents/{agent['id']}/memories") == {memory["id"]}
    # B cannot plant a fact in A's memory: a fact B names A in is a contact's, tenant-wide,
    # and never reaches A's runs (those read the facts A owns).
    planted = await _post(
        client, b, f"/agents/{agent['id']}/memories", {"user_key": me, "key": "k", "value": 2}
    )
    assert (planted["owner_user_id"], planted["visibility"]) == (None, "tenant")


async def test_only_the_owner_changes_visibility_and_then_others_lose_sight(
    client: httpx.AsyncClient, a: Caller, b: Caller, tenant_a: Caller
) -> None:
    conversation = await _post(client, a, "/conversations", {"title": "Plans"})
    path = f"{API}/conversations/{conversation['id']}"

    for intruder in (b, tenant_a):  # another member; the tenant's admin key (no user)
        refused = await client.patch(path, headers=intruder.headers, json={"visibility": "private"})
        error_of(refused, 403, "forbidden")
    # B may still change what the tenant may change, but not who reads it.
    assert (await client.patch(path, headers=b.headers, json={"title": "B's"})).status_code == 200

    made_private = await client.patch(path, headers=a.headers, json={"visibility": "private"})
    assert made_private.json()["visibility"] == "private"
    for verb in ("GET", "DELETE"):
        error_of(await client.request(verb, path, headers=b.headers), 404, "not_found")
    error_of(await client.patch(path, headers=b.headers, json={"title": "x"}), 404, "not_found")
    assert conversation["id"] not in await _ids(client, b, "/conversations")
    assert conversation["id"] not in await _ids(client, tenant_a, "/conversations")


async def test_a_key_acting_for_no_user_cannot_make_private_objects(
    client: httpx.AsyncClient, tenant_a: Caller
) -> None:
    for path, body in {
        "/conversations": {"visibility": "private"},
        "/agents": {"name": "x", "system_prompt_template": "x", "is_public": False},
    }.items():
        refused = await client.post(f"{API}{path}", headers=tenant_a.headers, json=body)
        assert error_of(refused, 422, "invalid_input")["details"] == {"field": "visibility"}


async def test_is_public_and_visibility_are_one_setting(
    client: httpx.AsyncClient, a: Caller
) -> None:
    agent = await _post(
        client, a, "/agents", {"name": "P", "system_prompt_template": "x", "is_public": False}
    )
    assert (agent["visibility"], agent["is_public"]) == ("private", False)
    path = f"{API}/agents/{agent['id']}"
    public = await client.patch(path, headers=a.headers, json={"is_public": True})
    assert (public.json()["visibility"], public.json()["is_public"]) == ("tenant", True)
    contradiction = await client.patch(
        path, headers=a.headers, json={"is_public": True, "visibility": "private"}
    )
    error_of(contradiction, 422)
    bad_status = await client.patch(path, headers=a.headers, json={"status": "asleep"})
    error_of(bad_status, 422)
    busy = await client.patch(path, headers=a.headers, json={"status": "busy"})
    assert busy.json()["status"] == "busy"


async def test_another_users_private_agent_cannot_be_used_by_id_anywhere(
    client: httpx.AsyncClient, a: Caller, b: Caller, tenant_a: Caller
) -> None:
    """A private agent's id, guessed (ids are sequential), opens nothing: not a conversation
    with it, not a run, not a channel, not the OpenAI door."""
    agent = await _post(
        client,
        a,
        "/agents",
        {
            "name": "Mine",
            "system_prompt_template": "x",
            "visibility": "private",
            "channels": ["whatsapp", "api"],
        },
    )
    conversation = await client.post(
        f"{API}/conversations", headers=b.headers, json={"agent_id": agent["id"]}
    )
    error_of(conversation, 404, "not_found")
    run = await client.post(
        f"{API}/agents/{agent['id']}/runs", headers=b.headers, json={"input": "hi"}
    )
    error_of(run, 404, "not_found")
    channel = {
        "channel": "whatsapp",
        "name": "wa",
        "external_account_id": uuid.uuid4().hex,
        "agent_id": agent["id"],
        "app_secret_credential": "S",
        "access_token_credential": "T",
        "verify_token_credential": "V",
    }
    # Even A's own: a channel answers for the tenant, so only a tenant-wide agent may.
    for caller in (tenant_a, a):
        answer = await client.post(f"{API}/channels", headers=caller.headers, json=channel)
        assert answer.status_code in (403, 404), answer.text
    models = await client.get("/v1/models", headers=b.headers)
    assert f"agent-{agent['id']}" not in {m["id"] for m in models.json()["data"]}
    mine = await client.get("/v1/models", headers=a.headers)
    assert f"agent-{agent['id']}" in {m["id"] for m in mine.json()["data"]}
    chat = await client.post(
        "/v1/chat/completions",
        headers=b.headers,
        json={"model": f"agent-{agent['id']}", "messages": [{"role": "user", "content": "hi"}]},
    )
    assert chat.status_code == 404, chat.text


async def test_runs_in_another_users_private_conversation_are_404_and_hidden(
    client: httpx.AsyncClient, a: Caller, b: Caller, tenant_a: Caller
) -> None:
    agent = await _post(
        client, tenant_a, "/agents", {"name": "Shared", "system_prompt_template": "x"}
    )
    private = await _post(client, a, "/conversations", {"visibility": "private"})
    refused = await client.post(
        f"{API}/agents/{agent['id']}/runs",
        headers=b.headers,
        json={"input": "read me A's chat", "conversation_id": private["id"]},
    )
    error_of(refused, 404, "not_found")
    # A's own run there is queued, and only A sees its record.
    queued = await client.post(
        f"{API}/agents/{agent['id']}/runs",
        headers=a.headers,
        json={"input": "my secret question", "conversation_id": private["id"], "background": True},
    )
    assert queued.status_code == 202, queued.text
    execution = queued.json()["execution_id"]
    error_of(await client.get(f"{API}/executions/{execution}", headers=b.headers), 404)
    assert execution not in await _ids(client, b, "/executions")
    assert execution not in await _ids(client, tenant_a, "/executions", agent_id=agent["id"])
    assert execution in await _ids(client, a, "/executions")
    messages = await client.get(f"{API}/conversations/{private['id']}/messages", headers=b.headers)
    error_of(messages, 404, "not_found")


async def test_an_admin_lists_and_deletes_private_objects_without_reading_them(
    client: httpx.AsyncClient, a: Caller, b: Caller, tenant_a: Caller, fresh_db: URL
) -> None:
    admin = await _user(client, tenant_a, "admin")
    a_id = (await client.get(f"{API}/me", headers=a.headers)).json()["user_id"]
    secret_title = f"A's diagnosis {uuid.uuid4().hex}"
    conversation = await _post(
        client, a, "/conversations", {"title": secret_title, "visibility": "private"}
    )
    agent = await _post(
        client,
        a,
        "/agents",
        {"name": secret_title, "system_prompt_template": "x", "visibility": "private"},
    )
    shared = await _post(client, a, "/conversations", {"title": "shared"})
    memory = await _post(client, a, f"/agents/{agent['id']}/memories", {"key": "k", "value": "v"})

    # Reading is refused like for anyone else.
    path = f"{API}/conversations/{conversation['id']}"
    error_of(await client.get(path, headers=admin.headers), 404, "not_found")
    error_of(await client.get(f"{API}/agents/{agent['id']}", headers=admin.headers), 404)

    listed = await all_pages(client, f"{API}/private-objects", admin.headers, limit=1)
    assert all(
        set(item) == {"kind", "id", "owner_user_id", "visibility", "created_at"} for item in listed
    )
    assert {(i["kind"], i["id"], i["owner_user_id"]) for i in listed} == {
        ("chat_conversations", conversation["id"], a_id),
        ("agents", str(agent["id"]), a_id),
        ("agent_memory", memory["id"], a_id),
    }
    assert secret_title not in str(listed) and shared["id"] not in str(listed)
    only = await all_pages(client, f"{API}/private-objects", admin.headers, kind="agents")
    assert [i["id"] for i in only] == [str(agent["id"])]
    for query in ({"kind": "x"}, {"cursor": "not-a-cursor"}, {"owner_user_id": "x"}):
        error_of(
            await client.get(f"{API}/private-objects", headers=admin.headers, params=query), 422
        )
    # The audit log, which admins read, does not hold the title either.
    audit = await all_pages(
        client, f"{API}/audit-logs", admin.headers, resource_type="conversation"
    )
    assert secret_title not in str(audit)

    # Members may not list or delete; a tenant-wide object is not deleted here.
    error_of(await client.get(f"{API}/private-objects", headers=b.headers), 403, "forbidden")
    target = f"{API}/private-objects/chat_conversations/{conversation['id']}"
    error_of(await client.delete(target, headers=b.headers), 403, "forbidden")
    error_of(
        await client.delete(
            f"{API}/private-objects/chat_conversations/{shared['id']}", headers=admin.headers
        ),
        404,
        "not_found",
    )
    assert (await client.delete(target, headers=admin.headers)).status_code == 204
    error_of(await client.get(path, headers=a.headers), 404, "not_found")
    assert (
        await sql(
            fresh_db,
            "SELECT 1 FROM chat_messages WHERE conversation_id = $1",
            uuid.UUID(conversation["id"]),
        )
        == []
    )
    entry = await all_pages(client, f"{API}/audit-logs", admin.headers, action="delete_private")
    assert [e["resource_id"] for e in entry] == [conversation["id"]]
    assert secret_title not in str(entry)


async def test_api_keys_act_for_the_user_who_made_them_or_for_no_user(
    client: httpx.AsyncClient, tenant_a: Caller
) -> None:
    a = await _user(client, tenant_a, "admin")  # making keys is an admin's
    a_id = (await client.get(f"{API}/me", headers=a.headers)).json()["user_id"]
    private = await _post(client, a, "/conversations", {"visibility": "private"})

    users_key = await create_key(client, a.headers, "a's script")
    assert users_key["user_id"] == a_id
    as_a = Caller(api_key=users_key["api_key"], tenant_id=a.tenant_id)
    assert (await client.get(f"{API}/me", headers=as_a.headers)).json()["user_id"] == a_id
    assert private["id"] in await _ids(client, as_a, "/conversations")
    # ... and a key that key makes acts for A too.
    grandchild = await create_key(client, as_a.headers, "a's script's key")
    assert grandchild["user_id"] == a_id

    # The tenant's first key (from the CLI or a platform admin) and keys it makes act for
    # no user: tenant-wide data only.
    no_user = await create_key(client, tenant_a.headers, "ops")
    assert no_user["user_id"] is None
    ops = Caller(api_key=no_user["api_key"], tenant_id=tenant_a.tenant_id)
    assert (await client.get(f"{API}/me", headers=ops.headers)).json()["user_id"] is None
    assert private["id"] not in await _ids(client, ops, "/conversations")
    error_of(await client.get(f"{API}/conversations/{private['id']}", headers=ops.headers), 404)


async def test_deleting_a_user_deletes_their_private_things_and_keeps_shared_ones(
    client: httpx.AsyncClient, a: Caller, b: Caller, tenant_a: Caller
) -> None:
    a_id = (await client.get(f"{API}/me", headers=a.headers)).json()["user_id"]
    shared_agent = await _post(
        client, a, "/agents", {"name": "Team bot", "system_prompt_template": "x"}
    )
    shared = await _post(client, a, "/conversations", {"title": "team"})
    private = await _post(client, a, "/conversations", {"visibility": "private"})
    await _post(client, a, f"/agents/{shared_agent['id']}/memories", {"key": "k", "value": 1})

    assert (await client.delete(f"{API}/users/{a_id}", headers=tenant_a.headers)).status_code == 204

    agent = (await client.get(f"{API}/agents/{shared_agent['id']}", headers=b.headers)).json()
    assert (agent["owner_user_id"], agent["visibility"]) == (None, "tenant")
    conversation = await client.get(f"{API}/conversations/{shared['id']}", headers=b.headers)
    assert conversation.json()["owner_user_id"] is None
    admin = await _user(client, tenant_a, "admin")
    assert await all_pages(client, f"{API}/private-objects", admin.headers) == []
    assert private["id"] not in await _ids(client, tenant_a, "/conversations")
