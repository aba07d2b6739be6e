"""Mail: .eml/.mbox import (hostile files refused or stored safely), attachments in the
object store, privacy, search, and sending through SMTP behind the SSRF guard."""

import asyncio
import email
from collections.abc import Iterator
from email import policy
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from orchestrator_service.bootstrap import Runtime
from orchestrator_service.mail import parsing as mail_parsing
from orchestrator_service.mail import service as mail_service
from tests.helpers import Caller, error_of, free_port
from tests.workspace import member

API = "/api/v1/mail"
EML = (
    b"From: =?utf-8?q?Jos=C3=A9?= <jose@example.com>\r\nTo: ana@example.com\r\n"
    b"Subject: Presupuesto del proyecto\r\nMessage-ID: <m1@example.com>\r\n"
    b"Date: Tue, 02 Jun 2026 10:00:00 +0200\r\nMIME-Version: 1.0\r\n"
    b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
    b"--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
    b"Te env\xc3\xado el presupuesto revisado.\r\n--b\r\nContent-Type: application/pdf\r\n"
    b'Content-Disposition: attachment; filename="../../etc/presupuesto.pdf"\r\n'
    b"Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n--b--\r\n"
)


def _upload(name: str, data: bytes) -> dict:
    return {"file": (name, data, "application/octet-stream")}


async def test_an_eml_is_stored_privately_with_its_attachment_as_a_file(
    client: httpx.AsyncClient, tenant_a: Caller
) -> None:
    alice, bob = await member(client, tenant_a), await member(client, tenant_a)
    result = (
        await client.post(f"{API}/import/eml", files=_upload("m.eml", EML), headers=alice)
    ).json()
    email_id = result["imported"][0]

    message = (await client.get(f"{API}/messages/{email_id}", headers=alice)).json()
    attachments = (await client.get(f"{API}/messages/{email_id}/attachments", headers=alice)).json()
    download = await client.get(
        f"{API}/messages/{email_id}/attachments/{attachments[0]['id']}", headers=alice
    )

    assert message["from_name"] == "José" and message["subject"] == "Presupuesto del proyecto"
    assert message["has_attachments"] and message["visibility"] == "private"
    assert attachments[0]["filename"] == "presupuesto.pdf"  # no directories
    assert download.content == b"%PDF-1.4\n"
    assert download.headers["content-type"] == "application/octet-stream"
    assert download.headers["content-disposition"].startswith("attachment")
    error_of(await client.get(f"{API}/messages/{email_id}", headers=bob), 404)
    error_of(await client.get(f"{API}/messages/{email_id}/attachments", headers=bob), 404)
    error_of(
        await client.get(
            f"{API}/messages/{email_id}/attachments/{attachments[0]['id']}", headers=bob
        ),
        404,
    )
    assert (
        await client.get(f"{API}/search", params={"q": "presupuesto"}, headers=bob)
    ).json() == []
    again = (
        await client.post(f"{API}/import/eml", files=_upload("m.eml", EML), headers=alice)
    ).json()
    assert again["imported"] == [] and again["duplicates"] == 1


async def test_search_covers_subject_sender_and_body_in_both_languages(
    client: httpx.AsyncClient, tenant_a: Caller
) -> None:
    alice = await member(client, tenant_a)
    await client.post(f"{API}/import/eml", files=_upload("m.eml", EML), headers=alice)

    for query in ("presupuestos", "jose@example.com", "revisado"):
        hits = (await client.get(f"{API}/search", params={"q": query}, headers=alice)).json()
        assert len(hits) == 1, query
    hit = (await client.get(f"{API}/search", params={"q": "revisado"}, headers=alice)).json()[0]
    assert "<mark>revisado</mark>" in hit["highlight"]


