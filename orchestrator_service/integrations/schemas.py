"""Request and response bodies of /integrations. No body ever carries a token."""

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from orchestrator_service.schemas import Input, Output

Kind = Literal["gmail", "google_calendar", "outlook_mail", "outlook_calendar"]
# What providers put in `code` and `state`: URL-safe text, bounded.
OAuthText = Annotated[str, StringConstraints(min_length=1, max_length=2048)]


class IntegrationCreate(Input):
    """Start connecting one of the caller's accounts."""

    kind: Kind


class CallbackIn(Input):
    """What the provider appended to the redirect URI, posted by the page it landed on: `code`
    and `state`, or `error` when the user declined."""

    state: OAuthText
    code: OAuthText | None = None
    error: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = Field(
        default=None, description="The provider's `error` (access_denied when the user declined)."
    )


class SyncOut(Output):
    """Where the integration's sync stands."""

    status: str = Field(
        description="idle, queued, running, done, failed (see last_error) or throttled (the "
        "provider asked to wait; it resumes by itself)"
    )
    progress: dict = Field(description="Items stored and deleted, pages read, full resyncs.")
    last_error: str | None
    last_synced_at: datetime | None


class IntegrationOut(Output):
    """One of the caller's integrations."""

    id: uuid.UUID
    kind: str
    status: str = Field(
        description="pending (waiting for consent), connected, or error (status_reason says "
        "what the user must do)"
    )
    status_reason: str | None
    scopes: list[str]
    token_expires_at: datetime | None
    owner_user_id: uuid.UUID | None
    visibility: str
    sync: SyncOut
    created_at: datetime | None
    updated_at: datetime | None


class ConnectionStarted(Output):
    """A connection under way: send the user to `authorization_url` before `expires_at`."""

    integration: IntegrationOut
    authorization_url: str
    expires_at: datetime
