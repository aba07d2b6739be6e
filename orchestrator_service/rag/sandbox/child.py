"""The ingestion worker process: parses, chunks and embeds one document at a time.

Started by the pool as `python -m orchestrator_service.rag.sandbox CONFIG`. Before reading any
upload it limits itself: address space (RLIMIT_AS, whole process), CPU time (RLIMIT_CPU, set
afresh for each document: past it the kernel ends the process with SIGXCPU), no core dumps;
and it dies with the service (PR_SET_PDEATHSIG). Requests come on stdin, events go out on the
original stdout; anything a library prints goes to stderr instead.
"""

import ctypes
import json
import logging
import os
import resource
import signal
import sys
import time
from pathlib import Path
from typing import IO, Any

from orchestrator_service.rag.chunking import chunk
from orchestrator_service.rag.documents import ParseError
from orchestrator_service.rag.embedders.fused import FusedEmbedder
from orchestrator_service.rag.embedders.local import LocalEmbedder
from orchestrator_service.rag.embedders.multilingual import MultilingualEmbedder
from orchestrator_service.rag.embedders.use import UseEmbedder
from orchestrator_service.rag.limits import ParseLimits, over_limit
from orchestrator_service.rag.parsers import parse
from orchestrator_service.rag.sandbox.protocol import frame, raw_frame, read_frame
from orchestrator_service.rag.storage import verify

log = logging.getLogger(__name__)

_Embedders = dict[str, LocalEmbedder | MultilingualEmbedder | UseEmbedder | FusedEmbedder]

_PR_SET_PDEATHSIG = 1
_M_ARENA_MAX = -8


def main(argv: list[str]) -> int:
    """Serve documents from stdin until it closes."""
    config = json.loads(argv[0])
    events = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # a library's print() now lands in the log, not among the frames
    _confine(config)
    limits = ParseLimits(**config["parse"])
    # Each model loads on its first document (or now, for the warm one).
    multilingual, use = MultilingualEmbedder(), UseEmbedder()
    embedders: _Embedders = {
        "local": LocalEmbedder(),
        "multilingual": multilingual,
        "use": use,
        "multilingual+use": FusedEmbedder(multilingual, use),
    }
    if config["warm"]:  # load the model now, not when the first document waits for it
        embedders["local"].embed_array(["warm-up"])
    requests = sys.stdin.buffer
    while (payload := read_frame(requests)) is not None:
        _limit_cpu(config["cpu_seconds"])
        if not _serve(json.loads(payload), limits, embedders, events, config["memory_mb"]):
            return 0
    return 0


def _confine(config: dict[str, Any]) -> None:
    """Die with the service, and limit memory, core dumps and malloc's address-space reserve
    (the first and the last on Linux with glibc, what the service's image runs)."""
    libc = ctypes.CDLL(None, use_errno=True)
    if hasattr(libc, "prctl"):
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != config["parent"]:  # the service died before prctl: nobody to serve
        sys.exit(1)
    # glibc reserves 64 MiB of address space per thread's malloc arena: with the model's and
    # the tokenizer's threads that alone would eat the address-space limit on a large machine.
    if hasattr(libc, "mallopt"):
        libc.mallopt(_M_ARENA_MAX, 2)
    memory = config["memory_mb"] << 20
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def _limit_cpu(seconds: int) -> None:
    """Allow `seconds` more of CPU time (all threads) from now."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    soft = int(usage.ru_utime + usage.ru_stime) + seconds
    _, hard = resource.getrlimit(resource.RLIMIT_CPU)
    if hard != resource.RLIM_INFINITY:
        soft = min(soft, hard)
    resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))


def _serve(
    request: dict[str, Any],
    limits: ParseLimits,
    embedders: "_Embedders",
    events: IO[bytes],
    memory_mb: int,
) -> bool:
    """Process one document, ending with `done` or `failed`; False when this process must go."""
    try:
        stats = _process(request, limits, embedders, events)
    except ParseError as error:
        _send(events, {"event": "failed", "reason": error.message})
    except FileNotFoundError:
        _send(events, {"event": "failed", "reason": "The uploaded file is missing"})
    except MemoryError:
        error = over_limit("Processing the document needs", f"{memory_mb:,} MiB", "max_memory_mb")
        _send(events, {"event": "failed", "reason": error.message, "retire": True})
        return False  # what is left of the heap is no place for the next document
    except Exception as error:
        log.exception("ingestion of %s failed", request["filename"])
        message = str(error) or type(error).__name__
        _send(events, {"event": "failed", "reason": f"Ingestion failed: {message}"})
    else:
        _send(events, {"event": "done", "stats": stats})
    return True


def _process(
    request: dict[str, Any], limits: ParseLimits, embedders: "_Embedders", events: IO[bytes]
) -> dict[str, float]:
    """Parse, chunk, then send the chunks in batches (ascending token count, so each model
    run pads little), embedded when the request says so; return the time each step took."""
    started = time.perf_counter()
    data = Path(request["path"]).read_bytes()
    verify(data, request["sha256"])
    document = parse(data, request["filename"], limits)
    del data
    parsed = time.perf_counter()
    chunks = chunk(document, max_tokens=request["max_tokens"], participant=request["participant"])
    chunked = time.perf_counter()
    _send(events, {"event": "parsed", "kind": document.kind, "chunks": len(chunks)})
    del document
    ordered = sorted(chunks, key=lambda c: c.tokens)
    embedding = 0.0
    for start in range(0, len(ordered), request["batch"]):
        batch = ordered[start : start + request["batch"]]
        rows = [[c.index, c.content, c.tokens, c.metadata] for c in batch]
        if not request["embed"]:
            _send(events, {"event": "batch", "chunks": rows, "vectors": False})
            continue
        before = time.perf_counter()
        vectors = embedders[request["embed"]].embed_array([c.content for c in batch])
        embedding += time.perf_counter() - before
        _send(events, {"event": "batch", "chunks": rows, "vectors": True}, vectors.tobytes())
    return {
        "parse_s": parsed - started,
        "chunk_s": chunked - parsed,
        "embed_s": embedding,
        "peak_rss": _peak_rss(),
    }


def _peak_rss() -> int:
    """This process's peak resident memory, in bytes. Its own: ru_maxrss would count the
    service's too, which Linux carries over through fork and exec."""
    try:
        status = Path("/proc/self/status").read_text()
    except FileNotFoundError:  # not Linux
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    line = next(line for line in status.splitlines() if line.startswith("VmHWM:"))
    return int(line.split()[1]) * 1024


def _send(events: IO[bytes], message: dict[str, Any], payload: bytes | None = None) -> None:
    events.write(frame(message))
    if payload is not None:
        events.write(raw_frame(payload))
    events.flush()