async def test_an_mbox_imports_its_messages_and_skips_unreadable_ones(
    client: httpx.AsyncClient, tenant_a: Caller
) -> None:
    alice = await member(client, tenant_a)
    mbox = (
        b"From a@example.com Mon Jun  1 10:00:00 2026\n"
        b"From: a@example.com\nSubject: one\nMessage-ID: <one@x>\n\nfirst body\n>From here\n\n"
        b"From b@example.com Mon Jun  1 11:00:00 2026\n"
        b"From: b@example.com\nSubject: two\nIn-Reply-To: <one@x>\nReferences: <one@x>\n"
        b"Message-ID: <two@x>\n\nsecond body\n\n"
        b"From c@example.com Mon Jun  1 12:00:00 2026\n\n"
    )
    result = (
        await client.post(f"{API}/import/mbox", files=_upload("box.mbox", mbox), headers=alice)
    ).json()

    assert len(result["imported"]) == 2 and len(result["skipped"]) == 1
    thread = (
        await client.get(f"{API}/messages", params={"thread_key": "<one@x>"}, headers=alice)
    ).json()
    assert sorted(m["subject"] for m in thread["items"]) == ["one", "two"]


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x00\x01\x02 not mail",
        b"Subject: =?x-unknown?q?caf=E9?=\r\nFrom: <<<@@>>>\r\nDate: yesterday\r\n\r\nbody",
        b"Subject: " + b"A" * 200_000 + b"\r\nFrom: a@example.com\r\n\r\nbody",
        b"From: a@example.com\r\nContent-Type: text/plain; charset=no-such-charset\r\n\r\n\xff\xfe",
        b"From: a@example.com\r\nContent-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\n" * 1,
        # Found while probing: a Content-ID over 255 characters failed the insert (a 500).
        b'From: a@example.com\r\nContent-Type: multipart/mixed; boundary="m"\r\n\r\n--m\r\n'
        b"Content-Type: image/png\r\nContent-ID: <" + b"c" * 2000 + b">\r\n\r\npng\r\n--m--\r\n",
    ],
)
async def test_malformed_messages_are_refused_or_stored_safely(
    lenient_client: httpx.AsyncClient, tenant_a: Caller, data: bytes
) -> None:
    alice = await member(lenient_client, tenant_a)
    response = await lenient_client.post(
        f"{API}/import/eml", files=_upload("x.eml", data), headers=alice
    )

    assert response.status_code in (201, 422), response.text
    if response.status_code == 201:
        email_id = response.json()["imported"][0]
        stored = (await lenient_client.get(f"{API}/messages/{email_id}", headers=alice)).json()
        assert len(stored["subject"]) <= 998 and "\x00" not in (stored["body_text"] or "")


async def test_deeply_nested_or_many_part_messages_are_refused(
    client: httpx.AsyncClient, tenant_a: Caller
) -> None:
    alice = await member(client, tenant_a)
    nested = b"From: a@example.com\r\n"
    for depth in range(60):
        nested += b'Content-Type: multipart/mixed; boundary="b%d"\r\n\r\n--b%d\r\n' % (depth, depth)
    nested += b"Content-Type: text/plain\r\n\r\ndeep\r\n"
    many = b'From: a@example.com\r\nContent-Type: multipart/mixed; boundary="m"\r\n\r\n'
    many += b"--m\r\nContent-Type: text/plain\r\n\r\nx\r\n" * 300 + b"--m--\r\n"

    for data in (nested, many):
        response = await client.post(
            f"{API}/import/eml", files=_upload("x.eml", data), headers=alice
        )
        error_of(response, 422)


class _Inbox:
    """What the loopback SMTP server received."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], bytes]] = []
        self.logins: list[tuple[bytes, bytes]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 OK"


def _authenticator(inbox: _Inbox) -> Any:
    def check(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        inbox.logins.append((data.login, data.password))
        return AuthResult(success=data.password == b"smtp-secret")

    return check


@pytest.fixture
def smtp_server() -> Iterator[tuple[_Inbox, int]]:
    """An SMTP server on loopback (aiosmtpd) that accepts plain-text AUTH."""
    inbox = _Inbox()
    port = free_port()
    controller = Controller(
        inbox,
        hostname="127.0.0.1",
        port=port,
        authenticator=_authenticator(inbox),
        auth_require_tls=False,
    )
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


@pytest.fixture
def socket_spy(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    """Every TCP connection the service's SMTP client opens; beyond loopback fails the test."""
    attempts: list[tuple[str, int]] = []
    loop_class = type(asyncio.get_event_loop_policy().new_event_loop())
    original = loop_class.sock_connect

    async def spying(self: Any, sock: Any, address: Any) -> Any:
        attempts.append((address[0], address[1]))
        assert address[0] in ("127.0.0.1", "::1"), f"connection to {address}"
        return await original(self, sock, address)

    monkeypatch.setattr(loop_class, "sock_connect", spying)
    return attempts


