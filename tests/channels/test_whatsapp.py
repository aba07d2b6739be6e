"""WhatsApp Business Cloud API: webhook verification, signed deliveries (anything unsigned or
wrongly signed is refused and nothing is stored), text, media and status events, replies
through the Graph API stand-in with the vault's token, one answer per provider message id,
messages of a thread answered in order, the 24-hour window, and provider failures."""

import asyncio
import json
import time

import httpx

from tests.channels.conftest import (
    ACCESS_TOKEN,
    APP_SECRET,
    PHONE_NUMBER_ID,
    VERIFY_TOKEN,
    Served,
    connect,
)
from tests.channels.graph_standin import (
    GraphStandIn,
    sign,
    whatsapp_image,
    whatsapp_messages,
    whatsapp_status,
    whatsapp_text,
)
from tests.helpers import new_tenant, sql
from tests.scripted_model import Say, ScriptedModel

WA_ID = "51987654321"


async def deliver(
    client: httpx.AsyncClient, connection: dict, payload: dict, *, secret: str | None = APP_SECRET
) -> httpx.Response:
    """POST a delivery to the connection's webhook, signed as Meta signs it."""
    body = json.dumps(payload).encode()
    headers = {"Content-Type": "application/json"}
    if secret is not None:
        headers["X-Hub-Signature-256"] = sign(body, secret)
    return await client.post(connection["webhook_path"], content=body, headers=headers)


async def deliveries(served: Served) -> list[dict]:
    """The stored deliveries, oldest first."""
    rows = await sql(
        served.runtime.databases.metadata,
        "SELECT provider_message_id, kind, status, outcome, reply_message_id "
        "FROM channel_deliveries ORDER BY sent_at, created_at",
    )
    return [dict(r) for r in rows]


async def messages(served: Served) -> list[tuple[str, str]]:
    """(role, content) of every stored chat message, oldest first."""
    rows = await sql(
        served.runtime.databases.metadata,
        "SELECT role, content FROM chat_messages ORDER BY created_at",
    )
    return [(r["role"], r["content"]) for r in rows]


async def test_verification_echoes_the_challenge_only_for_the_right_token(
    served: Served, whatsapp: dict
) -> None:
    query = {
        "hub.mode": "subscribe",
        "hub.verify_token": VERIFY_TOKEN,
        "hub.challenge": "1158201444",
    }

    right = await served.client.get(whatsapp["webhook_path"], params=query)
    wrong = await served.client.get(
        whatsapp["webhook_path"], params={**query, "hub.verify_token": "guess"}
    )
    unknown = await served.client.get(
        "/webhooks/meta/00000000-0000-0000-0000-000000000000", params=query
    )

    assert (right.status_code, right.text) == (200, "1158201444")
    assert wrong.status_code == 403 and "1158201444" not in wrong.text
    assert unknown.status_code == 404


async def test_a_text_message_is_answered_through_the_graph_api(
    served: Served, whatsapp: dict, graph: GraphStandIn, model: ScriptedModel
) -> None:
    model.play(Say("¡Hola Rosa! Abrimos a las nueve."))
    payload = whatsapp_text(PHONE_NUMBER_ID, WA_ID, "wamid.IN1", "¿A qué hora abren?")

    response = await deliver(served.client, whatsapp, payload)

    assert response.status_code == 200, response.text
    assert response.json() == {"received": 1}
    [sent] = graph.sent
    assert sent.path == f"/v21.0/{PHONE_NUMBER_ID}/messages"
    assert sent.authorization == f"Bearer {ACCESS_TOKEN}"
    assert sent.body == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": WA_ID,
        "type": "text",
        "text": {"preview_url": False, "body": "¡Hola Rosa! Abrimos a las nueve."},
    }
    assert model.bodies[0]["messages"][-1] == {"role": "user", "content": "¿A qué hora abren?"}
    assert await deliveries(served) == [
        {
            "provider_message_id": "wamid.IN1",
            "kind": "message",
            "status": "answered",
            "outcome": None,
            "reply_message_id": "wamid.OUT1",
        },
    ]
    conversations = await sql(
        served.runtime.databases.metadata,
        "SELECT channel, display_name, title FROM chat_conversations",
    )
    assert [tuple(c) for c in conversations] == [("whatsapp", WA_ID, "Rosa")]


