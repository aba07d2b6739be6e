"""Request and response bodies of /credentials. No response schema has a field for the value."""

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field, SecretStr, StringConstraints, field_validator

from orchestrator_service.schemas import Input, Output, Patch

MAX_SECRET_BYTES = 64 * 1024
Category = Literal["openai", "anthropic", "google", "smtp", "http", "oauth", "database", "general"]
Name = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=r"^[\w.:-]+$")]
Host = Annotated[
    str, StringConstraints(min_length=1, max_length=253, pattern=r"^(\*\.)?[a-z0-9.-]+(:\d+)?$")
]
# What clients may send back as "unchanged": the hint or this placeholder.
PLACEHOLDER = "********"


def _check_secret(value: SecretStr | None) -> SecretStr | None:
    if value is None:
        return None
    secret = value.get_secret_value()
    if not secret.strip():
        raise ValueError("the secret is empty")
    if len(secret.encode()) > MAX_SECRET_BYTES:
        raise ValueError(f"the secret is larger than {MAX_SECRET_BYTES} bytes")
    return value


class CredentialCreate(Input):
    """A new secret. `value` is write-only: it is never returned."""

    name: Name
    value: SecretStr
    category: Category = "general"
    allowed_hosts: list[Host] = Field(default_factory=list, max_length=50)

    _secret = field_validator("value")(_check_secret)


class CredentialUpdate(Patch):
    """Changes; a `value` equal to the hint or to the placeholder keeps the stored secret."""

    name: Name | None = None
    value: SecretStr | None = None
    category: Category | None = None
    allowed_hosts: list[Host] | None = Field(default=None, max_length=50)

    _secret = field_validator("value")(_check_secret)


class CredentialOut(Output):
    """A credential's metadata."""

    id: uuid.UUID
    name: str
    category: str | None
    scope: str | None
    fingerprint: str | None
    hint: str | None
    allowed_hosts: list[str]
    status: str
    last_used_at: datetime | None
    created_at: datetime | None
    updated_at: datetime | None


class RotationReport(Output):
    """What `vault rotate` did."""

    active_key_id: str
    rewrapped: int
    reencrypted_tenants: int
    reencrypted_values: int
    remaining_old_key_ids: list[str]


CredentialStatus = Literal["ok", "needs_reentry"]