async def _account(
    client: httpx.AsyncClient, admin: Caller, user: dict, host: str, port: int
) -> None:
    credential = {"name": "smtp-pass", "value": "smtp-secret", "allowed_hosts": [host]}
    created = await client.post("/api/v1/credentials", json=credential, headers=admin.headers)
    assert created.status_code in (201, 409), created.text
    body = {
        "smtp_host": host,
        "smtp_port": port,
        "security": "none",
        "username": "alice",
        "credential": "smtp-pass",
        "from_address": "alice@example.com",
    }
    response = await client.put(f"{API}/account", json=body, headers=user)
    assert response.status_code == 200, response.text


async def test_send_goes_through_smtp_and_is_stored_without_the_password(
    client: httpx.AsyncClient,
    tenant_a: Caller,
    runtime: Runtime,
    smtp_server: Any,
    socket_spy: list,
) -> None:
    inbox, port = smtp_server
    runtime.guard.allow("127.0.0.1")
    alice = await member(client, tenant_a)
    await _account(client, tenant_a, alice, "127.0.0.1", port)

    sent = await client.post(
        f"{API}/send",
        json={
            "to": ["bob@example.com"],
            "bcc": ["carol@example.com"],
            "subject": "Hola",
            "body_text": "¿Qué tal?",
        },
        headers=alice,
    )

    assert sent.status_code == 201, sent.text
    assert inbox.logins == [(b"alice", b"smtp-secret")]
    sender, recipients, raw = inbox.messages[0]
    assert sender == "alice@example.com" and set(recipients) == {
        "bob@example.com",
        "carol@example.com",
    }
    parsed = email.message_from_bytes(raw, policy=policy.default)
    assert parsed["Subject"] == "Hola" and "Bcc" not in parsed
    stored = sent.json()
    assert stored["direction"] == "outbound" and stored["labels"] == ["SENT"]
    assert "smtp-secret" not in sent.text
    assert socket_spy == [("127.0.0.1", port)]


async def test_send_refuses_header_injection_and_private_hosts_before_connecting(
    client: httpx.AsyncClient, tenant_a: Caller, runtime: Runtime, socket_spy: list
) -> None:
    alice = await member(client, tenant_a)
    injected = {
        "to": ["bob@example.com"],
        "subject": "hi\r\nBcc: victim@example.com",
        "body_text": "x",
    }
    error_of(await client.post(f"{API}/send", json=injected, headers=alice), 422)
    bad_to = {"to": ["bob@example.com\r\nBcc: v@example.com"], "subject": "x", "body_text": "x"}
    error_of(await client.post(f"{API}/send", json=bad_to, headers=alice), 422)
    error_of(
        await client.post(
            f"{API}/send", json={"to": ["b@example.com"], "subject": "x"}, headers=alice
        ),
        404,
    )

    # The guard is left as in production: loopback, private and metadata addresses refused.
    for host in ("127.0.0.1", "169.254.169.254", "10.0.0.5"):
        await _account(client, tenant_a, alice, host, 25)
        response = await client.post(
            f"{API}/send",
            json={"to": ["b@example.com"], "subject": "x", "body_text": "y"},
            headers=alice,
        )
        error_of(response, 422, "destination_blocked")
    assert socket_spy == []
    assert (await client.get(f"{API}/messages", headers=alice)).json()["items"] == []


async def test_send_email_tool_needs_confirmation(
    client: httpx.AsyncClient, tenant_a: Caller
) -> None:
    alice = await member(client, tenant_a)
    agent = await client.post(
        "/api/v1/agents",
        json={
            "name": "mailer",
            "system_prompt_template": "x",
            "enabled_tools": ["send_email", "search_email"],
        },
        headers=tenant_a.headers,
    )
    url = f"/api/v1/agents/{agent.json()['id']}/tools/send_email/invoke"
    arguments = {"to": ["b@example.com"], "subject": "x", "body_text": "y"}

    error_of(
        await client.post(url, json={"arguments": arguments}, headers=alice),
        409,
        "confirmation_required",
    )


