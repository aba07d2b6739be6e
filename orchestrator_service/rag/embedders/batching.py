"""Micro-batching of search queries: concurrent queries are embedded together, in one model run.

A local model costs much less per text in a batch than one text at a time (one run's fixed
cost is shared; bench/serve_load.py measures it), and concurrent searches each need one short
query embedded. So each local embedder owns a `QueryBatcher`: a query that finds the model idle
runs at once, alone (no added latency for a lone caller); queries that arrive while the model
is busy wait and run together as soon as it is free, at most `max_batch` per run. Runs happen
in a worker thread, never on the event loop. When a run fails, its queries are run again one
by one, so only a query the model fails on fails (with a fixed message: the library's text,
which may quote the input, goes nowhere), not the searches batched with it.
"""

import asyncio
import logging
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from orchestrator_service.errors import OrchestratorError
from orchestrator_service.rag.embedders.openai import EmbeddingFailed

log = logging.getLogger(__name__)

# Texts -> one unit row per text, in order (runs in a worker thread).
EmbedRun = Callable[[list[str]], np.ndarray]


@dataclass
class _Queue:
    """Queries waiting on one event loop, and whether a run is under way there."""

    waiting: list[tuple[str, asyncio.Future[list[float]]]] = field(default_factory=list)
    running: asyncio.Task[None] | None = None


class QueryBatcher:
    """Embeds the queries of concurrent callers together, one model run at a time."""

    def __init__(self, run: EmbedRun, *, model: str, max_batch: int = 32) -> None:
        self._run = run
        self._model = model
        self._max_batch = max_batch
        # Per event loop: a future belongs to the loop that made it.
        self._queues: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Queue] = (
            weakref.WeakKeyDictionary()
        )

    async def embed(self, text: str) -> list[float]:
        """The vector of `text`, from the next model run (at once when the model is idle)."""
        loop = asyncio.get_running_loop()
        queue = self._queues.setdefault(loop, _Queue())
        future: asyncio.Future[list[float]] = loop.create_future()
        queue.waiting.append((text, future))
        if queue.running is None:
            queue.running = loop.create_task(self._drain(queue))
        return await future

    async def _drain(self, queue: _Queue) -> None:
        """Run batches until no query waits."""
        batch: list[tuple[str, asyncio.Future[list[float]]]] = []
        try:
            while queue.waiting:
                batch = queue.waiting[: self._max_batch]
                del queue.waiting[: self._max_batch]
                # A caller that gave up (a client that disconnected) is not embedded.
                await self._settle([(text, future) for text, future in batch if not future.done()])
                batch = []
        except BaseException:
            # The loop is shutting down (cancelled): nobody is left waiting forever.
            for _, future in [*batch, *queue.waiting]:
                future.cancel()
            queue.waiting.clear()
            raise
        finally:
            queue.running = None

    async def _settle(self, batch: list[tuple[str, asyncio.Future[list[float]]]]) -> None:
        """Run one batch and resolve its callers' futures."""
        if not batch:
            return
        try:
            vectors = await asyncio.to_thread(self._run, [text for text, _ in batch])
        except Exception as exc:
            if len(batch) > 1:
                # One query may be what the model chokes on: run each alone, so that only
                # its own caller fails, not the other searches it was batched with.
                for one in batch:
                    await self._settle([one])
                return
            _, future = batch[0]
            if not future.done():
                future.set_exception(self._failure(exc))
            return
        for (_, future), vector in zip(batch, vectors, strict=True):
            if not future.done():
                future.set_result(vector.tolist())

    def _failure(self, exc: Exception) -> OrchestratorError:
        """What a caller of a failed run gets: our own errors as they are (their messages are
        ours), any other as a fixed message (a library's text may quote the input)."""
        if isinstance(exc, OrchestratorError):
            return exc
        log.error("the %s model failed on a query: %s", self._model, type(exc).__name__)
        return EmbeddingFailed(f"The local embedding model {self._model} failed")
