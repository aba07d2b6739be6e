"""Notes: private by default, bilingual ranked search with highlights that cannot carry
markup, and the built-in tools."""

import httpx

from orchestrator_service.bootstrap import Runtime
from tests.helpers import Caller, error_of
from tests.workspace import member

API = "/api/v1/notes"


async def test_a_note_is_private_to_its_owner_and_another_member_gets_404(
    client: httpx.AsyncClient, tenant_a: Caller
) -> None:
    alice, bob = await member(client, tenant_a), await member(client, tenant_a)
    note = (await client.post(API, json={"content": "mi receta secreta"}, headers=alice)).json()

    assert note["visibility"] == "private"
    assert (await client.get(f"{API}/{note['id']}", headers=alice)).status_code == 200
    error_of(await client.get(f"{API}/{note['id']}", headers=bob), 404)
    error_of(await client.patch(f"{API}/{note['id']}", json={"title": "x"}, headers=bob), 404)
    error_of(await client.delete(f"{API}/{note['id']}", headers=bob), 404)
    assert (await client.get(API, headers=bob)).json()["items"] == []
    assert (await client.get(f"{API}/search", params={"q": "receta"}, headers=bob)).json() == []
    # The tenant's admin key acts for no user: it sees tenant-wide notes only.
    error_of(await client.get(f"{API}/{note['id']}", headers=tenant_a.headers), 404)


async def test_a_shared_note_is_readable_by_members_but_changed_only_by_its_owner(
    client: httpx.AsyncClient, tenant_a: Caller
) -> None:
    alice, bob = await member(client, tenant_a), await member(client, tenant_a)
    body = {"content": "shared plan", "visibility": "tenant"}
    note = (await client.post(API, json=body, headers=alice)).json()

    assert (await client.get(f"{API}/{note['id']}", headers=bob)).status_code == 200
    error_of(await client.patch(f"{API}/{note['id']}", json={"title": "x"}, headers=bob), 403)


async def test_search_ranks_spanish_and_english_stems_and_highlights(
    client: httpx.AsyncClient, tenant_a: Caller
) -> None:
    alice = await member(client, tenant_a)
    for body in (
        {"title": "Reuniones", "content": "Las reuniones del equipo son los lunes."},
        {"title": "Groceries", "content": "Buy apples. The meetings moved to Tuesday."},
        {"title": "Otra", "content": "Nada que ver aquí."},
    ):
        assert (await client.post(API, json=body, headers=alice)).status_code == 201

    spanish = (await client.get(f"{API}/search", params={"q": "reunión"}, headers=alice)).json()
    english = (await client.get(f"{API}/search", params={"q": "meeting"}, headers=alice)).json()

    assert [h["title"] for h in spanish] == ["Reuniones"]
    assert "<mark>" in spanish[0]["highlight"]
    assert [h["title"] for h in english] == ["Groceries"]
    assert spanish[0]["rank"] > 0


async def test_a_highlight_escapes_the_notes_markup(
    client: httpx.AsyncClient, tenant_a: Caller
) -> None:
    """Found while probing: a headline returns the document's own text, so an HTML note (or
    markdown holding tags) could put live markup into a client that shows highlights."""
    alice = await member(client, tenant_a)
    hostile = '<p>budget <img src=x onerror="alert(1)"> <script>steal()</script>&lt;b&gt;</p>'
    for content_type in ("html", "markdown"):
        body = {"content": hostile, "content_type": content_type, "title": content_type}
        assert (await client.post(API, json=body, headers=alice)).status_code == 201

    hits = (await client.get(f"{API}/search", params={"q": "budget"}, headers=alice)).json()

    assert len(hits) == 2
    for hit in hits:
        stripped = hit["highlight"].replace("<mark>", "").replace("</mark>", "")
        assert "<" not in stripped, hit["highlight"]
    html_hit = next(h for h in hits if h["title"] == "html")
    assert "steal" not in html_hit["highlight"]  # scripts are not searchable text
    assert html_hit["content"] == hostile  # stored as given


async def test_bad_searches_and_bodies_are_clear_4xx(
    client: httpx.AsyncClient, tenant_a: Caller
) -> None:
    alice = await member(client, tenant_a)
    error_of(await client.get(f"{API}/search", params={"q": "   "}, headers=alice), 422)
    odd = await client.get(f"{API}/search", params={"q": '"unterminated & | ! :*'}, headers=alice)
    assert odd.status_code == 200 and odd.json() == []
    error_of(
        await client.post(API, json={"content": "x", "content_type": "pdf"}, headers=alice), 422
    )
    error_of(await client.post(API, json={"content": "x", "tags": ["t"] * 51}, headers=alice), 422)
    error_of(await client.get(f"{API}/not-a-uuid", headers=alice), 422)
    # A key acting for no user cannot own a private note.
    error_of(await client.post(API, json={"content": "x"}, headers=tenant_a.headers), 422)


async def test_the_note_tools_write_as_the_agent_for_the_acting_user(
    client: httpx.AsyncClient, tenant_a: Caller, runtime: Runtime
) -> None:
    alice, bob = await member(client, tenant_a), await member(client, tenant_a)
    agent = await client.post(
        "/api/v1/agents",
        json={
            "name": "notetaker",
            "system_prompt_template": "x",
            "enabled_tools": ["create_note", "search_notes"],
        },
        headers=tenant_a.headers,
    )
    agent_id = agent.json()["id"]
    invoke = f"/api/v1/agents/{agent_id}/tools"

    made = await client.post(
        f"{invoke}/create_note/invoke",
        json={"arguments": {"content": "Llamar al dentista el viernes", "tags": ["salud"]}},
        headers=alice,
    )
    assert made.status_code == 200, made.text
    note = made.json()["output"]["note"]
    assert note["agent_id"] == agent_id and note["visibility"] == "private"

    found = await client.post(
        f"{invoke}/search_notes/invoke", json={"arguments": {"query": "dentista"}}, headers=alice
    )
    hidden = await client.post(
        f"{invoke}/search_notes/invoke", json={"arguments": {"query": "dentista"}}, headers=bob
    )
    assert [r["id"] for r in found.json()["output"]["results"]] == [note["id"]]
    assert hidden.json()["output"]["results"] == []
