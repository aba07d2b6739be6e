"""Shadow RAG: closing a conversation of an agent with `config.shadow_rag` files its transcript
(user and assistant turns) as a document of the tenant's "Shadow RAG" collection, which the
worker ingests until searchable; an agent without it leaves nothing behind."""

from orchestrator_service.bootstrap import running_jobs
from tests.agents.helpers import Service, create_scripted_agent, get_json, run_agent
from tests.helpers import PASSWORD, Caller, create_user, eventually, login
from tests.scripted_model import Call, Say, ScriptedModel

SHADOW = "Shadow RAG"
QUESTION = "When does the Miraflores shop open?"
ANSWER = "The Miraflores shop opens at nine in the morning."


async def test_closing_a_conversation_files_it_in_shadow_rag_only_when_the_agent_wants(
    vector_service: Service, model: ScriptedModel
) -> None:
    client, tenant = vector_service.client, vector_service.tenant
    keeper = await create_scripted_agent(client, tenant, model, config={"shadow_rag": True})
    forgetter = await create_scripted_agent(client, tenant, model, name="Forgetful")
    model.play(Call("get_current_time"), Say(ANSWER), Say("Shipping takes five days."))
    kept = (await run_agent(client, tenant, keeper["id"], QUESTION)).json()
    forgotten = (await run_agent(client, tenant, forgetter["id"], "How long is shipping?")).json()
    assert kept["status"] == forgotten["status"] == "completed"

    for run in (kept, forgotten):
        closed = await client.patch(
            f"/api/v1/conversations/{run['conversation_id']}",
            headers=tenant.headers,
            json={"status": "closed"},
        )
        assert closed.status_code == 200, closed.text
        assert closed.json()["status"] == "closed"

    async with running_jobs(vector_service.runtime):
        documents = await eventually(
            lambda: get_json(client, tenant, "/rag/documents"),
            lambda page: (
                bool(page["items"])
                and all(d["status"] in ("ready", "failed") for d in page["items"])
            ),
        )

    [document] = documents["items"]
    assert document["status"] == "ready", document
    assert document["collection"] == SHADOW
    assert document["filename"] == f"conversation-{kept['conversation_id']}.txt"
    assert document["metadata"] == {
        "conversation_id": kept["conversation_id"],
        "agent_id": keeper["id"],
    }
    assert document["chunk_count"] >= 1

    found = await client.post(
        "/api/v1/rag/search",
        headers=tenant.headers,
        json={"query": "shop opening hours", "collections": [SHADOW]},
    )
    assert found.status_code == 200, found.text
    results = found.json()["items"]
    assert {r["document_id"] for r in results} == {document["id"]}
    transcript = "\n".join(r["content"] for r in results)
    assert f"user: {QUESTION}" in transcript
    assert f"assistant: {ANSWER}" in transcript
    assert "tool:" not in transcript and "get_current_time" not in transcript

    # Closing it again files nothing more.
    again = await client.patch(
        f"/api/v1/conversations/{kept['conversation_id']}",
        headers=tenant.headers,
        json={"status": "closed"},
    )
    assert again.status_code == 200, again.text
    assert [d["id"] for d in (await get_json(client, tenant, "/rag/documents"))["items"]] == [
        document["id"]
    ]


async def test_a_private_conversation_is_never_filed_in_the_tenants_shadow_rag(
    vector_service: Service, model: ScriptedModel
) -> None:
    """The Shadow RAG collection is the whole tenant's: closing a user's private conversation
    files nothing; the same conversation, tenant-wide, is filed."""
    client, tenant = vector_service.client, vector_service.tenant
    keeper = await create_scripted_agent(client, tenant, model, config={"shadow_rag": True})
    await create_user(client, tenant.headers, "ines@example.com", password=PASSWORD)
    ines = Caller(api_key=await login(client, "ines@example.com"), tenant_id=tenant.tenant_id)

    filed = []
    for visibility in ("private", "tenant"):
        opened = await client.post(
            "/api/v1/conversations",
            headers=ines.headers,
            json={"agent_id": keeper["id"], "visibility": visibility},
        )
        assert opened.status_code == 201, opened.text
        path = f"/api/v1/conversations/{opened.json()['id']}"
        for role, content in (("user", "My account number is 42"), ("assistant", "Noted.")):
            added = await client.post(
                f"{path}/messages", headers=ines.headers, json={"role": role, "content": content}
            )
            assert added.status_code == 201, added.text
        closed = await client.patch(path, headers=ines.headers, json={"status": "closed"})
        assert closed.status_code == 200, closed.text
        documents = (await get_json(client, tenant, "/rag/documents"))["items"]
        filed.append([d["filename"] for d in documents])

    assert filed[0] == []
    assert len(filed[1]) == 1 and filed[1][0].startswith("conversation-")
