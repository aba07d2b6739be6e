"""Request and response bodies of /tenants (platform admin)."""

from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from orchestrator_service.schemas import Input, Output, Patch

TenantName = Annotated[str, StringConstraints(min_length=1, max_length=200)]
# The language of a tenant's knowledge: Spanish and mixed-language tenants get the multilingual
# embedder by default, English ones MiniLM (README: choosing an embedder).
TenantLanguage = Literal["es", "en", "mixed"]
TenantEmbedder = Literal["local", "multilingual", "openai"]


class TenantCreate(Input):
    """A new tenant."""

    name: TenantName
    settings: dict = Field(default_factory=dict)
    language: TenantLanguage | None = None
    embedder: TenantEmbedder | None = None


class TenantUpdate(Patch):
    """Fields of a tenant that may change; a disabled tenant's keys stop working. `null`
    clears the language or the embedder (back to the service's default)."""

    nullable = frozenset({"language", "embedder"})

    name: TenantName | None = None
    is_active: bool | None = None
    settings: dict | None = None
    language: TenantLanguage | None = None
    embedder: TenantEmbedder | None = None


class TenantOut(Output):
    """A tenant."""

    id: int
    name: str
    is_active: bool
    settings: dict
    language: TenantLanguage | None
    embedder: TenantEmbedder | None
    created_at: datetime | None
    updated_at: datetime | None


class TenantCreated(TenantOut):
    """A new tenant with its first admin API key, shown this one time."""

    api_key: str
