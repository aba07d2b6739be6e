"""Request and response bodies of /tools and of tool invocation."""

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError
from pydantic import Field, StringConstraints, field_validator, model_validator

from orchestrator_service.outbound import HEADER_NAME_PATTERN, HEADER_VALUE_PATTERN
from orchestrator_service.schemas import Input, Output, Patch

ToolName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
HttpMethod = Literal["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"]
MAX_RESPONSE_BYTES = 10 * 1024 * 1024
# Tenant text that reaches every run's prompt: bounded where it is written.
MAX_PROMPT_INJECTION = 4000
MAX_RESPONSE_GUIDE = 2000

HeaderName = Annotated[str, StringConstraints(pattern=f"^{HEADER_NAME_PATTERN}$")]
HeaderTemplate = Annotated[
    str, StringConstraints(max_length=8192, pattern=f"^{HEADER_VALUE_PATTERN}$")
]
# No control characters in a URL template (placeholders may hold spaces: `{{ city }}`).
_NO_CONTROL = r"^[^\x00-\x1f\x7f]*$"
UrlTemplate = Annotated[str, StringConstraints(min_length=1, max_length=2000, pattern=_NO_CONTROL)]


class HttpToolConfig(Input):
    """How an HTTP tool calls its service. `url`, `headers` and `body` are templates:
    `{{name}}` takes an argument, `{{credential:NAME}}` a vault secret at call time."""

    method: HttpMethod = "POST"
    url: UrlTemplate | None = None
    headers: dict[HeaderName, HeaderTemplate] = Field(
        default_factory=dict, max_length=100, json_schema_extra={"additionalProperties": False}
    )
    body: Any = None
    timeout_s: float = Field(default=10.0, gt=0, le=120)
    max_response_bytes: int = Field(default=1_048_576, gt=0, le=MAX_RESPONSE_BYTES)
    retries: int = Field(default=0, ge=0, le=3)


def parameters_of(function_schema: dict | None) -> dict:
    """The JSON Schema of the arguments, from either a bare schema or an OpenAI definition."""
    if not function_schema:
        return {"type": "object", "properties": {}}
    if "function" in function_schema:  # seed 000 stores whole OpenAI function definitions
        return function_schema["function"].get("parameters") or {"type": "object"}
    return function_schema


def _valid_schema(schema: dict | None) -> dict | None:
    if schema is None:
        return None
    parameters = parameters_of(schema)
    try:
        Draft202012Validator.check_schema(parameters)
    except SchemaError as exc:
        raise ValueError(f"not a valid JSON Schema: {exc.message}") from None
    if parameters.get("type") != "object":
        raise ValueError("the arguments schema must have type 'object'")
    return schema


class ToolFields(Input):
    """Fields shared by creation and update."""

    display_name: Annotated[str, StringConstraints(max_length=255)] | None = None
    description: Annotated[str, StringConstraints(max_length=10_000)] | None = None
    category: Annotated[str, StringConstraints(max_length=100)] | None = None
    function_schema: dict | None = None
    prompt_injection: Annotated[str, StringConstraints(max_length=MAX_PROMPT_INJECTION)] | None = (
        Field(
            default=None,
            description="Guidance added to the system prompt of every agent that has the tool "
            "enabled (plain text; see README, Fields that take effect)",
        )
    )
    response_guide: Annotated[str, StringConstraints(max_length=MAX_RESPONSE_GUIDE)] | None = Field(
        default=None, description="Guidance sent to the model with each of its results"
    )
    config: HttpToolConfig | None = None
    service_url: Annotated[str, StringConstraints(max_length=2000, pattern=_NO_CONTROL)] | None = (
        None
    )
    requires_confirmation: bool | None = None
    security_level: Literal["safe", "moderate", "dangerous"] | None = Field(
        default=None,
        description="safe: anyone who may change an agent enables it; moderate: only an "
        "admin enables it on an agent; dangerous: only an admin, and every call needs "
        "`confirm: true`. Only an admin lowers it",
    )
    is_enabled: bool | None = None

    _schema = field_validator("function_schema")(_valid_schema)


class ToolCreate(ToolFields):
    """A new tool (global when a platform-admin key creates it)."""

    name: ToolName
    type: Literal["http", "internal"]

    @model_validator(mode="after")
    def _http_config(self) -> "ToolCreate":
        if self.type == "http" and not ((self.config and self.config.url) or self.service_url):
            raise ValueError("an http tool needs config.url or service_url")
        return self


class ToolUpdate(Patch, ToolFields):
    """Changes to a tool; omitted fields stay as they are."""

    nullable = frozenset(
        {
            "display_name",
            "description",
            "category",
            "function_schema",
            "prompt_injection",
            "response_guide",
            "service_url",
        }
    )


class ToolOut(Output):
    """A tool."""

    id: int
    tenant_id: int | None
    name: str
    type: str
    display_name: str | None
    description: str | None
    category: str | None
    function_schema: dict | None
    prompt_injection: str | None
    response_guide: str | None
    config: dict | None
    service_url: str | None
    requires_confirmation: bool
    security_level: str
    is_enabled: bool
    usage_count: int
    created_at: datetime | None
    updated_at: datetime | None


class FunctionDefinition(Output):
    """The `function` part of an OpenAI tool definition."""

    name: str
    description: str
    parameters: dict


class FunctionTool(Output):
    """An OpenAI function-calling tool definition, with the service's guidance for the model."""

    type: Literal["function"] = "function"
    function: FunctionDefinition
    prompt_injection: str | None
    response_guide: str | None
    requires_confirmation: bool = Field(
        description="True when a call needs `confirm: true` (the tool's flag, or security "
        "level `dangerous`)"
    )
    security_level: str


class InvokeRequest(Input):
    """Arguments for a tool, and the confirmation a `requires_confirmation` tool needs."""

    arguments: dict = Field(default_factory=dict)
    confirm: bool = False


class InvokeResult(Output):
    """What a tool returned."""

    execution_id: uuid.UUID
    tool: str
    status: Literal["completed"]
    output: Any
    duration_ms: int


class ToolExecutionOut(Output):
    """One recorded call of a tool (seed 000 `tool_executions`), its output left out."""

    id: uuid.UUID
    agent_id: int | None
    tool_id: int | None
    tool_name: str
    status: str
    input_parameters: dict
    error_message: str | None
    execution_time_ms: int | None
    started_at: datetime | None
    completed_at: datetime | None
    created_at: datetime | None


class ToolExecutionDetail(ToolExecutionOut):
    """One recorded call of a tool with what it returned (`{"result": ...}`), secrets
    scrubbed."""

    output_result: Any


class ToolStatistics(Output):
    """How one tool did over the chosen calls (seed 000's `tool_statistics` view)."""

    tool_name: str
    calls: int
    completed: int
    failed: int
    success_rate: float | None = Field(
        description="completed / (completed + failed); null while no call has finished"
    )
    p50_ms: float | None
    p95_ms: float | None
    avg_ms: float | None
    last_called_at: datetime | None
