"""Request and response bodies of /agents."""

import uuid
from datetime import datetime
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

from orchestrator_service.agents.templates import template_variables
from orchestrator_service.errors import InvalidInput
from orchestrator_service.schemas import Input, Output, Patch

Provider = Literal[
    "openai",
    "azure_openai",
    "anthropic",
    "google",
    "mistral",
    "groq",
    "deepseek",
    "openrouter",
    "ollama",
    "vllm",
    "openai_compatible",
]
# Where an agent's model calls go, and the vault credential whose key they carry, unless its
# config says otherwise (`config.base_url`, `config.api_key_credential`).
DEFAULT_BASE_URL = "https://api.openai.com/v1"
DEFAULT_KEY_CREDENTIAL = "OPENAI_API_KEY"


def model_destination(config: dict | None) -> tuple[object, object]:
    """The (base URL, key credential name) an agent's model calls use."""
    config = config or {}
    return (
        config.get("base_url") or DEFAULT_BASE_URL,
        config.get("api_key_credential") or DEFAULT_KEY_CREDENTIAL,
    )


# A run's limits when the agent's config names none.
MAX_STEPS = 8
MODEL_TIMEOUT = 60.0


class AgentConfig(BaseModel):
    """An agent's `config`: the run limits are checked against the bounds stated here; other
    keys (`base_url`, `api_key_credential`, `shadow_rag`, ...) are kept as given."""

    model_config = ConfigDict(extra="allow")

    max_steps: int | None = Field(
        default=None, ge=1, le=50, description=f"Model calls one run may make ({MAX_STEPS})."
    )
    timeout_s: float | None = Field(
        default=None,
        ge=0.1,
        le=600,
        description=f"Deadline of each model call, connecting to last byte ({MODEL_TIMEOUT:g}).",
    )


