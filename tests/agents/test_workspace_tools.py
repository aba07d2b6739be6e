"""An agent run that needs the user's email, calendar and notes, and writes a note: the tools
act for the user who runs the agent, and another member's run finds none of it."""

import json

import httpx

from tests.agents.helpers import create_scripted_agent
from tests.helpers import Caller
from tests.scripted_model import Call, Say, ScriptedModel
from tests.workspace import member

EML = (
    b"From: Jose <jose@example.com>\r\nTo: ana@example.com\r\nSubject: Presupuesto final\r\n"
    b"Message-ID: <p1@example.com>\r\n\r\nEl presupuesto aprobado es de 12.000 euros.\r\n"
)
TOOLS = ["search_email", "list_events", "search_notes", "create_note", "create_event"]


def _script(model: ScriptedModel) -> None:
    model.play(
        Call("search_email", {"query": "presupuesto"}, call_id="c1"),
        Call(
            "list_events",
            {"start": "2030-03-01T00:00:00Z", "end": "2030-03-08T00:00:00Z"},
            call_id="c2",
        ),
        Call("search_notes", {"query": "proveedor"}, call_id="c3"),
        Call(
            "create_note",
            {"content": "Reunión con Jose: presupuesto 12.000 €", "tags": ["resumen"]},
            call_id="c4",
        ),
        Call("create_event", {"title": "Firma", "start": "2030-03-05T10:00:00Z"}, call_id="c5"),
        Say("El presupuesto es de 12.000 euros; la revisión es el 3 de marzo."),
    )


async def _tool_results(client: httpx.AsyncClient, headers: dict, conversation_id: str) -> dict:
    page = await client.get(
        f"/api/v1/conversations/{conversation_id}/messages", params={"limit": 200}, headers=headers
    )
    assert page.status_code == 200, page.text
    return {
        m["tool_call_id"]: json.loads(m["content"])
        for m in page.json()["items"]
        if m["role"] == "tool"
    }


async def test_a_run_reads_and_writes_the_acting_users_workspace_only(
    client: httpx.AsyncClient, tenant_a: Caller, llm_key: str, model: ScriptedModel
) -> None:
    alice, bob = await member(client, tenant_a), await member(client, tenant_a)
    agent = await create_scripted_agent(client, tenant_a, model, enabled_tools=TOOLS)
    imported = await client.post(
        "/api/v1/mail/import/eml", files={"file": ("p.eml", EML)}, headers=alice
    )
    assert imported.status_code == 201, imported.text
    event = {"title": "Revisión con proveedor", "start": "2030-03-03T09:00:00Z"}
    assert (
        await client.post("/api/v1/calendar/events", json=event, headers=alice)
    ).status_code == 201
    note = {"content": "El proveedor pide pago a 30 días", "title": "Proveedor"}
    assert (await client.post("/api/v1/notes", json=note, headers=alice)).status_code == 201

    _script(model)
    run = await client.post(
        f"/api/v1/agents/{agent['id']}/runs",
        json={"input": "¿Y el presupuesto?", "visibility": "private"},
        headers=alice,
    )
    assert run.status_code == 200, run.text
    results = await _tool_results(client, alice, run.json()["conversation_id"])

    assert results["c1"]["results"][0]["subject"] == "Presupuesto final"
    assert [o["title"] for o in results["c2"]["items"]] == ["Revisión con proveedor"]
    assert results["c3"]["results"][0]["title"] == "Proveedor"
    assert results["c4"]["note"]["agent_id"] == agent["id"]
    # create_event waits for the user: the run pauses on it, and nothing is created yet.
    assert "c5" not in results and run.json()["status"] == "awaiting_confirmation"
    notes = (await client.get("/api/v1/notes", params={"tag": "resumen"}, headers=alice)).json()
    assert notes["items"][0]["visibility"] == "private"
    events = (await client.get("/api/v1/calendar/events", headers=alice)).json()["items"]
    assert [e["title"] for e in events] == ["Revisión con proveedor"]

    # The same run as another member of the tenant reaches none of it.
    _script(model)
    run = await client.post(
        f"/api/v1/agents/{agent['id']}/runs",
        json={"input": "¿Y el presupuesto?", "visibility": "private"},
        headers=bob,
    )
    assert run.status_code == 200, run.text
    results = await _tool_results(client, bob, run.json()["conversation_id"])
    assert results["c1"]["results"] == [] and results["c2"]["items"] == []
    assert results["c3"]["results"] == []
    # Bob's note is his own: Alice still has one.
    assert results["c4"]["note"]["owner_user_id"] != notes["items"][0]["owner_user_id"]
    mine = (await client.get("/api/v1/notes", params={"tag": "resumen"}, headers=alice)).json()
    assert len(mine["items"]) == 1
