"""Request and response bodies of /auth, /me and /api-keys."""

import uuid
from datetime import datetime
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import EmailStr, Field, StringConstraints, field_validator

from orchestrator_service.auth.principal import SCOPES
from orchestrator_service.schemas import Input, Output, Patch
from orchestrator_service.users.schemas import Password, Username

KeyName = Annotated[str, StringConstraints(min_length=1, max_length=100)]


class LoginRequest(Input):
    """Email and password."""

    email: EmailStr
    password: Annotated[str, StringConstraints(min_length=1, max_length=256)]


class LoginResponse(Output):
    """A session token, shown once."""

    token: str
    expires_at: datetime


class ApiKeyCreate(Input):
    """A new API key of the caller's tenant."""

    name: KeyName
    role: Literal["admin", "member", "viewer"] | None = Field(
        default=None, description="Defaults to the caller's role; never above it"
    )
    scopes: list[str] = Field(
        default_factory=lambda: ["*"],
        min_length=1,
        max_length=len(SCOPES) + 1,
        description="What the key may do within its role; `*` for all the role allows. Never "
        "empty, and never more than the creating key's own scopes",
    )
    expires_at: datetime | None = Field(
        default=None, description="Never later than the creating key's own expiry"
    )

    @field_validator("scopes")
    @classmethod
    def _known_scopes(cls, scopes: list[str]) -> list[str]:
        unknown = sorted(set(scopes) - SCOPES - {"*"})
        if unknown:
            raise ValueError(f"unknown scopes: {', '.join(unknown)}")
        return sorted(set(scopes))

    @field_validator("expires_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("give a time zone, e.g. 2030-01-01T00:00:00Z")
        return value


class ApiKeyOut(Output):
    """An API key's metadata: never the key itself."""

    id: uuid.UUID
    name: str
    prefix: str
    role: str
    scopes: list[str]
    user_id: uuid.UUID | None
    parent_key_id: uuid.UUID | None = Field(
        description="The key that created this one; revoking it revokes this one too"
    )
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None
    created_at: datetime | None


class ApiKeyCreated(ApiKeyOut):
    """A new API key, with its plaintext shown this one time."""

    api_key: str


class MeOut(Output):
    """The caller as the service sees it."""

    tenant_id: int | None
    tenant_name: str | None
    user_id: uuid.UUID | None
    email: str | None
    key_id: uuid.UUID | None
    role: str
    scopes: list[str]


class ProfileUpdate(Patch):
    """Changes to the caller's own profile; omitted fields stay as they are. Role, activity
    and email are an admin's to change."""

    nullable = frozenset({"username", "full_name", "avatar_url"})

    username: Username | None = None
    full_name: Annotated[str, StringConstraints(max_length=255)] | None = None
    avatar_url: Annotated[str, StringConstraints(max_length=2000)] | None = None
    timezone: Annotated[str, StringConstraints(max_length=50)] | None = Field(
        default=None, description="An IANA time zone, e.g. Europe/Madrid"
    )
    settings: dict | None = None

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                ZoneInfo(value)
            except (ZoneInfoNotFoundError, ValueError):
                raise ValueError(f"unknown time zone {value!r}; use an IANA name") from None
        return value


class PasswordChange(Input):
    """The current password and the new one."""

    current_password: Annotated[str, StringConstraints(min_length=1, max_length=256)]
    new_password: Password = Field(
        description="At least 10 characters, and hard to guess (zxcvbn score 3 of 4): no "
        "common words, keyboard patterns or parts of your email or name"
    )


class PasswordChanged(Output):
    """The password changed; the caller's other sessions ended."""

    sessions_revoked: int = Field(description="How many of the user's other sessions ended")
    message: str
