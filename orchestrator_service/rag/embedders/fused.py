"""Two local models side by side for one collection: every chunk gets a vector of each, stored
as a row per model under that model's own index, and search ranks each model's rows apart and
fuses the ranks (rag/fusion.py), the chunk counting once.

Multilingual E5 and USE miss different Spanish paraphrases (bench/quality.py): fused, they find
more of them than either alone, for the cost of a second, fast model (USE embeds several times
faster than E5) and a second vector query per search.
"""

import asyncio

import numpy as np

from orchestrator_service.rag.embedders.multilingual import MultilingualEmbedder
from orchestrator_service.rag.embedders.use import UseEmbedder


class FusedEmbedder:
    """E5 and USE together: one concatenated row per text, split per model when written."""

    def __init__(self, multilingual: MultilingualEmbedder, use: UseEmbedder) -> None:
        self.parts: tuple[MultilingualEmbedder | UseEmbedder, ...] = (multilingual, use)
        self.model_id = "+".join(part.model_id for part in self.parts)
        self.dimensions = sum(part.dimensions for part in self.parts)
        self.max_tokens = min(part.max_tokens for part in self.parts)

    def split(self, vector: list[float]) -> list[tuple[str, list[float]]]:
        """(model id, that model's vector) of each part of a concatenated vector."""
        pieces, start = [], 0
        for part in self.parts:
            pieces.append((part.model_id, vector[start : start + part.dimensions]))
            start += part.dimensions
        return pieces

    def embed_array(self, texts: list[str]) -> np.ndarray:
        """Each text's passage vectors of every part, concatenated in the parts' order."""
        return np.hstack([part.embed_array(texts) for part in self.parts])

    def embed_sync(self, texts: list[str]) -> list[list[float]]:
        """One concatenated vector per text, in order."""
        return self.embed_array(texts).tolist()

    async def embed(self, texts: list[str]) -> list[list[float]]:
        """Embed passages off the event loop."""
        return await asyncio.to_thread(self.embed_sync, texts)

    async def embed_query(self, text: str) -> list[float]:
        """Every part's query vector, concatenated (search embeds per part instead)."""
        vectors = [await part.embed_query(text) for part in self.parts]
        return [x for vector in vectors for x in vector]

    async def aclose(self) -> None:
        """Nothing to release: the parts live as long as the process."""
