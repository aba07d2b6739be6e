"""The ingestion worker processes: documents come back parsed, chunked and embedded from a
child; each limit (wall clock, CPU, memory) ends the document with a reason naming its
setting and a fresh child takes the next one; children are recycled, and die with the
service."""

import asyncio
import dataclasses
import hashlib
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import psutil
import pytest

from orchestrator_service.rag.documents import ParseError
from orchestrator_service.rag.limits import ParseLimits
from orchestrator_service.rag.sandbox import Batch, IngestPool, Parsed, ProcessLimits, Request
from tests.helpers import eventually
from tests.rag.helpers import huge_docx

ROOT = Path(__file__).resolve().parents[2]
GENEROUS = ProcessLimits(
    processes=1, documents_per_process=50, memory_mb=3072, cpu_seconds=600, timeout_seconds=600
)
PROSE = " ".join(
    f"Sentence {i} tells how the warehouse in Lima ships order {i * 7} to the coast."
    for i in range(4000)
)


@pytest.fixture
def files(tmp_path: Path) -> Path:
    """Where the test's uploads are stored."""
    (tmp_path / "long.txt").write_text(PROSE)
    (tmp_path / "short.txt").write_text("The office opens at nine and closes at six.")
    return tmp_path


async def run(pool: IngestPool, path: Path, *, embed: str | None = "local") -> list[Parsed | Batch]:
    """Every event of one document."""
    sha256 = hashlib.sha256(path.read_bytes()).hexdigest()
    request = Request(str(path), sha256, path.name, None, max_tokens=256, embed=embed, batch=64)
    async with pool.document(request) as events:
        return [event async for event in events]


async def failure(pool: IngestPool, path: Path, *, embed: str | None = "local") -> str:
    """The reason one document fails for."""
    with pytest.raises(ParseError) as caught:
        await run(pool, path, embed=embed)
    return caught.value.message


@pytest.fixture
async def pools() -> AsyncIterator[list[IngestPool]]:
    """Pools the test makes; all closed at its end (no child left behind)."""
    made: list[IngestPool] = []
    yield made
    for pool in made:
        await pool.close()


def pool_of(pools: list[IngestPool], limits: ProcessLimits, **parse: int) -> IngestPool:
    """A pool without warm-up: what a test measures starts with its document."""
    pool = IngestPool(limits, ParseLimits(**parse), warm=False)
    pools.append(pool)
    return pool


def sandbox_children() -> list[psutil.Process]:
    """This process's ingestion worker processes."""
    return [
        child
        for child in psutil.Process().children()
        if "orchestrator_service.rag.sandbox" in " ".join(child.cmdline())
    ]


async def test_a_document_comes_back_chunked_and_embedded_from_a_child(pools, files) -> None:
    pool = pool_of(pools, GENEROUS)

    events = await run(pool, files / "short.txt")

    assert events[0] == Parsed(kind="txt", chunks=1)
    (batch,) = events[1:]
    assert isinstance(batch, Batch) and batch.vectors is not None
    assert batch.chunks[0].content == "The office opens at nine and closes at six."
    assert len(batch.vectors[0]) == 384
    assert len(sandbox_children()) == 1
    assert pool.stats.documents == 1 and pool.stats.peak_rss > 0


async def test_a_child_reports_its_own_peak_memory_not_the_service_s(pools, files) -> None:
    ballast = b"x" * (600 << 20)  # resident in this process when the child is forked
    pool = pool_of(pools, GENEROUS)

    await run(pool, files / "short.txt", embed=None)

    # ru_maxrss would say at least 600 MiB: Linux carries it over through fork and exec.
    assert 0 < pool.stats.peak_rss < len(ballast)


async def test_without_local_embedding_the_chunks_come_without_vectors(pools, files) -> None:
    events = await run(pool_of(pools, GENEROUS), files / "long.txt", embed=None)

    batches = [event for event in events if isinstance(event, Batch)]
    assert all(batch.vectors is None for batch in batches)
    assert sum(len(batch.chunks) for batch in batches) == events[0].chunks > 64


