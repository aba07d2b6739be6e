"""The Meta wire formats: webhook signatures, the delivery payloads of the WhatsApp Business
Cloud API and of the Messenger Platform (Facebook pages and Instagram), and replies through the
Graph API, which go out through the SSRF guard with a size cap and a deadline."""

import asyncio
import hashlib
import hmac
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

from orchestrator_service.errors import OrchestratorError
from orchestrator_service.outbound import TooLarge, failure, read_capped
from orchestrator_service.tools.ssrf import Guard, GuardedTransport

SIGNATURE_HEADER = "X-Hub-Signature-256"
# What one reply may hold on each channel; longer answers go out in several messages.
TEXT_LIMITS = {"whatsapp": 4096, "facebook": 2000, "instagram": 1000}
ANSWER_CAP = 64 * 1024
ATTEMPTS = 3


class ChannelSendFailed(OrchestratorError):
    """The Graph API did not take a reply; the message says why, never with the token."""

    status_code = 502
    code = "channel_send_failed"


def signature_valid(body: bytes, header: str | None, secret: str) -> bool:
    """Whether `X-Hub-Signature-256` is `sha256=` and the HMAC-SHA256 of the raw body."""
    if not header or not header.startswith("sha256="):
        return False
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, header.removeprefix("sha256=").strip().lower())


@dataclass
class Inbound:
    """One event of a delivery, whatever the channel: a user's message, or the status of one
    of our replies."""

    account_id: str
    user_id: str
    message_id: str
    kind: str  # message | status
    sent_at: datetime
    text: str | None = None
    media: dict[str, Any] | None = None
    status: str | None = None
    profile_name: str | None = None
    raw: dict[str, Any] = field(default_factory=dict)


def _at(seconds: Any, *, millis: bool = False) -> datetime:
    try:
        value = float(seconds)
    except (TypeError, ValueError):
        return datetime.now(UTC)
    return datetime.fromtimestamp(value / 1000 if millis else value, UTC)


def _str(value: Any) -> str:
    """A field as text PostgreSQL can store (a NUL anywhere is dropped)."""
    return str(value).replace("\x00", "") if value is not None else ""


