"""Embedders behind one Protocol: the local ONNX model (default) and OpenAI-compatible APIs."""

from typing import Protocol


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
