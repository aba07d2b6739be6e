"""Request and response bodies of /models."""

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from orchestrator_service.schemas import Input, Output, Patch

# The providers a catalogue entry may name, and the wire protocol each speaks.
PROTOCOLS = {
    "openai": "openai",
    "azure_openai": "openai",
    "ollama": "openai",
    "vllm": "openai",
    "openai_compatible": "openai",
    "mistral": "openai",
    "groq": "openai",
    "deepseek": "openai",
    "openrouter": "openai",
    "anthropic": "anthropic",
    "google": "gemini",
}
Provider = Literal[
    "openai",
    "azure_openai",
    "ollama",
    "vllm",
    "openai_compatible",
    "mistral",
    "groq",
    "deepseek",
    "openrouter",
    "anthropic",
    "google",
]
PER_MILLION = "US dollars per million tokens"
Status = Literal["active", "disabled", "deprecated"]
ModelType = Literal["chat", "embedding"]
Name = Annotated[str, StringConstraints(min_length=1, max_length=100)]
ModelId = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Url = Annotated[str, StringConstraints(min_length=1, max_length=2000, pattern=r"^https?://")]
Credential = Annotated[str, StringConstraints(min_length=1, max_length=255)]


class ModelFields(Input):
    """Fields shared by creation and update."""

    name: Name | None = None
    model_type: ModelType | None = None
    version: Annotated[str, StringConstraints(max_length=50)] | None = None
    status: Status | None = None
    supports_tools: bool | None = None
    supports_streaming: bool | None = None
    supports_vision: bool | None = None
    supports_embeddings: bool | None = None
    dimensions: int | None = Field(default=None, ge=1, le=65_536)
    base_url: Url | None = Field(
        default=None,
        description="Where calls go (an admin's decision); unset: the provider's public API.",
    )
    api_key_credential: Credential | None = Field(
        default=None, description="The vault credential the calls carry; unset: the provider's."
    )
    description: Annotated[str, StringConstraints(max_length=2000)] | None = None


class ModelCreate(ModelFields):
    """A catalogue entry: a platform model (platform key) or one of the tenant's own."""

    provider: Provider
    model: ModelId = Field(description="The provider's id of the model, as agents name it.")
    context_window: int = Field(ge=1, le=100_000_000)
    max_output_tokens: int = Field(ge=1, le=100_000_000)
    input_price_per_million: float = Field(
        default=0, ge=0, le=1_000_000, allow_inf_nan=False, description=PER_MILLION
    )
    output_price_per_million: float = Field(
        default=0, ge=0, le=1_000_000, allow_inf_nan=False, description=PER_MILLION
    )


class ModelUpdate(Patch, ModelFields):
    """Changes to a catalogue entry; omitted fields stay as they are."""

    context_window: int | None = Field(default=None, ge=1, le=100_000_000)
    max_output_tokens: int | None = Field(default=None, ge=1, le=100_000_000)
    input_price_per_million: float | None = Field(
        default=None, ge=0, le=1_000_000, allow_inf_nan=False
    )
    output_price_per_million: float | None = Field(
        default=None, ge=0, le=1_000_000, allow_inf_nan=False
    )

    nullable = frozenset({"version", "dimensions", "base_url", "api_key_credential", "description"})


class ModelOut(Output):
    """A catalogue entry, with whether the caller's tenant may use it."""

    id: uuid.UUID
    scope: Literal["platform", "tenant"]
    name: str
    provider: str
    model: str
    model_type: str
    version: str | None
    status: str
    enabled: bool = Field(description="Usable by the tenant's agents now.")
    context_window: int
    max_output_tokens: int
    input_price_per_million: float
    output_price_per_million: float
    supports_tools: bool
    supports_streaming: bool
    supports_vision: bool
    supports_embeddings: bool
    dimensions: int | None
    base_url: str | None
    api_key_credential: str | None
    description: str | None
    created_at: datetime | None
    updated_at: datetime | None


class EnabledRequest(Input):
    """Turn a platform model on or off for the tenant."""

    enabled: bool
