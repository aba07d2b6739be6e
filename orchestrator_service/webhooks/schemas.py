"""Request and response bodies of /webhooks. The signing secret appears only in the answers
to creating an endpoint and rotating its secret, once each."""

import uuid
from datetime import datetime
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, Field, StringConstraints

from orchestrator_service.schemas import Input, Output, Patch
from orchestrator_service.webhooks.events import ALL, EVENTS


def _endpoint_url(value: str) -> str:
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        raise ValueError("not a valid URL") from None
    if parts.scheme not in ("https", "http"):
        raise ValueError("the URL must start with https:// (or http://)")
    if not parts.hostname:
        raise ValueError("the URL names no host")
    if parts.username is not None or parts.password is not None:
        raise ValueError("the URL may not carry a user name or password")
    if parts.fragment:
        raise ValueError("the URL may not have a #fragment")
    if port == 0:
        raise ValueError("the URL's port must be between 1 and 65535")
    return value


def _known_events(value: list[str]) -> list[str]:
    unknown = sorted(set(value) - set(EVENTS) - {ALL})
    if unknown:
        raise ValueError(f"unknown events: {', '.join(unknown)}; known: {', '.join(EVENTS)}")
    return sorted(set(value))


EndpointUrl = Annotated[
    str,
    StringConstraints(min_length=1, max_length=500),
    AfterValidator(_endpoint_url),
    Field(description="Where deliveries are POSTed: an http(s) URL on a public address"),
]
EventList = Annotated[
    list[Annotated[str, StringConstraints(min_length=1, max_length=64)]],
    Field(min_length=1, max_length=len(EVENTS) + 1, description="Event types, or `*` for all"),
    AfterValidator(_known_events),
]
Description = Annotated[str, StringConstraints(max_length=1000)]


class WebhookCreate(Input):
    """A URL to send events to."""

    url: EndpointUrl
    events: EventList
    description: Description | None = None


class WebhookUpdate(Patch):
    """Changes; `is_active: true` re-enables an endpoint (its failure count starts over)."""

    nullable = frozenset({"description"})

    url: EndpointUrl | None = None
    events: EventList | None = None
    description: Description | None = None
    is_active: bool | None = None


class WebhookOut(Output):
    """An endpoint; its secret is never shown again after creation or rotation."""

    id: uuid.UUID
    url: str
    events: list[str]
    description: str | None
    is_active: bool
    disabled_reason: str | None
    consecutive_failures: int
    previous_secret_expires_at: datetime | None
    created_at: datetime | None
    updated_at: datetime | None


class WebhookWithSecret(WebhookOut):
    """An endpoint and its signing secret (`whsec_...`), shown this once: verify deliveries
    with it (Standard Webhooks)."""

    secret: str


class DeliveryOut(Output):
    """One event sent (or being sent) to an endpoint."""

    id: uuid.UUID
    webhook_id: uuid.UUID
    event: str
    status: Literal["pending", "succeeded", "failed", "skipped"]
    attempts: int
    next_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    delivered_at: datetime | None
    created_at: datetime | None


class AttemptOut(Output):
    """One try at a delivery."""

    attempt: int
    succeeded: bool
    status_code: int | None
    error: str | None
    duration_ms: int | None
    created_at: datetime | None


class DeliveryDetail(DeliveryOut):
    """A delivery, the message it sends (`webhook-id` is `msg_` and its id without dashes),
    and every try."""

    payload: dict
    attempts_log: list[AttemptOut]


class EventOut(Output):
    """An event type one can subscribe to."""

    event: str
    description: str
