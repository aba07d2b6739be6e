"""Native model providers behind one interface: `open_client` gives, for a catalogue entry, a
client that speaks the provider's own protocol (OpenAI chat completions through the `openai`
SDK, the same wire format for compatible servers through our own client, Anthropic Messages
and Google Gemini through their SDKs) and answers in the OpenAI shape the run loop uses
(messages, tool definitions and tool calls), so the loop never knows which provider it talks
to."""

from collections.abc import AsyncIterator
from typing import Any, Protocol

from orchestrator_service.agents.llm import ChatClient, Completion, ModelLimits
from orchestrator_service.agents.sdk import Target
from orchestrator_service.catalogue.models import AiModel
from orchestrator_service.catalogue.schemas import PROTOCOLS
from orchestrator_service.tools.ssrf import Guard

# Where each protocol's calls go, and the vault credential each provider's calls carry,
# unless the catalogue entry or the agent's config says otherwise.
DEFAULT_BASE_URLS = {
    "openai": "https://api.openai.com/v1",
    "anthropic": "https://api.anthropic.com",
    "gemini": "https://generativelanguage.googleapis.com",
}
DEFAULT_CREDENTIALS = {
    "anthropic": "ANTHROPIC_API_KEY",
    "google": "GEMINI_API_KEY",
    "azure_openai": "AZURE_OPENAI_API_KEY",
}
FALLBACK_CREDENTIAL = "OPENAI_API_KEY"


class ModelClient(Protocol):
    """What the run loop needs of a model API client."""

    host: str

    async def complete(self, messages: list[dict], tools: list[dict], **options: Any) -> Completion:
        """One non-streamed answer."""
        ...

    def stream(
        self, messages: list[dict], tools: list[dict], **options: Any
    ) -> AsyncIterator[str | Completion]:
        """Text deltas as they come, then the whole Completion."""
        ...

    async def aclose(self) -> None:
        """Close the HTTP client."""
        ...


def target_of(entry: AiModel, config: dict) -> Target:
    """Where and how the entry's model is called: the agent's `config.base_url`, else the
    entry's, else the provider's public API."""
    protocol = PROTOCOLS[entry.provider]
    return Target(
        protocol=protocol,
        provider=entry.provider,
        model=entry.model,
        base_url=config.get("base_url") or entry.base_url or DEFAULT_BASE_URLS[protocol],
        max_output_tokens=entry.max_output_tokens,
    )


def default_credential(provider: str) -> str:
    """The vault credential a provider's calls carry unless configured otherwise."""
    return DEFAULT_CREDENTIALS.get(provider, FALLBACK_CREDENTIAL)


def open_client(
    target: Target, *, api_key: str, guard: Guard, deadline: float, limits: ModelLimits
) -> ModelClient:
    """A client for the target's protocol, holding the key."""
    # The providers' SDKs take about 3 s to import; most processes (the CLI, ingestion
    # workers, a service whose agents all use one protocol) never need all of them.
    if target.protocol == "anthropic":
        from orchestrator_service.agents.anthropic_client import AnthropicClient  # noqa: PLC0415

        return AnthropicClient(
            target, api_key=api_key, guard=guard, deadline=deadline, limits=limits
        )
    if target.protocol == "gemini":
        from orchestrator_service.agents.gemini_client import GeminiClient  # noqa: PLC0415

        return GeminiClient(target, api_key=api_key, guard=guard, deadline=deadline, limits=limits)
    if target.provider == "openai":  # OpenAI's own API: its official SDK
        from orchestrator_service.agents.openai_client import OpenAIClient  # noqa: PLC0415

        return OpenAIClient(target, api_key=api_key, guard=guard, deadline=deadline, limits=limits)
    # Other servers of the same wire format (Azure's v1 API, Ollama, vLLM, ...): our client.
    return ChatClient(
        base_url=target.base_url,
        api_key=api_key,
        model=target.model,
        guard=guard,
        deadline=deadline,
        limits=limits,
        key_header="api-key" if target.provider == "azure_openai" else "authorization",
        max_output_tokens=target.max_output_tokens,
    )
