"""The service's side: a pool of worker processes, each handling one document at a time.

Children start on first use and are kept warm: one that leaves (recycled after
`documents_per_process` documents, killed at the deadline, or dead) is replaced at once, and
its successor loads the model while nothing waits for it. The wall-clock deadline is the
parent's to enforce: it covers the document from its request to its last vector written, and
past it the child is killed, whatever it is doing.
"""

import asyncio
import json
import logging
import os
import signal
import sys
from collections.abc import AsyncGenerator, AsyncIterator, Coroutine
from contextlib import aclosing, asynccontextmanager, suppress
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from orchestrator_service.metrics import INGEST_WORKER_PEAK_RSS, INGEST_WORKERS_STARTED
from orchestrator_service.rag.documents import Chunk, ParseError
from orchestrator_service.rag.limits import ParseLimits, over_limit
from orchestrator_service.rag.sandbox.protocol import (
    HEADER_SIZE,
    Batch,
    Parsed,
    ProtocolError,
    Request,
    frame,
    frame_size,
)

log = logging.getLogger(__name__)

_EXIT_GRACE_SECONDS = 5.0


@dataclass(frozen=True)
class ProcessLimits:
    """How many worker processes, how long each lives, and what each document may use."""

    processes: int
    documents_per_process: int
    memory_mb: int
    cpu_seconds: int
    timeout_seconds: float


@dataclass
class PoolStats:
    """What the children reported, summed over the documents they finished."""

    documents: int = 0
    parse_s: float = 0.0
    chunk_s: float = 0.0
    embed_s: float = 0.0
    peak_rss: int = 0  # the largest of any child, in bytes
    started: dict[str, int] = field(default_factory=dict)  # children started, by reason


class IngestPool:
    """Worker processes that parse, chunk and embed uploads, so that this one never does."""

    def __init__(self, limits: ProcessLimits, parse_limits: ParseLimits, *, warm: bool) -> None:
        self.limits = limits
        self.parse_limits = parse_limits
        self.stats = PoolStats()
        self._config = {
            "parse": asdict(parse_limits),
            "memory_mb": limits.memory_mb,
            "cpu_seconds": limits.cpu_seconds,
            "warm": warm,
            "parent": os.getpid(),
        }
        self._slots = asyncio.Semaphore(limits.processes)
        self._idle: list[_Child] = []
        self._warming: list[asyncio.Task[_Child]] = []  # successors being started
        self._leaving: set[asyncio.Task] = set()  # children being stopped or reaped
        self._closed = False

    @asynccontextmanager
    async def document(self, request: Request) -> AsyncIterator[AsyncIterator[Parsed | Batch]]:
        """The events of one document's processing, within the wall-clock deadline; a
        failure of the worker (a limit, a crash) is a ParseError naming its cause."""
        async with self._slots:
            child = await self._take()
            deadline = asyncio.timeout(self.limits.timeout_seconds)
            events = child.process(request)
            try:
                async with aclosing(events), deadline:
                    yield events
            except TimeoutError:
                if not deadline.expired():
                    raise
                raise over_limit(
                    "Processing the document took",
                    f"{self.limits.timeout_seconds:g} seconds",
                    "timeout_seconds",
                ) from None
            finally:
                self._release(child)

    async def close(self) -> None:
        """Stop every child (a document in progress is abandoned)."""
        self._closed = True
        warming, self._warming = self._warming, []
        started = await asyncio.gather(*warming, return_exceptions=True)
        idle, self._idle = self._idle, []
        children = [c for c in started if isinstance(c, _Child)] + idle
        await asyncio.gather(*(child.stop() for child in children), *self._leaving)

    async def _take(self) -> "_Child":
        while True:
            if self._idle:
                child = self._idle.pop()
            elif self._warming:
                child = await self._warming.pop(0)
            else:
                child = await self._start("first use" if not self.stats.started else "demand")
            if child.alive:
                return child

    def _release(self, child: "_Child") -> None:
        if child.stats is not None:
            self._count(child.stats)
        if not child.alive or child.busy:
            child.kill()
            self._leave(child.wait())
            self._replace("killed or died")
        elif child.retiring or child.documents >= self.limits.documents_per_process:
            self._leave(child.stop())
            self._replace("recycled")
        else:
            self._idle.append(child)

    def _replace(self, reason: str) -> None:
        """Start a successor now, so that the next document finds it warm."""
        if not self._closed:
            self._warming.append(asyncio.create_task(self._start(reason)))

    async def _start(self, reason: str) -> "_Child":
        self.stats.started[reason] = self.stats.started.get(reason, 0) + 1
        INGEST_WORKERS_STARTED.labels(reason).inc()
        return await _Child.start(self._config, self.limits)

    def _leave(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coroutine)
        self._leaving.add(task)
        task.add_done_callback(self._leaving.discard)

    def _count(self, stats: dict[str, float]) -> None:
        self.stats.documents += 1
        self.stats.parse_s += stats["parse_s"]
        self.stats.chunk_s += stats["chunk_s"]
        self.stats.embed_s += stats["embed_s"]
        self.stats.peak_rss = max(self.stats.peak_rss, int(stats["peak_rss"]))
        INGEST_WORKER_PEAK_RSS.set(stats["peak_rss"])


