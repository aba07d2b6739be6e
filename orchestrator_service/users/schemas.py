"""Request and response bodies of /users."""

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import EmailStr, Field, StringConstraints

from orchestrator_service.schemas import Input, Output, Patch

Role = Literal["admin", "member", "viewer"]
Password = Annotated[str, StringConstraints(min_length=10, max_length=256)]
Username = Annotated[str, StringConstraints(min_length=2, max_length=100, pattern=r"^[\w.@+-]+$")]


class UserCreate(Input):
    """A new user of the caller's tenant."""

    email: EmailStr
    username: Username | None = None
    full_name: Annotated[str, StringConstraints(max_length=255)] | None = None
    password: Password | None = None
    role: Role = "member"
    timezone: Annotated[str, StringConstraints(max_length=50)] = "UTC"
    settings: dict = Field(default_factory=dict)


class UserUpdate(Patch):
    """Fields of a user that may change; omitted fields stay as they are."""

    nullable = frozenset({"username", "full_name"})

    username: Username | None = None
    full_name: Annotated[str, StringConstraints(max_length=255)] | None = None
    password: Password | None = None
    role: Role | None = None
    is_active: bool | None = None
    timezone: Annotated[str, StringConstraints(max_length=50)] | None = None
    settings: dict | None = None


class UserOut(Output):
    """A user, without its password hash."""

    id: uuid.UUID
    tenant_id: int
    email: str
    username: str | None
    full_name: str | None
    role: str
    is_active: bool
    timezone: str
    settings: dict
    last_login_at: datetime | None
    created_at: datetime | None
    updated_at: datetime | None
