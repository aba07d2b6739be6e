"""The OpenAI chat-completions wire format, as far as this door reads and writes it.

Requests ignore parameters the door does not use (`temperature`, `top_p`, ...: the agent's
configuration decides), so any OpenAI client can call it; responses are what the `openai`
SDK parses: `chat.completion`, `chat.completion.chunk`, `list` of `model`, and errors as
`{"error": {"message", "type", "param", "code"}}`.
"""

import uuid
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

MAX_MESSAGES = 200
# Per message, within the 1 MiB body limit even JSON-escaped (the agent's input may be longer
# through the REST run endpoint).
MAX_TEXT = 32_000

# OpenAI's error `type` for each status; unknown statuses are `api_error`.
ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    409: "invalid_request_error",
    413: "invalid_request_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
}


def openai_error(status: int, code: str, message: str, details: object = None) -> dict:
    """An error body in OpenAI's shape; `param` names the first offending field, if known."""
    param = None
    if isinstance(details, list) and details and isinstance(details[0], dict):
        loc = [p for p in details[0].get("loc", []) if p != "body"]
        param = ".".join(str(p) for p in loc) or None
    elif isinstance(details, dict) and isinstance(details.get("param"), str):
        param = details["param"]
    return {
        "error": {
            "message": message,
            "type": ERROR_TYPES.get(status, "api_error"),
            "param": param,
            "code": code,
        }
    }


class TextPart(BaseModel):
    """A text part of a message's content (other part types are refused)."""

    model_config = ConfigDict(extra="ignore")

    type: Literal["text"]
    text: Annotated[str, StringConstraints(max_length=MAX_TEXT)]


class MessageIn(BaseModel):
    """One message of the conversation the client sends."""

    model_config = ConfigDict(extra="ignore")

    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: (
        Annotated[str, StringConstraints(max_length=MAX_TEXT)]
        | Annotated[list[TextPart], Field(max_length=64)]
        | None
    ) = None
    tool_calls: list[dict] | None = None

    def text(self) -> str:
        """The message's text, its parts joined."""
        if isinstance(self.content, list):
            return "".join(part.text for part in self.content)
        return self.content or ""


class StreamOptions(BaseModel):
    """With `include_usage`, the usage comes in a chunk of its own with no choices (as OpenAI
    sends it); without, it rides on the last chunk, the one with the finish reason."""

    model_config = ConfigDict(extra="ignore")

    include_usage: bool | None = None


def _has_nul(value: object) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


class ChatCompletionRequest(BaseModel):
    """A chat-completions request: `model` names an agent; the last message is the user's.
    Text may not hold NUL characters (PostgreSQL cannot store them)."""

    model_config = ConfigDict(extra="ignore")

    @model_validator(mode="before")
    @classmethod
    def _no_nul(cls, data: object) -> object:
        if _has_nul(data):
            raise ValueError("text may not contain NUL characters")
        return data

    model: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    messages: list[MessageIn] = Field(min_length=1, max_length=MAX_MESSAGES)
    stream: bool | None = False
    stream_options: StreamOptions | None = None
    n: int | None = Field(default=None, ge=1, le=1, description="Only one choice is made.")
    tools: list[dict] | None = Field(
        default=None,
        max_length=0,
        description="Refused when not empty: the agent's own tools run on the server.",
    )
    metadata: dict[str, Annotated[str, StringConstraints(max_length=512)]] | None = Field(
        default=None, max_length=16, description="Values of the agent's prompt variables."
    )
    conversation_id: uuid.UUID | None = Field(
        default=None,
        description="Extension: continue this conversation of the tenant; its stored history "
        "is the context and only the last message of `messages` is new.",
    )
    session_id: uuid.UUID | None = Field(
        default=None,
        description="Extension: the caller's session the run belongs to (recorded on the "
        "execution; the conversation's id when left out).",
    )


class Usage(BaseModel):
    """Tokens the run used, over every model call it made."""

    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class AssistantMessage(BaseModel):
    """The agent's answer."""

    role: Literal["assistant"] = "assistant"
    content: str


class Choice(BaseModel):
    """The one choice of a completion."""

    index: int = 0
    message: AssistantMessage
    finish_reason: Literal["stop"] = "stop"


class ChatCompletion(BaseModel):
    """A `chat.completion`; `id` is `chatcmpl-` and the run's execution id."""

    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[Choice]
    usage: Usage


class ModelCard(BaseModel):
    """An agent the key may run, as a `model`."""

    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str


class ModelList(BaseModel):
    """The agents the key may run."""

    object: Literal["list"] = "list"
    data: list[ModelCard]


class OpenAIError(BaseModel):
    """OpenAI's error object."""

    message: str
    type: str
    param: str | None
    code: str | None


class OpenAIErrorBody(BaseModel):
    """OpenAI's error body."""

    error: OpenAIError
