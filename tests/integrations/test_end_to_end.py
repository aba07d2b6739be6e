"""Issue 17's first "Must show", end to end: as one user, connect a (stand-in) Google account,
sync its mail and calendar through the job queue, then run an agent that answers a question
needing an email, an event and a note, and that writes a note; then, as a second user of the
same tenant, reach none of the first user's private data, through the API or through the
agent's tools."""

import json
import uuid

import pytest

from orchestrator_service.bootstrap import running_jobs
from tests.agents.helpers import create_scripted_agent, run_agent, store_llm_key
from tests.helpers import Caller, eventually
from tests.integrations.helpers import API, Served
from tests.integrations.standin import ProviderStandIn
from tests.scripted_model import Call, Calls, Say, ScriptedModel

QUESTION = "¿Qué tengo pendiente con Tejidos Andinos esta semana?"
TOOLS = ["search_email", "list_events", "search_notes", "create_note"]
# What the agent's tools must bring back for Ana, and never for Bruno.
INVOICE = "importe de 1.250 EUR"
MEETING = "Reunión con Tejidos Andinos"
PREFERENCE = "prefiere las reuniones por la mañana"
ANSWER = (
    "Tienes la factura de Tejidos Andinos (1.250 EUR, vence el 15 de diciembre) y una reunión "
    "con ellos el miércoles 3 a las 10:00; recuerda que prefieren las mañanas."
)


def _script(model: ScriptedModel, summary: str) -> None:
    """The model looks up mail, calendar and notes at once, writes a note, then answers."""
    model.play(
        Calls(
            [
                Call("search_email", {"query": "Tejidos Andinos"}, call_id="call_mail"),
                Call(
                    "list_events",
                    {"start": "2026-12-01T00:00:00+00:00", "end": "2026-12-08T00:00:00+00:00"},
                    call_id="call_events",
                ),
                Call("search_notes", {"query": "Tejidos Andinos"}, call_id="call_notes"),
            ]
        ),
        Call(
            "create_note",
            {"title": "Pendiente con Tejidos Andinos", "content": summary, "tags": ["proveedor"]},
            call_id="call_write",
        ),
        Say(ANSWER),
    )


def _tool_results(body: dict) -> dict[str, str]:
    """The tool messages the service sent the model, by call id, as readable JSON text."""
    return {
        m["tool_call_id"]: json.dumps(json.loads(m["content"]), ensure_ascii=False)
        for m in body["messages"]
        if m["role"] == "tool"
    }


def _everything_sent(bodies: list[dict]) -> str:
    """Every message the model was sent, tool results decoded, as one text."""
    texts = []
    for body in bodies:
        texts.append(json.dumps(body, ensure_ascii=False))
        texts.extend(_tool_results(body).values())
    return "\n".join(texts)


async def _items(served: Served, caller: Caller, path: str, **params: str) -> str:
    response = await served.client.get(f"/api/v1{path}", headers=caller.headers, params=params)
    assert response.status_code == 200, response.text
    return response.text


@pytest.fixture
async def agent(served: Served, model: ScriptedModel) -> dict:
    """A tenant-wide agent on the scripted model with the workspace tools."""
    await store_llm_key(served.client, served.admin)
    return await create_scripted_agent(
        served.client,
        served.admin,
        model,
        system_prompt_template="You are a personal assistant.",
        enabled_tools=TOOLS,
    )


