"""A stand-in of the Meta Graph API on loopback, and the webhook payloads Meta sends.

The stand-in answers `POST /v21.0/{account-id}/messages` as the Graph API does: the WhatsApp
Cloud API's `{"messaging_product", "contacts", "messages": [{"id"}]}` for a phone number id,
the Messenger Platform's `{"recipient_id", "message_id"}` for a page or Instagram account; it
records every request. `refuse` makes the next answers errors in the Graph API's error shape
(a 429 with code 130429 is its throughput limit). The payload builders follow the documented
shapes of WhatsApp (`whatsapp_business_account`) and Messenger (`page`, `instagram`) webhooks.
"""

import hashlib
import hmac
import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.network import LoopbackHTTPServer

VERSION = "v21.0"


@dataclass
class Sent:
    """One message the service sent through the Graph API."""

    path: str
    authorization: str
    body: dict


class _Handler(BaseHTTPRequestHandler):
    server: "_Server"

    def do_POST(self) -> None:
        graph = self.server.graph
        length = int(self.headers.get("content-length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        with graph.lock:
            graph.sent.append(Sent(self.path, self.headers.get("authorization", ""), body))
            refusal = graph.refusals.pop(0) if graph.refusals else None
            number = len(graph.sent)
        if refusal is not None:
            status, code = refusal
            self._reply(
                status,
                {
                    "error": {
                        "message": "Refused",
                        "type": "OAuthException",
                        "code": code,
                        "fbtrace_id": "AbC",
                    }
                },
            )
            return
        if body.get("messaging_product") == "whatsapp":
            self._reply(
                200,
                {
                    "messaging_product": "whatsapp",
                    "contacts": [{"input": body.get("to"), "wa_id": body.get("to")}],
                    "messages": [{"id": f"wamid.OUT{number}"}],
                },
            )
            return
        self._reply(200, {"recipient_id": body["recipient"]["id"], "message_id": f"m_OUT{number}"})

    def _reply(self, status: int, payload: dict) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        """Keep the test output quiet."""


class _Server(LoopbackHTTPServer):
    graph: "GraphStandIn"


class GraphStandIn:
    """The Graph API on 127.0.0.1."""

    def __init__(self) -> None:
        self.sent: list[Sent] = []
        self.refusals: list[tuple[int, int]] = []
        self.lock = threading.Lock()
        self.httpd = _Server(("127.0.0.1", 0), _Handler)
        self.httpd.graph = self
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}/{VERSION}"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def refuse(self, *answers: tuple[int, int]) -> None:
        """Answer the next sends with these (status, Graph error code) errors."""
        with self.lock:
            self.refusals = list(answers)

    def __enter__(self) -> "GraphStandIn":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def sign(body: bytes, secret: str) -> str:
    """The `X-Hub-Signature-256` header Meta sends."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def whatsapp_text(
    phone_number_id: str,
    wa_id: str,
    message_id: str,
    text: str,
    *,
    at: float | None = None,
    name: str = "Rosa",
) -> dict:
    """A WhatsApp Cloud API delivery of one text message."""
    return whatsapp_messages(
        phone_number_id,
        wa_id,
        [
            {
                "from": wa_id,
                "id": message_id,
                "timestamp": str(int(at or time.time())),
                "type": "text",
                "text": {"body": text},
            },
        ],
        name=name,
    )


def whatsapp_messages(
    phone_number_id: str, wa_id: str, messages: list[dict], *, name: str = "Rosa"
) -> dict:
    """A WhatsApp Cloud API delivery of messages from one user."""
    return _whatsapp(
        phone_number_id,
        {
            "contacts": [{"profile": {"name": name}, "wa_id": wa_id}],
            "messages": messages,
        },
    )


def whatsapp_image(phone_number_id: str, wa_id: str, message_id: str) -> dict:
    """A WhatsApp delivery of an image without a caption."""
    return whatsapp_messages(
        phone_number_id,
        wa_id,
        [
            {
                "from": wa_id,
                "id": message_id,
                "timestamp": str(int(time.time())),
                "type": "image",
                "image": {"mime_type": "image/jpeg", "sha256": "abc", "id": "1234567890"},
            },
        ],
    )


def whatsapp_status(phone_number_id: str, wa_id: str, message_id: str, status: str) -> dict:
    """A WhatsApp delivery of a status update of one of our messages."""
    return _whatsapp(
        phone_number_id,
        {
            "statuses": [
                {
                    "id": message_id,
                    "status": status,
                    "timestamp": str(int(time.time())),
                    "recipient_id": wa_id,
                    "conversation": {"id": "c1", "origin": {"type": "service"}},
                    "pricing": {"billable": True, "pricing_model": "CBP", "category": "service"},
                }
            ],
        },
    )


def _whatsapp(phone_number_id: str, value: dict) -> dict:
    return {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "102290129340398",
                "changes": [
                    {
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {
                                "display_phone_number": "15550783881",
                                "phone_number_id": phone_number_id,
                            },
                            **value,
                        },
                        "field": "messages",
                    }
                ],
            }
        ],
    }


def messenger_text(kind: str, page_id: str, psid: str, mid: str, text: str) -> dict:
    """A Messenger Platform delivery (`page` or `instagram`) of one text message."""
    now = int(time.time() * 1000)
    return {
        "object": kind,
        "entry": [
            {
                "id": page_id,
                "time": now,
                "messaging": [
                    {
                        "sender": {"id": psid},
                        "recipient": {"id": page_id},
                        "timestamp": now,
                        "message": {"mid": mid, "text": text},
                    }
                ],
            }
        ],
    }
