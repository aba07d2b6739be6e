"""Embedders behind one Protocol: the local ONNX model (default) and OpenAI-compatible APIs,
obtained per tenant from `Embedders` as async context managers."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Literal, Protocol

EmbedderName = Literal["local", "openai"]


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
        """One vector per text, in order."""
        ...

    async def aclose(self) -> None:
        """Release what the embedder holds (an HTTP client)."""
        ...


class RemoteEmbedderFactory(Protocol):
    """Opens a tenant's remote embedder (its API key comes from the tenant's vault)."""

    async def __call__(self, tenant_id: int) -> Embedder:
        """A new embedder for the tenant; the caller closes it."""
        ...


class Embedders:
    """The embedders of this service: the shared local model, and a remote one per tenant."""

    def __init__(
        self, *, local: Embedder, remote: RemoteEmbedderFactory, default: EmbedderName
    ) -> None:
        self.local = local
        self.default: EmbedderName = default
        self._remote = remote

    @asynccontextmanager
    async def open(
        self, tenant_id: int, name: EmbedderName | None = None
    ) -> AsyncIterator[Embedder]:
        """The embedder `name` (default: the configured one) for a tenant, closed on exit;
        the shared local model stays open for the next caller."""
        if (name or self.default) == "local":
            yield self.local
            return
        embedder = await self._remote(tenant_id)
        try:
            yield embedder
        finally:
            await embedder.aclose()

    async def aclose(self) -> None:
        """Release the shared local model."""
        await self.local.aclose()