async def test_a_retried_delivery_is_processed_once(
    served: Served, whatsapp: dict, graph: GraphStandIn, model: ScriptedModel
) -> None:
    model.play(Say("Hola."))
    payload = whatsapp_text(PHONE_NUMBER_ID, WA_ID, "wamid.IN1", "Hola")

    first = await deliver(served.client, whatsapp, payload)
    again = await asyncio.gather(*(deliver(served.client, whatsapp, payload) for _ in range(3)))

    assert first.json() == {"received": 1}
    assert [r.json() for r in again] == [{"received": 0}] * 3
    assert len(graph.sent) == 1 and len(model.bodies) == 1
    assert len(await deliveries(served)) == 1


async def test_unsigned_or_wrongly_signed_deliveries_are_refused_and_nothing_is_stored(
    served: Served, whatsapp: dict, graph: GraphStandIn, model: ScriptedModel
) -> None:
    payload = whatsapp_text(PHONE_NUMBER_ID, WA_ID, "wamid.IN1", "Hola")
    body = json.dumps(payload).encode()

    unsigned = await deliver(served.client, whatsapp, payload, secret=None)
    wrong_key = await deliver(served.client, whatsapp, payload, secret="not-the-app-secret")
    tampered = await served.client.post(
        whatsapp["webhook_path"],
        content=body.replace(b"Hola", b"Hole"),
        headers={"X-Hub-Signature-256": sign(body, APP_SECRET)},
    )
    bare = await served.client.post(
        whatsapp["webhook_path"],
        content=body,
        headers={"X-Hub-Signature-256": sign(body, APP_SECRET).removeprefix("sha256=")},
    )

    for response in (unsigned, wrong_key, tampered, bare):
        assert response.status_code == 403, response.text
        assert response.json()["error"]["code"] == "forbidden"
        assert APP_SECRET not in response.text
    assert await deliveries(served) == []
    assert await messages(served) == []
    assert graph.sent == [] and model.bodies == []


async def test_statuses_are_recorded_and_media_is_answered(
    served: Served, whatsapp: dict, graph: GraphStandIn, model: ScriptedModel
) -> None:
    model.play(Say("Gracias por la foto."))

    await deliver(served.client, whatsapp, whatsapp_image(PHONE_NUMBER_ID, WA_ID, "wamid.IMG"))
    status = await deliver(
        served.client, whatsapp, whatsapp_status(PHONE_NUMBER_ID, WA_ID, "wamid.OUT1", "read")
    )

    assert status.json() == {"received": 1}
    assert model.bodies[0]["messages"][-1]["content"] == "[The user sent an image without text]"
    assert [
        (d["provider_message_id"], d["kind"], d["status"]) for d in await deliveries(served)
    ] == [
        ("wamid.IMG", "message", "answered"),
        ("wamid.OUT1", "status", "recorded"),
    ]
    assert len(graph.sent) == 1