def run_limits(config: dict | None) -> tuple[int, float]:
    """The (step limit, model deadline) of a stored agent config; `InvalidInput` naming the
    field when one was stored outside its bounds."""
    try:
        checked = AgentConfig.model_validate(config or {})
    except ValidationError as exc:
        where = ", ".join(
            f"config.{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        raise InvalidInput(f"The agent's {where}; update the agent") from None
    steps = MAX_STEPS if checked.max_steps is None else checked.max_steps
    timeout = MODEL_TIMEOUT if checked.timeout_s is None else checked.timeout_s
    return steps, timeout


Channel = Literal["web", "api", "whatsapp", "instagram", "facebook"]
TemplateType = Literal["custom", "sales", "support", "assistant"]
Status = Literal["online", "offline", "busy"]
Visibility = Literal["private", "tenant"]
Text = Annotated[str, StringConstraints(max_length=20_000)]
ShortText = Annotated[str, StringConstraints(min_length=1, max_length=200)]
ToolName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
Collection = Annotated[str, StringConstraints(min_length=1, max_length=100)]
Template = Annotated[str, StringConstraints(min_length=1, max_length=50_000)]


def _http_url(url: str | None) -> str | None:
    if url is not None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(
                "expected an http(s) URL with a host, e.g. https://mcp.example.com/mcp"
            )
    return url


McpEndpoint = Annotated[
    str, StringConstraints(min_length=1, max_length=2000), AfterValidator(_http_url)
]


def _parses(template: str | None) -> str | None:
    if template is not None:
        template_variables(template)
    return template


class AgentFields(Input):
    """Fields shared by creation and update."""

    role: ShortText | None = None
    description: Text | None = None
    personality: Text | None = None
    expertise: Text | None = None
    model_provider: Provider | None = None
    model_version: ShortText | None = None
    temperature: float | None = Field(default=None, ge=0, le=2)
    max_tokens: int | None = Field(default=None, ge=1, le=131_072)
    enabled_tools: list[ToolName] | None = Field(default=None, max_length=128)
    channels: list[Channel] | None = Field(
        default=None,
        max_length=5,
        description="Where the agent answers: web (REST runs, the console), api (the "
        "OpenAI-compatible /v1), whatsapp, instagram, facebook; every one when left out",
    )
    config: AgentConfig | None = None
    template_type: TemplateType | None = Field(
        default=None,
        description="The prompt template family framing the agent's prompt (custom: as written)",
    )
    is_active: bool | None = None
    memory_enabled: bool | None = None
    memory_limit: int | None = Field(
        default=None,
        ge=0,
        le=10_000_000,
        description="Memories kept per user; past it the least important, least recently "
        "used are evicted",
    )
    knowledge_collections: list[Collection] | None = Field(default=None, max_length=64)
    status: Status | None = None
    visibility: Visibility | None = Field(
        default=None,
        description="`tenant` (default): every member sees and runs it; `private`: only its "
        "owner. Only the owner changes it",
    )
    is_public: bool | None = Field(
        default=None, description="Seed 001's name for visibility: true is `tenant`"
    )
    mcp_endpoint: McpEndpoint | None = Field(
        default=None,
        description="A remote MCP server (streamable HTTP) whose tools the agent may use with "
        "the mcp_list_tools and mcp_call_tool tools; its bearer token is the vault credential "
        "named by config.mcp_credential",
    )

    @model_validator(mode="after")
    def _one_visibility(self) -> "AgentFields":
        if self.is_public is not None:
            implied = "tenant" if self.is_public else "private"
            if self.visibility is not None and self.visibility != implied:
                raise ValueError(
                    f"is_public {str(self.is_public).lower()} contradicts visibility "
                    f"{self.visibility!r}; give one of them"
                )
            self.visibility = implied
        return self


class AgentCreate(AgentFields):
    """A new agent; omitted fields take the seed's defaults."""

    name: ShortText
    system_prompt_template: Template

    _template = field_validator("system_prompt_template")(_parses)


class AgentUpdate(Patch, AgentFields):
    """Changes to an agent; omitted fields stay as they are."""

    nullable = frozenset({"description", "personality", "expertise", "mcp_endpoint"})

    name: ShortText | None = None
    system_prompt_template: Template | None = None

    _template = field_validator("system_prompt_template")(_parses)


class AgentOut(Output):
    """An agent."""

    id: int
    name: str
    role: str | None
    description: str | None
    personality: str | None
    expertise: str | None
    model_provider: str | None
    model_version: str | None
    temperature: float | None
    max_tokens: int
    system_prompt_template: str
    enabled_tools: list[str] | None
    channels: list[str] | None
    config: dict | None
    template_type: str | None
    is_active: bool | None
    memory_enabled: bool
    memory_limit: int
    knowledge_collections: list[str]
    status: str
    owner_user_id: uuid.UUID | None
    visibility: str
    is_public: bool = Field(description="Seed 001's name for visibility `tenant`")
    mcp_endpoint: str | None
    created_at: datetime | None
    updated_at: datetime | None

    @model_validator(mode="before")
    @classmethod
    def _public(cls, data: object) -> object:
        if not isinstance(data, dict):
            data = {name: getattr(data, name, None) for name in cls.model_fields}
        return {**data, "is_public": data.get("visibility") == "tenant"}


class RenderRequest(Input):
    """Values for the template's variables."""

    variables: dict[str, str | int | float | bool] = Field(default_factory=dict)


class RenderOut(Output):
    """The rendered prompt, and the variables the template uses but were not given."""

    rendered: str
    variables: list[str]
    missing: list[str]


class RunOut(Output):
    """A run: its execution, conversation, status and answer."""

    execution_id: uuid.UUID = Field(validation_alias="id")
    conversation_id: uuid.UUID | None
    status: str
    output: str | None = Field(validation_alias="output_response")
    tokens_used: int | None
    execution_time_ms: int | None


class MemoryCreate(Input):
    """A fact about a user: by default the caller's own, private to them."""

    user_key: Annotated[str, StringConstraints(min_length=1, max_length=255)] | None = Field(
        default=None,
        description="Whom it is about when that is no user (a channel contact); default: the "
        "calling user's id",
    )
    key: Annotated[str, StringConstraints(min_length=1, max_length=255)]
    value: str | int | float | bool
    memory_type: Literal["fact", "preference", "short_term", "long_term"] = "fact"
    importance: int = Field(default=5, ge=1, le=10)
    ttl_seconds: int | None = Field(default=None, ge=1, le=10 * 365 * 24 * 3600)
    context: Annotated[str, StringConstraints(max_length=2000)] | None = None
    visibility: Visibility | None = Field(
        default=None, description="`private` (default): only the user it is about reads it"
    )


class MemoryOut(Output):
    """A remembered fact."""

    id: uuid.UUID
    user_key: str
    key: str | None
    value: dict
    memory_type: str
    importance_score: int
    owner_user_id: uuid.UUID | None
    visibility: str
    access_count: int
    accessed_at: datetime | None
    expires_at: datetime | None
    created_at: datetime | None


class RunRequest(Input):
    """An agent run: the user's input, optionally in an existing conversation."""

    input: str = Field(min_length=1, max_length=100_000)
    conversation_id: uuid.UUID | None = None
    variables: dict[str, str | int | float | bool] = Field(default_factory=dict)
    stream: bool = False
    background: bool = False
    visibility: Visibility | None = Field(
        default=None,
        description="Of the conversation the run opens (without `conversation_id`): `tenant` "
        "(default) or `private`. A user's private memories reach only runs in a conversation "
        "private to them",
    )
    session_id: uuid.UUID | None = Field(
        default=None,
        description="The caller's session the run belongs to; the conversation's id when left out",
    )