class _Child:
    """One worker process and the pipes to it."""

    def __init__(self, process: asyncio.subprocess.Process, limits: ProcessLimits) -> None:
        self._process = process
        self._limits = limits
        self.documents = 0
        self.busy = False  # between a request and its `done` or `failed`
        self.retiring = False  # it said it will exit after this document
        self.stats: dict[str, float] | None = None  # of its last finished document

    @classmethod
    async def start(cls, config: dict, limits: ProcessLimits) -> "_Child":
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "orchestrator_service.rag.sandbox",
            json.dumps(config),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        return cls(process, limits)

    @property
    def alive(self) -> bool:
        return self._process.returncode is None

    async def process(self, request: Request) -> AsyncGenerator[Parsed | Batch, None]:
        """Send the request; yield its events until `done`, raise ParseError on `failed`."""
        self.busy, self.stats = True, None
        try:
            stdin = self._process.stdin
            assert stdin is not None
            stdin.write(frame(asdict(request)))
            await stdin.drain()
        except (BrokenPipeError, ConnectionResetError):
            raise ParseError(await self._death()) from None
        while True:
            message = await self._read_json()
            event = message["event"]
            if event == "parsed":
                yield Parsed(kind=message["kind"], chunks=message["chunks"])
            elif event == "batch":
                chunks = [Chunk(*row) for row in message["chunks"]]
                vectors = await self._read_vectors(len(chunks)) if message["vectors"] else None
                yield Batch(chunks=chunks, vectors=vectors)
            else:
                self.busy, self.documents = False, self.documents + 1
                if event == "done":
                    self.stats = message["stats"]
                    return
                self.retiring = bool(message.get("retire"))
                raise ParseError(message["reason"])

    async def _read_json(self) -> dict:
        return json.loads(await self._read_frame())

    async def _read_vectors(self, rows: int) -> list[list[float]]:
        payload = await self._read_frame()
        vectors = np.frombuffer(payload, dtype=np.float32)
        if rows == 0 or len(vectors) % rows:
            raise ProtocolError(f"{len(vectors)} floats for {rows} vectors")
        return vectors.reshape(rows, -1).tolist()

    async def _read_frame(self) -> bytes:
        stdout = self._process.stdout
        assert stdout is not None
        try:
            return await stdout.readexactly(frame_size(await stdout.readexactly(HEADER_SIZE)))
        except asyncio.IncompleteReadError:
            raise ParseError(await self._death()) from None

    async def _death(self) -> str:
        """Why the process ended midway, once it has."""
        with suppress(TimeoutError):
            await asyncio.wait_for(self._process.wait(), _EXIT_GRACE_SECONDS)
        code = self._process.returncode
        if code == -signal.SIGXCPU:
            return over_limit(
                "Processing the document used",
                f"{self._limits.cpu_seconds:,} CPU seconds",
                "cpu_seconds",
            ).message
        ending = f"signal {signal.Signals(-code).name}" if code and code < 0 else f"exit {code}"
        return (
            f"The worker process handling the document stopped ({ending}). The usual cause is "
            f"a file that needs more memory than ORCH_INGEST_MAX_MEMORY_MB "
            f"({self._limits.memory_mb:,} MiB) allows."
        )

    def kill(self) -> None:
        """End it now (SIGKILL), whatever it is doing."""
        if self.alive:
            self._process.kill()

    async def wait(self) -> None:
        """Until it has exited (its exit status collected: no zombie left behind)."""
        await self._process.wait()

    async def stop(self) -> None:
        """Let it exit (its stdin closes), killing it if it does not within a few seconds."""
        stdin = self._process.stdin
        if stdin is not None:
            stdin.close()
        try:
            await asyncio.wait_for(self._process.wait(), _EXIT_GRACE_SECONDS)
        except TimeoutError:
            self.kill()
            await self._process.wait()