async def test_messages_of_a_thread_are_answered_in_order(
    served: Served, whatsapp: dict, graph: GraphStandIn, model: ScriptedModel
) -> None:
    model.play(Say("Uno."), Say("Dos."), Say("Tres."))
    now = int(time.time())
    batch = whatsapp_messages(
        PHONE_NUMBER_ID,
        WA_ID,
        [
            {
                "from": WA_ID,
                "id": f"wamid.{n}",
                "timestamp": str(now - 10 + n),
                "type": "text",
                "text": {"body": word},
            }
            for n, word in ((2, "second"), (1, "first"))
        ],
    )
    third = whatsapp_text(PHONE_NUMBER_ID, WA_ID, "wamid.3", "third", at=now)

    # Two deliveries at once, as two replicas would take them: one thread, one at a time.
    await asyncio.gather(
        deliver(served.client, whatsapp, batch), deliver(served.client, whatsapp, third)
    )

    asked = [body["messages"][-1]["content"] for body in model.bodies]
    assert sorted(asked) == ["first", "second", "third"]
    assert asked.index("first") < asked.index("second")  # by the provider's timestamps
    # One message at a time: each answer follows its own question, never another's.
    stored = await messages(served)
    assert [role for role, _ in stored] == ["user", "assistant"] * 3
    assert [text for role, text in stored if role == "user"] == asked
    assert [s.body["text"]["body"] for s in graph.sent] == ["Uno.", "Dos.", "Tres."]


async def test_outside_the_24_hour_window_a_template_is_sent_or_the_reason_recorded(
    served: Served, whatsapp: dict, graph: GraphStandIn, model: ScriptedModel
) -> None:
    old = time.time() - 25 * 3600
    await deliver(
        served.client,
        whatsapp,
        whatsapp_text(PHONE_NUMBER_ID, WA_ID, "wamid.OLD", "¿Hola?", at=old),
    )
    [template] = graph.sent
    assert template.body == {
        "messaging_product": "whatsapp",
        "to": WA_ID,
        "type": "template",
        "template": {"name": "hello_again", "language": {"code": "es"}},
    }

    agent_id = whatsapp["agent_id"]
    bare = await connect(served.client, served.tenant, agent_id, account="2233445566")
    await deliver(
        served.client, bare.json(), whatsapp_text("2233445566", WA_ID, "wamid.OLD2", "¿?", at=old)
    )

    outcomes = {
        d["provider_message_id"]: (d["status"], d["outcome"]) for d in await deliveries(served)
    }
    assert outcomes["wamid.OLD"][0] == "answered"
    assert outcomes["wamid.OLD2"] == (
        "not_sent",
        "outside the 24-hour customer-service window, and no template is configured",
    )
    assert len(graph.sent) == 1 and model.bodies == []


async def test_rate_limits_are_retried_and_refusals_recorded(
    served: Served, whatsapp: dict, graph: GraphStandIn, model: ScriptedModel, caplog
) -> None:
    model.play(Say("Uno."), Say("Dos."))
    graph.refuse((429, 130429))
    await deliver(served.client, whatsapp, whatsapp_text(PHONE_NUMBER_ID, WA_ID, "wamid.A", "a"))
    graph.refuse((400, 131047), (400, 131047))
    await deliver(served.client, whatsapp, whatsapp_text(PHONE_NUMBER_ID, WA_ID, "wamid.B", "b"))

    first, second = await deliveries(served)
    assert (first["status"], first["reply_message_id"]) == ("answered", "wamid.OUT2")
    assert second["status"] == "failed"
    assert second["outcome"].startswith("channel_send_failed: The Graph API at 127.0.0.1 refused")
    assert ACCESS_TOKEN not in second["outcome"]
    assert "channel delivery" in caplog.text and ACCESS_TOKEN not in caplog.text