async def test_a_silent_smtp_server_times_out_and_nothing_is_stored(
    client: httpx.AsyncClient, tenant_a: Caller, runtime: Runtime, socket_spy: list
) -> None:
    """A server that accepts the connection and never greets: the deadline ends the send."""
    accepted: list[asyncio.StreamWriter] = []

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(writer)

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    runtime.guard.allow("127.0.0.1")
    assert runtime.mailer is not None
    runtime.mailer.timeout = 1.0
    alice = await member(client, tenant_a)
    await _account(client, tenant_a, alice, "127.0.0.1", port)
    try:
        response = await client.post(
            f"{API}/send",
            json={"to": ["b@example.com"], "subject": "x", "body_text": "y"},
            headers=alice,
        )
    finally:
        server.close()
        for writer in accepted:
            writer.close()

    assert "did not answer in time" in error_of(response, 502, "send_failed")["message"]
    assert accepted and (await client.get(f"{API}/messages", headers=alice)).json()["items"] == []


async def test_a_wrong_password_is_a_502_that_names_no_secret(
    client: httpx.AsyncClient,
    tenant_a: Caller,
    runtime: Runtime,
    smtp_server: Any,
    socket_spy: list,
) -> None:
    inbox, port = smtp_server
    runtime.guard.allow("127.0.0.1")
    alice = await member(client, tenant_a)
    credential = {"name": "smtp-pass", "value": "not-the-password", "allowed_hosts": ["127.0.0.1"]}
    await client.post("/api/v1/credentials", json=credential, headers=tenant_a.headers)
    await _account(client, tenant_a, alice, "127.0.0.1", port)

    response = await client.post(
        f"{API}/send",
        json={"to": ["b@example.com"], "subject": "x", "body_text": "y"},
        headers=alice,
    )

    error_of(response, 502, "send_failed")
    assert "not-the-password" not in response.text and inbox.messages == []


async def test_oversized_and_overfull_imports_are_refused_whole(
    client: httpx.AsyncClient, tenant_a: Caller, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice = await member(client, tenant_a)
    monkeypatch.setattr(mail_service, "MAX_EML_BYTES", 100)
    error_of(
        await client.post(f"{API}/import/eml", files=_upload("m.eml", EML), headers=alice),
        413,
        "upload_too_large",
    )
    monkeypatch.setattr(mail_parsing, "MAX_MBOX_MESSAGES", 2)
    mbox = b"".join(
        b"From x@example.com Mon Jun  1 10:00:00 2026\nFrom: x@example.com\nSubject: %d\n\nb\n\n"
        % i
        for i in range(3)
    )
    error_of(
        await client.post(f"{API}/import/mbox", files=_upload("b.mbox", mbox), headers=alice), 422
    )
    error_of(
        await client.post(
            f"{API}/import/mbox", files=_upload("b.mbox", b"Subject: x\n\n"), headers=alice
        ),
        422,
    )
    assert (await client.get(f"{API}/messages", headers=alice)).json()["items"] == []


async def test_an_account_refuses_line_breaks_in_its_headers(
    client: httpx.AsyncClient, tenant_a: Caller
) -> None:
    alice = await member(client, tenant_a)
    body = {
        "smtp_host": "smtp.example.com",
        "username": "a",
        "credential": "c",
        "from_address": "a@example.com",
        "from_name": "Alice\r\nBcc: victim@example.com",
    }
    error_of(await client.put(f"{API}/account", json=body, headers=alice), 422)
    error_of(
        await client.put(
            f"{API}/account", json={**body, "from_name": "A", "smtp_host": "a b"}, headers=alice
        ),
        422,
    )
    state = (await client.get(f"{API}/account", headers=alice)).json()
    assert state == {"configured": False, "account": None}


async def test_an_html_only_message_is_searchable_by_its_text(
    client: httpx.AsyncClient, tenant_a: Caller
) -> None:
    alice = await member(client, tenant_a)
    html = (
        b"From: news@example.com\r\nSubject: Boletin\r\nContent-Type: text/html\r\n\r\n"
        b"<html><script>var secretword = 1;</script><p>Nuevas <b>ofertas</b> de viaje</p></html>"
    )
    result = await client.post(f"{API}/import/eml", files=_upload("n.eml", html), headers=alice)
    assert result.status_code == 201, result.text

    found = (await client.get(f"{API}/search", params={"q": "ofertas"}, headers=alice)).json()
    hidden = (await client.get(f"{API}/search", params={"q": "secretword"}, headers=alice)).json()

    assert len(found) == 1 and "<script>" in found[0]["body_html"]
    assert "<b>" not in found[0]["highlight"] and hidden == []
