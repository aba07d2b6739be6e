"""Request and response bodies of /credentials. No response schema has a field for the value."""

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field, SecretStr, StringConstraints, field_validator

from orchestrator_service.schemas import Input, Output, Patch

MAX_SECRET_BYTES = 64 * 1024
Category = Literal["openai", "anthropic", "google", "smtp", "http", "oauth", "database", "general"]
Name = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=r"^[\w.:-]+$")]
# A host a secret may be sent to: a lower-case DNS name or IPv4 address, or `*.` and a name of
# two labels or more for its subdomains. No scheme, port, path, space, Unicode (write IDNs in
# their xn-- form), bare `*` or `*.tld`: the pattern is in the OpenAPI schema, and anything
# else is a 422.
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
HOST_PATTERN = rf"^(?:\*\.{_LABEL}\.{_LABEL}(?:\.{_LABEL})*|{_LABEL}(?:\.{_LABEL})*)$"
Host = Annotated[
    str,
    StringConstraints(min_length=1, max_length=253, pattern=HOST_PATTERN),
    Field(
        description="A lower-case host name or IPv4 address, or `*.example.com` for its "
        "subdomains; no scheme, port or path",
        examples=["api.openai.com", "*.example.com"],
    ),
]
HostList = Annotated[
    list[Host],
    Field(
        max_length=50,
        description="Where the secret may be sent. Empty: the provider's host for the `openai` "
        "(api.openai.com) and `anthropic` (api.anthropic.com) categories, nowhere for the "
        "others. Only an admin may widen it",
    ),
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
    allowed_hosts: HostList = Field(default_factory=list)

    _secret = field_validator("value")(_check_secret)


class CredentialUpdate(Patch):
    """Changes; a `value` equal to the hint or to the placeholder keeps the stored secret."""

    name: Name | None = None
    value: SecretStr | None = None
    category: Category | None = None
    allowed_hosts: HostList | None = None

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
