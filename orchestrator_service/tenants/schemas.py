"""Request and response bodies of /tenants (platform admin)."""

from datetime import datetime
from typing import Annotated

from pydantic import Field, StringConstraints

from orchestrator_service.schemas import Input, Output, Patch

TenantName = Annotated[str, StringConstraints(min_length=1, max_length=200)]


class TenantCreate(Input):
    """A new tenant."""

    name: TenantName
    settings: dict = Field(default_factory=dict)


class TenantUpdate(Patch):
    """Fields of a tenant that may change; a disabled tenant's keys stop working."""

    name: TenantName | None = None
    is_active: bool | None = None
    settings: dict | None = None


class TenantOut(Output):
    """A tenant."""

    id: int
    name: str
    is_active: bool
    settings: dict
    created_at: datetime | None
    updated_at: datetime | None


class TenantCreated(TenantOut):
    """A new tenant with its first admin API key, shown this one time."""

    api_key: str