async def test_one_user_connects_google_syncs_and_asks_the_agent_another_reaches_nothing(
    served: Served,
    providers: ProviderStandIn,
    model: ScriptedModel,
    agent: dict,
    ana: Caller,
    bruno: Caller,
) -> None:
    """Ana: connect Gmail and Google Calendar, sync them as jobs, keep a note, and ask the
    agent, which finds the email, the event and the note and writes a note. Bruno (same
    tenant): 404 on each of Ana's objects, nothing of hers in any list or search, and the same
    agent's tools, run for him, bring back none of it."""
    providers.add_gmail(
        "Factura FA-2026-118 de Tejidos Andinos",
        f"Hola Ana, adjuntamos la factura de noviembre por un {INVOICE}. Vence el 15 de diciembre.",
        sender="Tejidos Andinos <cobros@tejidosandinos.example>",
    )
    providers.add_gmail("Boletín semanal", "Novedades de la semana", sender="news@example.com")
    providers.add_event(
        MEETING,
        "2026-12-03T10:00:00+01:00",
        "2026-12-03T11:00:00+01:00",
        location="Oficina de Ana",
        description="Revisar la factura de noviembre",
    )
    note = await served.client.post(
        "/api/v1/notes",
        headers=ana.headers,
        json={
            "title": "Tejidos Andinos",
            "content": f"El contacto de Tejidos Andinos {PREFERENCE}.",
        },
    )
    assert note.status_code == 201, note.text

    async with running_jobs(served.runtime):
        gmail = await served.connect(ana, providers, "gmail")
        calendar = await served.connect(ana, providers, "google_calendar")
        for integration in (gmail, calendar):
            synced = await eventually(
                lambda i=integration: served.get(ana, i["id"]),
                lambda state: state["sync"]["status"] in ("done", "failed"),
            )
            assert synced["sync"]["status"] == "done", synced
    assert len(await served.emails(gmail["id"])) == 2
    assert len(await served.events(calendar["id"])) == 1

    # Ana asks; the agent looks in her mail, calendar and notes, then writes a note.
    _script(model, "Factura 1.250 EUR (vence 15/12); reunión el 3/12 a las 10:00.")
    # In a conversation private to Ana: a tenant-wide one would show the whole tenant her data.
    response = await run_agent(served.client, ana, agent["id"], QUESTION, visibility="private")
    assert response.status_code == 200, response.text
    assert response.json()["output"] == ANSWER
    results = _tool_results(model.bodies[1])
    assert INVOICE in results["call_mail"]
    assert MEETING in results["call_events"] and "Oficina de Ana" in results["call_events"]
    assert PREFERENCE in results["call_notes"]
    written = json.loads(_tool_results(model.bodies[2])["call_write"])
    assert written["status"] == "created"
    notes = await _items(served, ana, "/notes/search", q="pendiente Tejidos")
    assert written["note"]["id"] in notes

    # What of Ana's exists, to look for as Bruno.
    ana_ids = [gmail["id"], calendar["id"], written["note"]["id"], note.json()["id"]]
    ana_ids += [str(e.id) for e in (await served.emails(gmail["id"])).values()]
    ana_ids += [str(e.id) for e in (await served.events(calendar["id"])).values()]
    ana_texts = ["Tejidos", INVOICE, MEETING, PREFERENCE, "1.250"]

    # Bruno, same tenant: every object of Ana's is the 404 of a missing one.
    missing = str(uuid.uuid4())
    for path in (
        f"{API}/{gmail['id']}",
        f"{API}/{calendar['id']}",
        f"/api/v1/notes/{note.json()['id']}",
        f"/api/v1/notes/{written['note']['id']}",
        *(f"/api/v1/mail/messages/{e.id}" for e in (await served.emails(gmail["id"])).values()),
        *(
            f"/api/v1/calendar/events/{e.id}"
            for e in (await served.events(calendar["id"])).values()
        ),
    ):
        got = await served.client.get(path, headers=bruno.headers)
        absent = await served.client.get(
            path.rsplit("/", 1)[0] + f"/{missing}", headers=bruno.headers
        )
        assert got.status_code == 404, (path, got.text)
        assert got.json() == absent.json()
    refused = await served.client.post(f"{API}/{gmail['id']}/sync", headers=bruno.headers)
    assert refused.status_code == 404
    assert (
        await served.client.delete(f"{API}/{gmail['id']}", headers=bruno.headers)
    ).status_code == 404

    # ...and no list or search shows him any of it.
    views = [
        await _items(served, bruno, "/integrations"),
        await _items(served, bruno, "/notes"),
        await _items(served, bruno, "/notes/search", q="Tejidos Andinos"),
        await _items(served, bruno, "/mail/messages"),
        await _items(served, bruno, "/mail/search", q="Tejidos Andinos factura"),
        await _items(served, bruno, "/calendar/events"),
        await _items(
            served,
            bruno,
            "/calendar/occurrences",
            start="2026-12-01T00:00:00Z",
            end="2026-12-31T00:00:00Z",
        ),
    ]
    for view in views:
        for secret in ana_ids + ana_texts:
            assert secret not in view, (secret, view[:300])

    # The same agent, run for Bruno: its tools find nothing of Ana's.
    before = len(model.requests)
    _script(model, "Nada pendiente.")
    response = await run_agent(served.client, bruno, agent["id"], QUESTION)
    assert response.status_code == 200, response.text
    sent_to_model = _everything_sent([r.body for r in model.requests[before:]])
    for secret in ana_ids + ana_texts[1:]:
        assert secret not in sent_to_model, secret
    bruno_results = _tool_results(model.requests[before + 1].body)
    assert json.loads(bruno_results["call_mail"])["results"] == []
    assert json.loads(bruno_results["call_notes"])["results"] == []
    assert MEETING not in bruno_results["call_events"]

    # Ana still has everything, and Bruno's note is his alone.
    assert written["note"]["id"] in await _items(served, ana, "/notes")
    assert "Nada pendiente" not in await _items(served, ana, "/notes")
