"""Request and response bodies of /tenants (platform admin)."""

import json
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, StringConstraints

from orchestrator_service.schemas import Input, Output, Patch

TenantName = Annotated[str, StringConstraints(min_length=1, max_length=200)]
# The language of a tenant's knowledge: Spanish and mixed-language tenants get E5 and USE
# fused by default, English ones MiniLM (README: choosing an embedder).
TenantLanguage = Literal["es", "en", "mixed"]
TenantEmbedder = Literal["local", "multilingual", "use", "multilingual+use", "openai"]
# `tool_config`: per-tool settings of the tenant, `{tool name: {setting: value}}`, that tools
# read (built-ins in their context, HTTP tools as `{{tool_config.NAME}}`). Not for secrets:
# those live in the vault.
MAX_TOOL_CONFIG_BYTES = 65_536
MAX_TOOL_CONFIG_DEPTH = 8
ToolKey = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,64}$")]


def _depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    return 0


def _bounded(config: dict[str, dict]) -> dict[str, dict]:
    size = len(json.dumps(config, ensure_ascii=False).encode())
    if size > MAX_TOOL_CONFIG_BYTES:
        raise ValueError(f"is {size} bytes as JSON; at most {MAX_TOOL_CONFIG_BYTES}")
    if _depth(config) > MAX_TOOL_CONFIG_DEPTH:
        raise ValueError(f"nests deeper than {MAX_TOOL_CONFIG_DEPTH} levels")
    return config


ToolConfig = Annotated[
    dict[ToolKey, dict[str, Any]],
    AfterValidator(_bounded),
    Field(
        max_length=500,
        description="Per-tool settings, `{tool name: {setting: value}}` (at most 64 KiB as "
        "JSON, 8 levels deep); tools read their own entry. Not for secrets: use the vault",
    ),
]


class TenantCreate(Input):
    """A new tenant."""

    name: TenantName
    settings: dict = Field(default_factory=dict)
    language: TenantLanguage | None = None
    embedder: TenantEmbedder | None = None
    tool_config: ToolConfig = Field(default_factory=dict)


class TenantUpdate(Patch):
    """Fields of a tenant that may change; a disabled tenant's keys stop working. `null`
    clears the language or the embedder (back to the service's default)."""

    nullable = frozenset({"language", "embedder"})

    name: TenantName | None = None
    is_active: bool | None = None
    settings: dict | None = None
    language: TenantLanguage | None = None
    embedder: TenantEmbedder | None = None
    tool_config: ToolConfig | None = None


class TenantOut(Output):
    """A tenant."""

    id: int
    name: str
    is_active: bool
    settings: dict
    language: TenantLanguage | None
    embedder: TenantEmbedder | None
    tool_config: dict | None
    created_at: datetime | None
    updated_at: datetime | None


class TenantCreated(TenantOut):
    """A new tenant with its first admin API key, shown this one time."""

    api_key: str
