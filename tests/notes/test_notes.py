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


async def test_the_audit_log_records_a_private_note_without_its_content(
    client: httpx.AsyncClient, tenant_a: Caller
) -> None:
    """Found while probing: the audit log (read by admins) recorded a note's title, which
    let an admin read part of a member's private note."""
    alice = await member(client, tenant_a)
    body = {"title": "diagnóstico confidencial", "content": "texto privado"}
    note = (await client.post(API, json=body, headers=alice)).json()

    entries = await client.get(
        "/api/v1/audit-logs",
        params={"resource_type": "note", "resource_id": note["id"]},
        headers=tenant_a.headers,
    )

    assert entries.status_code == 200 and len(entries.json()["items"]) == 1
    assert "confidencial" not in entries.text and "privado" not in entries.text


async def test_a_nul_in_a_query_string_is_a_422(
    lenient_client: httpx.AsyncClient, tenant_a: Caller
) -> None:
    """Found while probing: PostgreSQL cannot hold NUL, and a search or filter holding one
    failed in the driver (a 500)."""
    alice = await member(lenient_client, tenant_a)
    for path, params in (
        (f"{API}/search", {"q": "a\x00b"}),
        (API, {"tag": "a\x00b"}),
        (API, {"category": "a\x00b"}),
        ("/api/v1/mail/search", {"q": "a\x00b"}),
        ("/api/v1/mail/messages", {"thread_key": "a\x00b"}),
        ("/api/v1/mail/messages", {"label": "a\x00b"}),
    ):
        response = await lenient_client.get(path, params=params, headers=alice)
        error_of(response, 422)


async def test_tool_arguments_the_domain_refuses_are_a_422_not_a_500(
    lenient_client: httpx.AsyncClient, tenant_a: Caller
) -> None:
    """Found while probing: arguments that pass a tool's JSON Schema but not the domain's
    rules (blank text, a NUL, a date that is not one) escaped as a 500."""
    alice = await member(lenient_client, tenant_a)
    tools = ["create_note", "search_notes", "create_event", "search_email"]
    agent = await lenient_client.post(
        "/api/v1/agents",
        json={"name": "probe", "system_prompt_template": "x", "enabled_tools": tools},
        headers=tenant_a.headers,
    )
    url = f"/api/v1/agents/{agent.json()['id']}/tools"
    for tool, arguments in (
        ("create_note", {"content": "   "}),
        ("search_notes", {"query": "a\x00b"}),
        ("search_email", {"query": "a\x00b"}),
        ("create_event", {"title": "x", "start": "tomorrow"}),
        ("create_event", {"title": "x", "start": "2030-01-01T10:00:00", "timezone": "../etc"}),
    ):
        body = {"arguments": arguments, "confirm": True}
        response = await lenient_client.post(f"{url}/{tool}/invoke", json=body, headers=alice)
        error_of(response, 422)