async def test_past_the_deadline_the_child_is_killed_and_a_fresh_one_goes_on(pools, files) -> None:
    pool = pool_of(pools, dataclasses.replace(GENEROUS, timeout_seconds=3))

    assert await failure(pool, files / "long.txt") == (
        "Processing the document took more than 3 seconds (limit "
        "ORCH_INGEST_TIMEOUT_SECONDS). Split it into smaller files and upload those."
    )
    pool.limits = GENEROUS
    assert (await run(pool, files / "short.txt"))[0] == Parsed(kind="txt", chunks=1)
    assert pool.stats.started == {"first use": 1, "killed or died": 1}
    assert len(sandbox_children()) == 1


async def test_past_its_cpu_time_the_kernel_ends_the_child(pools, files) -> None:
    pool = pool_of(pools, dataclasses.replace(GENEROUS, cpu_seconds=2))

    assert await failure(pool, files / "long.txt") == (
        "Processing the document used more than 2 CPU seconds (limit "
        "ORCH_INGEST_CPU_SECONDS). Split it into smaller files and upload those."
    )
    assert (await run(pool, files / "short.txt"))[0] == Parsed(kind="txt", chunks=1)


async def test_over_its_memory_limit_the_document_fails_naming_it(pools, tmp_path) -> None:
    (tmp_path / "huge.docx").write_bytes(huge_docx(2_000_000))  # 70 MB of XML, 2 M paragraphs
    pool = pool_of(pools, dataclasses.replace(GENEROUS, memory_mb=900), max_docx_xml_mb=1024)

    reason = await failure(pool, tmp_path / "huge.docx", embed=None)

    assert "ORCH_INGEST_MAX_MEMORY_MB" in reason
    (tmp_path / "small.docx").write_bytes(huge_docx(3))
    assert (await run(pool, tmp_path / "small.docx", embed=None))[0] == Parsed("docx", 1)


async def test_a_child_that_dies_midway_fails_its_document_only(pools, files) -> None:
    pool = pool_of(pools, GENEROUS)
    long = files / "long.txt"
    digest = hashlib.sha256(long.read_bytes()).hexdigest()
    request = Request(str(long), digest, "long.txt", None, 256, embed="local", batch=64)

    with pytest.raises(ParseError) as caught:
        async with pool.document(request) as events:
            async for event in events:
                if isinstance(event, Batch):
                    sandbox_children()[0].send_signal(signal.SIGKILL)

    assert caught.value.message.startswith(
        "The worker process handling the document stopped (signal SIGKILL)."
    )
    assert (await run(pool, files / "short.txt"))[0] == Parsed(kind="txt", chunks=1)


async def test_children_are_recycled_after_their_documents(pools, files) -> None:
    pool = pool_of(pools, dataclasses.replace(GENEROUS, documents_per_process=2))

    for _ in range(3):
        await run(pool, files / "short.txt", embed=None)

    assert pool.stats.started == {"first use": 1, "recycled": 1}
    assert pool.stats.documents == 3


async def test_a_child_dies_with_the_service(files: Path) -> None:
    short_sha = hashlib.sha256((files / "short.txt").read_bytes()).hexdigest()
    script = (
        "import asyncio, sys\n"
        "from orchestrator_service.rag.limits import ParseLimits\n"
        "from orchestrator_service.rag.sandbox import IngestPool, ProcessLimits, Request\n"
        "async def main():\n"
        "    pool = IngestPool(ProcessLimits(1, 50, 3072, 600, 600), ParseLimits(), warm=False)\n"
        f"    request = Request({str(files / 'short.txt')!r}, {short_sha!r}, 'short.txt', None, "
        "256, False, 64)\n"
        "    async with pool.document(request) as events:\n"
        "        [event async for event in events]\n"
        "    print('served', flush=True)\n"
        "    await asyncio.sleep(600)\n"
        "asyncio.run(main())\n"
    )
    service = subprocess.Popen(
        [sys.executable, "-c", script], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    try:
        assert service.stdout is not None
        assert await asyncio.to_thread(service.stdout.readline) == "served\n"
        (child,) = psutil.Process(service.pid).children()
    finally:
        service.kill()
        service.wait()

    assert await eventually(
        lambda: asyncio.sleep(0, not child.is_running() or child.status() == "zombie"),
        lambda gone: gone,
        attempts=300,
        interval=0.1,
    )
