"""Embedders behind one Protocol: three local models (MiniLM for English, multilingual E5,
multilingual USE with 512-dimensional vectors), E5 and USE fused, and OpenAI-compatible APIs,
obtained per tenant from `Embedders` as async context managers."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Literal, Protocol, get_args

EmbedderName = Literal["local", "multilingual", "use", "multilingual+use", "openai"]
EMBEDDER_NAMES: tuple[EmbedderName, ...] = get_args(EmbedderName)
# The embedders that run in this process (and in the ingestion workers).
LOCAL_EMBEDDERS: tuple[EmbedderName, ...] = ("local", "multilingual", "use", "multilingual+use")
# A tenant's language picks its default embedder (bench/quality.py measured the choice):
# MiniLM for English, E5 and USE fused for Spanish and for mixed-language knowledge.
Language = Literal["es", "en", "mixed"]
LANGUAGE_EMBEDDERS: dict[str, EmbedderName] = {
    "es": "multilingual+use",
    "mixed": "multilingual+use",
    "en": "local",
}


class Embedder(Protocol):
    """Turns texts into unit vectors of a fixed dimension."""

    @property
    def model_id(self) -> str:
        """The model the vectors come from; each document records it."""
        ...

    @property
    def dimensions(self) -> int:
        """The length of every vector."""
        ...

    @property
    def max_tokens(self) -> int:
        """The model's window: no chunk may be longer."""
        ...

    async def embed(self, texts: list[str]) -> list[list[float]]:
        """One vector per text (a passage to be searched), in order."""
        ...

    async def embed_query(self, text: str) -> list[float]:
        """The vector of a search query (some models embed queries differently)."""
        ...

    async def aclose(self) -> None:
        """Release what the embedder holds (an HTTP client)."""
        ...


class RemoteEmbedderFactory(Protocol):
    """Opens a tenant's remote embedder (its API key comes from the tenant's vault)."""

    async def __call__(self, tenant_id: int, model_id: str | None = None) -> Embedder:
        """A new embedder for the tenant, of the model that made `model_id`'s vectors when
        given (else the configured one); the caller closes it."""
        ...


class Embedders:
    """The embedders of this service: the shared local models, and a remote one per tenant."""

    def __init__(
        self,
        *,
        local: Embedder,
        multilingual: Embedder,
        use: Embedder,
        fused: Embedder,
        remote: RemoteEmbedderFactory,
        default: EmbedderName,
    ) -> None:
        self.local = local
        self.multilingual = multilingual
        self.use = use
        # E5 and USE together: a fused document's chunks have a row of each model.
        self.fused = fused
        self.default: EmbedderName = default
        self._remote = remote

    def name_of(self, model_id: str) -> EmbedderName:
        """Which embedder made vectors of `model_id`."""
        if model_id == self.local.model_id:
            return "local"
        if model_id == self.multilingual.model_id:
            return "multilingual"
        if model_id == self.use.model_id:
            return "use"
        if model_id == self.fused.model_id:
            return "multilingual+use"
        return "openai"

    def parts_of(self, model_id: str) -> list[str]:
        """The models whose vectors a document embedded by `model_id` has, each searched
        apart: E5 and USE for the fused embedder, else the model itself."""
        if model_id == self.fused.model_id:
            return [self.multilingual.model_id, self.use.model_id]
        return [model_id]

    def default_for(self, language: str | None) -> EmbedderName:
        """The default embedder of a tenant writing `language` (unset: the configured one).
        A service configured for a remote embedder keeps it whatever the language."""
        if language is None or self.default == "openai":
            return self.default
        return LANGUAGE_EMBEDDERS[language]

    @asynccontextmanager
    async def open(
        self, tenant_id: int, name: EmbedderName | None = None, *, model_id: str | None = None
    ) -> AsyncIterator[Embedder]:
        """The embedder `name` (default: the configured one) for a tenant, closed on exit;
        the shared local model stays open for the next caller. A remote one embeds as
        `model_id` (its model and dimension) when given: documents embedded by another OpenAI
        model or dimension than the configured one, such as an adopted LangChain table's,
        stay searchable."""
        name = name or self.default
        if name in LOCAL_EMBEDDERS:
            yield {
                "local": self.local,
                "multilingual": self.multilingual,
                "use": self.use,
                "multilingual+use": self.fused,
            }[name]
            return
        embedder = await self._remote(tenant_id, model_id)
        try:
            yield embedder
        finally:
            await embedder.aclose()

    async def aclose(self) -> None:
        """Release the shared local models."""
        await self.local.aclose()
        await self.multilingual.aclose()
        await self.use.aclose()
