"""Facebook Messenger and Instagram through the Messenger Platform: the same signature scheme,
`page` and `instagram` deliveries, replies to the sender's id through the Graph API, echoes of
our own messages ignored, a delivery for another account left alone."""

import json

import pytest

from tests.channels.conftest import ACCESS_TOKEN, APP_SECRET, PAGE_ID, Served, connect
from tests.channels.graph_standin import GraphStandIn, messenger_text, sign
from tests.helpers import sql
from tests.scripted_model import Say, ScriptedModel

PSID = "6789012345678901"


@pytest.mark.parametrize(("channel", "kind"), [("facebook", "page"), ("instagram", "instagram")])
async def test_a_message_is_answered_to_its_sender(
    served: Served, whatsapp: dict, graph: GraphStandIn, model: ScriptedModel, channel, kind
) -> None:
    response = await connect(
        served.client, served.tenant, whatsapp["agent_id"], channel=channel, account=PAGE_ID
    )
    assert response.status_code == 201, response.text
    connection = response.json()
    model.play(Say("Hi! We open at nine."))
    payload = messenger_text(kind, PAGE_ID, PSID, "m_IN1", "When do you open?")
    echo = messenger_text(kind, PAGE_ID, PAGE_ID, "m_ECHO", "Hi! We open at nine.")
    echo["entry"][0]["messaging"][0]["message"]["is_echo"] = True
    elsewhere = messenger_text(kind, "5550001111", PSID, "m_ELSE", "Not for this page")

    for body in (payload, echo, elsewhere, payload):
        raw = json.dumps(body).encode()
        answer = await served.client.post(
            connection["webhook_path"],
            content=raw,
            headers={"X-Hub-Signature-256": sign(raw, APP_SECRET)},
        )
        assert answer.status_code == 200, answer.text

    [sent] = graph.sent
    assert sent.path == f"/v21.0/{PAGE_ID}/messages"
    assert sent.authorization == f"Bearer {ACCESS_TOKEN}"
    assert sent.body == {
        "recipient": {"id": PSID},
        "messaging_type": "RESPONSE",
        "message": {"text": "Hi! We open at nine."},
    }
    rows = await sql(
        served.runtime.databases.metadata,
        "SELECT provider_message_id, status, reply_message_id FROM channel_deliveries",
    )
    assert [tuple(r) for r in rows] == [("m_IN1", "answered", "m_OUT1")]
    conversations = await sql(
        served.runtime.databases.metadata, "SELECT channel, display_name FROM chat_conversations"
    )
    assert [tuple(c) for c in conversations] == [(channel, PSID)]


async def test_an_unsigned_messenger_delivery_is_refused(
    served: Served, whatsapp: dict, graph: GraphStandIn, model: ScriptedModel
) -> None:
    connection = (
        await connect(
            served.client, served.tenant, whatsapp["agent_id"], channel="facebook", account=PAGE_ID
        )
    ).json()
    raw = json.dumps(messenger_text("page", PAGE_ID, PSID, "m_IN1", "Hi")).encode()

    response = await served.client.post(connection["webhook_path"], content=raw)

    assert response.status_code == 403
    rows = await sql(served.runtime.databases.metadata, "SELECT 1 FROM channel_deliveries")
    assert rows == [] and graph.sent == [] and model.bodies == []