def clean(value: Any) -> Any:
    """A JSON value with every NUL dropped from its strings and keys (JSONB refuses them)."""
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, dict):
        return {clean(str(k)): clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [clean(v) for v in value]
    return value


def _dict(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def _dicts(value: Any) -> list[dict]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def parse_whatsapp(payload: dict) -> list[Inbound]:
    """The messages and statuses of a WhatsApp Cloud API delivery (`whatsapp_business_account`)."""
    events: list[Inbound] = []
    for entry in _dicts(payload.get("entry")):
        for change in _dicts(entry.get("changes")):
            value = _dict(change.get("value"))
            account = _str(_dict(value.get("metadata")).get("phone_number_id", ""))
            names = {
                _str(c.get("wa_id")): _dict(c.get("profile")).get("name")
                for c in _dicts(value.get("contacts"))
            }
            for message in _dicts(value.get("messages")):
                kind = _str(message.get("type", ""))
                body = _dict(message.get(kind))
                text = body.get("body") if kind == "text" else body.get("caption")
                media = None
                if kind in ("image", "audio", "video", "document", "sticker"):
                    media = {
                        "type": kind,
                        **{k: body.get(k) for k in ("id", "mime_type", "sha256", "filename")},
                    }
                user = _str(message.get("from", ""))
                events.append(
                    Inbound(
                        account_id=account,
                        user_id=user,
                        message_id=_str(message.get("id", "")),
                        kind="message",
                        sent_at=_at(message.get("timestamp")),
                        text=_str(text) if isinstance(text, str) else None,
                        media=media,
                        profile_name=_str(names.get(user)) or None,
                        raw={"type": kind},
                    )
                )
            for status in _dicts(value.get("statuses")):
                errors = [
                    {"code": e.get("code"), "title": e.get("title")}
                    for e in _dicts(status.get("errors"))
                ]
                events.append(
                    Inbound(
                        account_id=account,
                        user_id=_str(status.get("recipient_id", "")),
                        message_id=_str(status.get("id", "")),
                        kind="status",
                        sent_at=_at(status.get("timestamp")),
                        status=_str(status.get("status", "")),
                        raw={"errors": errors} if errors else {},
                    )
                )
    return [e for e in events if e.account_id and e.user_id and e.message_id]


def parse_messenger(payload: dict) -> list[Inbound]:
    """The messages and delivery/read receipts of a Messenger Platform delivery (`page` or
    `instagram`); echoes of our own replies are left out."""
    events: list[Inbound] = []
    for entry in _dicts(payload.get("entry")):
        account = _str(entry.get("id", ""))
        for item in _dicts(entry.get("messaging")):
            user = _str(_dict(item.get("sender")).get("id", ""))
            sent_at = _at(item.get("timestamp"), millis=True)
            message = item.get("message")
            if isinstance(message, dict) and not message.get("is_echo"):
                attachments = [
                    {"type": a.get("type"), "url": _dict(a.get("payload")).get("url")}
                    for a in _dicts(message.get("attachments"))
                ]
                text = message.get("text")
                events.append(
                    Inbound(
                        account_id=account,
                        user_id=user,
                        message_id=_str(message.get("mid", "")),
                        kind="message",
                        sent_at=sent_at,
                        text=_str(text) if isinstance(text, str) else None,
                        media={"attachments": attachments} if attachments else None,
                    )
                )
            for receipt in ("delivery", "read"):
                if isinstance(item.get(receipt), dict):
                    watermark = item[receipt].get("watermark")
                    events.append(
                        Inbound(
                            account_id=account,
                            user_id=user,
                            message_id=f"{receipt}:{user}:{watermark}",
                            kind="status",
                            sent_at=sent_at,
                            status="delivered" if receipt == "delivery" else "read",
                        )
                    )
    return [e for e in events if e.account_id and e.user_id and e.message_id]


def parse(channel: str, payload: dict) -> list[Inbound]:
    """The events of a delivery on `channel`."""
    return parse_whatsapp(payload) if channel == "whatsapp" else parse_messenger(payload)


def pieces(channel: str, text: str) -> list[str]:
    """A reply cut to what one message of the channel may hold."""
    limit = TEXT_LIMITS[channel]
    return [text[i : i + limit] for i in range(0, len(text), limit)] or [""]


def text_message(channel: str, to: str, text: str) -> dict:
    """The Graph API body of a text reply."""
    if channel == "whatsapp":
        return {
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": to,
            "type": "text",
            "text": {"preview_url": False, "body": text},
        }
    return {"recipient": {"id": to}, "messaging_type": "RESPONSE", "message": {"text": text}}


def template_message(to: str, template: dict) -> dict:
    """The Graph API body of a WhatsApp template message."""
    return {
        "messaging_product": "whatsapp",
        "to": to,
        "type": "template",
        "template": {
            "name": template["name"],
            "language": {"code": template.get("language", "en_US")},
        },
    }


class GraphClient:
    """Sends messages through the Graph API: guarded, capped, retried with backoff on rate
    limits and server errors."""

    def __init__(self, *, base_url: str, guard: Guard, timeout: float, backoff: float) -> None:
        self.base_url = base_url.rstrip("/")
        self._guard = guard
        self._timeout = timeout
        self._backoff = backoff

    def url(self, account_id: str) -> str:
        """Where an account's messages are sent."""
        return f"{self.base_url}/{account_id}/messages"

    async def send(self, *, account_id: str, token: str, body: dict) -> str:
        """Send one message; the provider's message id, or `ChannelSendFailed`."""
        url = self.url(account_id)
        host = httpx.URL(url).host
        headers = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(
            transport=GuardedTransport(self._guard), timeout=self._timeout
        ) as client:
            for attempt in range(ATTEMPTS):
                try:
                    async with client.stream("POST", url, json=body, headers=headers) as response:
                        answer = await read_capped(response, ANSWER_CAP)
                except TooLarge:
                    raise ChannelSendFailed(f"The Graph API at {host} answered too much") from None
                except httpx.HTTPError as exc:
                    raise ChannelSendFailed(
                        f"The Graph API at {host} could not be reached: {failure(exc)}"
                    ) from None
                retry = response.status_code == 429 or response.status_code >= 500
                if retry and attempt + 1 < ATTEMPTS:
                    await asyncio.sleep(self._backoff * 2**attempt)
                    continue
                return _message_id(answer, response.status_code, host)
        raise ChannelSendFailed(f"The Graph API at {host} kept refusing")  # not reached


def _message_id(answer: bytes, status: int, host: str) -> str:
    try:
        data = json.loads(answer)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise ChannelSendFailed(f"The Graph API at {host} answered {status} without JSON")
    if status >= 400 or "error" in data:
        error = _dict(data.get("error"))
        code = error.get("code")
        kind = "rate limited" if status == 429 or code in (4, 80007, 130429) else "refused"
        raise ChannelSendFailed(
            f"The Graph API at {host} {kind} the reply ({status}, code {code})",
            details={"status": status, "code": code},
        )
    messages = data.get("messages")
    if isinstance(messages, list) and messages and isinstance(messages[0], dict):
        return str(messages[0].get("id", ""))
    return str(data.get("message_id", ""))