async def test_a_connection_needs_an_agent_that_lists_the_channel_and_is_the_tenants(
    served: Served, whatsapp: dict, graph: GraphStandIn, model: ScriptedModel
) -> None:
    agent_id = whatsapp["agent_id"]
    taken = await connect(served.client, served.tenant, agent_id)
    assert taken.status_code == 409, taken.text

    other = await new_tenant(served.runtime, "channels-other")
    assert (await connect(served.client, other, agent_id, account="998")).status_code == 404
    shown = await served.client.get(f"/api/v1/channels/{whatsapp['id']}", headers=other.headers)
    assert shown.status_code == 404
    listed = await served.client.get("/api/v1/channels", headers=other.headers)
    assert listed.json()["items"] == []

    update = await served.client.patch(
        f"/api/v1/agents/{agent_id}", headers=served.tenant.headers, json={"channels": ["web"]}
    )
    assert update.status_code == 200
    refused = await connect(served.client, served.tenant, agent_id, account="999")
    assert refused.status_code == 422
    assert "does not list the channel 'whatsapp'" in refused.json()["error"]["message"]
    # An agent that stops listing the channel does not answer on it.
    await deliver(served.client, whatsapp, whatsapp_text(PHONE_NUMBER_ID, WA_ID, "wamid.X", "?"))
    [delivery] = await deliveries(served)
    assert (delivery["status"], delivery["outcome"]) == (
        "not_sent",
        f"agent {agent_id} does not list this channel",
    )
    assert graph.sent == [] and model.bodies == []


async def test_an_agent_that_answers_a_connection_cannot_be_deleted_under_it(
    served: Served, whatsapp: dict
) -> None:
    agent_path = f"/api/v1/agents/{whatsapp['agent_id']}"

    refused = await served.client.delete(agent_path, headers=served.tenant.headers)
    assert refused.status_code == 409, refused.text
    assert "answers channel connections" in refused.json()["error"]["message"]

    gone = await served.client.delete(
        f"/api/v1/channels/{whatsapp['id']}", headers=served.tenant.headers
    )
    assert gone.status_code == 204
    assert (
        await served.client.delete(agent_path, headers=served.tenant.headers)
    ).status_code == 204


async def test_odd_text_and_names_are_answered_not_stuck(
    served: Served, whatsapp: dict, graph: GraphStandIn, model: ScriptedModel
) -> None:
    model.play(Say("Hola."), Say("Linda foto."))
    payload = whatsapp_text(
        PHONE_NUMBER_ID, WA_ID, "wamid.NUL", "Ho\x00la", name="\x00" + "R" * 600
    )
    image = whatsapp_image(PHONE_NUMBER_ID, WA_ID, "wamid.IMG\x00")
    image["entry"][0]["changes"][0]["value"]["messages"][0]["image"]["filename"] = "a\x00.jpg"

    response = await deliver(served.client, whatsapp, payload)
    odd_image = await deliver(served.client, whatsapp, image)
    garbage = await served.client.post(
        whatsapp["webhook_path"],
        content=b"[1, 2",
        headers={"X-Hub-Signature-256": sign(b"[1, 2", APP_SECRET)},
    )

    assert response.json() == {"received": 1}
    assert odd_image.json() == {"received": 1}
    assert model.bodies[0]["messages"][-1]["content"] == "Hola"
    assert [d["status"] for d in await deliveries(served)] == ["answered", "answered"]
    assert garbage.status_code == 422


async def test_runs_are_recorded_in_the_contacts_session_and_an_inactive_agent_is_silent(
    served: Served, whatsapp: dict, graph: GraphStandIn, model: ScriptedModel
) -> None:
    model.play(Say("Hola."))
    first = whatsapp_text(PHONE_NUMBER_ID, WA_ID, "wamid.S1", "Hola")
    assert (await deliver(served.client, whatsapp, first)).status_code == 200
    database = served.runtime.databases.metadata
    [row] = await sql(
        database,
        "SELECT e.session_id, t.id AS thread FROM agent_execution.executions e, channel_threads t",
    )
    assert row["session_id"] == row["thread"]

    await sql(database, "UPDATE agents SET is_active = false")
    second = whatsapp_text(PHONE_NUMBER_ID, WA_ID, "wamid.S2", "¿Sigues ahí?")
    assert (await deliver(served.client, whatsapp, second)).status_code == 200

    last = (await deliveries(served))[-1]
    assert (last["provider_message_id"], last["status"]) == ("wamid.S2", "failed")
    assert last["outcome"].startswith("agent_inactive: ")
    assert len(graph.sent) == 1
