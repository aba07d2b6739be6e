"""Benchmark knowledge search under concurrency against one `orchestrator serve` process
(issue 15), and where its CPU goes.

Starts `orchestrator serve` on the embedded default (its own data directory, 127.0.0.1 only),
creates a tenant with `orchestrator tenant create`, uploads three small documents through the
API and waits until they are ready. Then an asyncio client (one lean HTTP/1.1 keep-alive
connection per client) sends `POST /api/v1/rag/search` for `--seconds` at 1, 8 and 32
concurrent clients, each request a different question (so the cache of recent query vectors
never hits; `--repeat N` cycles through N questions instead, to measure it), and reports
throughput, p50, p99, errors, and the CPU the server process, PostgreSQL and the client spent
per request (psutil and time.process_time, over the level).

Then the stages of one search, in this process, against the same databases (the runtime booted
on the same data directory): CPU per call (time.process_time, all threads) of authentication
(its session and query), embedding the query (alone, and 8 at once micro-batched against 8 at
once each in a model run of its own, as before batching), a metadata session with one read
(now: checkout check and autocommit; before: pool_pre_ping and a transaction), the metadata
query of the models, the vector query, the metadata check of the hits, and serializing the
answer; of the whole search with a different question each call and with one repeated
question (its vector from the cache of recent query vectors); and of the whole request
through the ASGI app in process (no socket), one at a time and 8 at once (with batching, and
with one model run per query as before).

Target (reported, not asserted): >= 150 req/s at 32 clients with p99 <= 300 ms and no errors.
Prints the tables (markdown) and writes bench/results/serve_load.json. Run from the repository
root (about 3 minutes):

    .venv/bin/python bench/serve_load.py
"""

import argparse
import asyncio
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

import httpx
import psutil
from report import markdown_table  # bench/ is on sys.path when run
from sqlalchemy import text
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from orchestrator_service.auth.authentication import authenticate
from orchestrator_service.bootstrap import boot
from orchestrator_service.config import Settings
from orchestrator_service.main import create_app
from orchestrator_service.pagination import page_of
from orchestrator_service.rag.embedders.batching import QueryBatcher
from orchestrator_service.rag.embedders.local import LocalEmbedder
from orchestrator_service.rag.schemas import SearchRequest, SearchResult

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "serve_load.json"
ORCHESTRATOR = str(Path(sys.executable).with_name("orchestrator"))
LEVELS = (1, 8, 32)
STAGE_CALLS = 200
CONCURRENT = 8  # in-process callers of the concurrent stages
ROUNDS = 5  # the stages take turns, this many times
THROUGHPUT_TARGET = 150.0
P99_TARGET_MS = 300.0
DOCUMENTS = {
    "horario.txt": "La oficina abre a las nueve de la mañana y cierra a las seis de la tarde. "
    "Los sábados abre solo por la mañana.",
    "envios.txt": "Los envíos a Lima tardan tres días hábiles; a provincias, cinco. "
    "El seguimiento llega por correo.",
    "refunds.txt": "Refunds are paid within ten days to the original card. Store credit is "
    "immediate.",
}
SUBJECTS = ("office", "shipping", "refund", "card", "Lima", "Saturday", "tracking", "credit")
ASKS = ("When does the {} open?", "How long does {} take?", "What about the {}?", "{} policy")


def questions(count: int) -> list[str]:
    """`count` different questions."""
    base = [ask.format(s) for ask in ASKS for s in SUBJECTS]
    return [f"{base[i % len(base)]} ({i})" for i in range(count)]


def free_port() -> int:
    """A free TCP port on the loopback interface."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def postgres_processes(data_dir: Path) -> list[psutil.Process]:
    """The embedded PostgreSQL's postmaster and its children (backends included)."""
    postmaster = data_dir / "pgdata" / "postmaster.pid"
    root = psutil.Process(int(postmaster.read_text().split()[0]))
    return [root, *root.children(recursive=True)]


def cpu_seconds(processes: list[psutil.Process]) -> float:
    """User + system CPU of the processes still alive."""
    total = 0.0
    for process in processes:
        try:
            times = process.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


class LeanConnection:
    """One keep-alive HTTP/1.1 connection that posts searches: the load's client, kept lean so
    that its CPU (measured per level) leaves the 2 cores to the server and PostgreSQL (0.1 ms
    per request, against 0.9 to 1.0 ms for an httpx client at 32 clients)."""

    def __init__(self, host: str, port: int, api_key: str) -> None:
        self._address = (host, port)
        self._head = (
            f"POST /api/v1/rag/search HTTP/1.1\r\nHost: {host}:{port}\r\n"
            f"Authorization: Bearer {api_key}\r\nContent-Type: application/json\r\n"
        )
        self._streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def search(self, question: str) -> str | None:
        """Post one search; None when it answered 200 with a page of items, else what went wrong."""
        body = json.dumps({"query": question, "top_k": 5}).encode()
        try:
            if self._streams is None:
                self._streams = await asyncio.open_connection(*self._address)
            reader, writer = self._streams
            writer.write(f"{self._head}Content-Length: {len(body)}\r\n\r\n".encode() + body)
            head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
            fields = dict(line.lower().split(": ", 1) for line in head[1:] if ": " in line)
            payload = await reader.readexactly(int(fields["content-length"]))
        except (OSError, asyncio.IncompleteReadError, KeyError, ValueError) as exc:
            await self.close()
            return type(exc).__name__
        status = head[0].split(" ")[1]
        if status != "200":
            return status
        answer = json.loads(payload)
        return (
            None
            if isinstance(answer, dict) and isinstance(answer.get("items"), list)
            else "no items"
        )

    async def close(self) -> None:
        """Close the connection, if open."""
        if self._streams is not None:
            self._streams[1].close()
            self._streams = None


# Each level's first seconds open the clients' connections and grow the server's database pools.
WARM_UP_SECONDS = 3.0


async def load_level(
    base_url: str, api_key: str, clients: int, seconds: float, asked: list[str], data_dir: Path
) -> dict:
    """`clients` concurrent loops of searches for `seconds` after WARM_UP_SECONDS (the clients'
    connections and the server's pools grow then; not counted); latency, errors and CPU."""
    server = psutil.Process(int((data_dir / "server.pid").read_text()))
    latencies: list[float] = []
    errors: list[str] = []
    counter = iter(range(10**9))
    measured_from = time.perf_counter() + WARM_UP_SECONDS
    deadline = measured_from + seconds

    async def client() -> None:
        host, port = base_url.removeprefix("http://").split(":")
        connection = LeanConnection(host, int(port), api_key)
        try:
            while time.perf_counter() < deadline:
                question = asked[next(counter) % len(asked)]
                started = time.perf_counter()
                failure = await connection.search(question)
                if failure is not None:
                    errors.append(failure)  # warm-up errors count too
                if started >= measured_from:
                    latencies.append((time.perf_counter() - started) * 1000)
        finally:
            await connection.close()

    async def measure_cpu() -> tuple[float, float, list[psutil.Process]]:
        await asyncio.sleep(max(0.0, measured_from - time.perf_counter()))
        postgres = postgres_processes(data_dir)
        return cpu_seconds([server]), cpu_seconds(postgres), postgres

    loops = [asyncio.create_task(client()) for _ in range(clients)]
    server_cpu, postgres_cpu, postgres = await measure_cpu()
    client_cpu = time.process_time()
    started = time.perf_counter()
    await asyncio.gather(*loops)
    wall = time.perf_counter() - started
    client_used = time.process_time() - client_cpu
    postgres = postgres_processes(data_dir) + postgres
    server_used = cpu_seconds([server]) - server_cpu
    postgres_used = cpu_seconds(list({p.pid: p for p in postgres}.values())) - postgres_cpu
    done = len(latencies)
    return {
        "clients": clients,
        "requests": done,
        "errors": len(errors),
        "error_kinds": sorted(set(errors)),
        "throughput": round(done / wall, 1),
        "p50": round(statistics.median(latencies), 1),
        "p99": round(statistics.quantiles(latencies, n=100, method="inclusive")[98], 1),
        "server_cpu_ms_per_request": round(server_used / done * 1000, 2),
        "postgres_cpu_ms_per_request": round(postgres_used / done * 1000, 2),
        "client_cpu_ms_per_request": round(client_used / done * 1000, 2),
    }


async def cpu_per_call(
    operation: Callable[[], Awaitable[object]], calls: int, concurrent: int = 1
) -> tuple[float, float, int]:
    """CPU (all threads of this process) and wall time of `calls` calls, made by `concurrent`
    callers at once; and the number made."""
    each = calls // concurrent

    async def caller() -> None:
        for _ in range(each):
            await operation()

    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*(caller() for _ in range(concurrent)))
    return time.process_time() - cpu, time.perf_counter() - wall, each * concurrent


async def interleaved(
    measured: dict[str, tuple[Callable[[], Awaitable[object]], int]],
    calls: int,
    rounds: int = ROUNDS,
) -> dict[str, dict]:
    """CPU and wall time per call of each operation, after a warm-up: `rounds` rounds each
    running every operation in turn, so every stage (and each "before" beside its "now") meets
    the same load from the rest of the machine."""
    for run, _ in measured.values():
        for _ in range(10):
            await run()
    totals = {name: [0.0, 0.0, 0] for name in measured}
    for _ in range(rounds):
        for name, (run, concurrent) in measured.items():
            cpu, wall, done = await cpu_per_call(run, calls // rounds, concurrent)
            totals[name][0] += cpu
            totals[name][1] += wall
            totals[name][2] += done
    return {
        name: {
            "cpu_ms": round(cpu / done * 1000, 2),
            "wall_ms": round(wall / done * 1000, 2),
            "concurrent": measured[name][1],
        }
        for name, (cpu, wall, done) in totals.items()
    }


async def stages(data_dir: Path, api_key: str, tenant_id: int) -> dict[str, dict]:
    """CPU per call of each stage of a search, and of the whole request in process; the
    changes of issue 15's throughput work measured against what they replaced, in this run."""
    settings = Settings(data_dir=data_dir)
    asked = questions(20 * STAGE_CALLS)
    turn = iter(range(10**9))
    async with boot(settings) as runtime:
        knowledge = runtime.knowledge
        store = runtime.vector_store
        assert store is not None
        local = runtime.embedders.local
        assert isinstance(local, LocalEmbedder)
        batched = local._queries
        # What the batcher replaced: each query its own model run.
        alone = QueryBatcher(local.embed_array, model=local.model_id, max_batch=1)
        vector = (await local.embed(["When does the office open?"]))[0]
        model = local.model_id
        matches = await store.search(tenant_id, vector, 5, filter={"embedding_model": model})
        ids = {m.metadata["source_id"] for m in matches}
        results = await knowledge.search(
            tenant_id=tenant_id, request=SearchRequest(query="When does the office open?")
        )
        app = create_app(settings, runtime=runtime)
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
        headers = {"Authorization": f"Bearer {api_key}"}
        # What the metadata pool was: pool_pre_ping, and every session in a transaction.
        pinged = create_async_engine(
            runtime.engine.url,
            pool_pre_ping=True,
            connect_args={"server_settings": {"timezone": "UTC"}},
        )
        pinged_sessions = async_sessionmaker(pinged, expire_on_commit=False)

        async def auth() -> None:
            async with runtime.reads() as session:
                await authenticate(session, f"Bearer {api_key}")

        async def embed() -> None:
            await local.embed_query(asked[next(turn) % len(asked)])

        async def embed_batched() -> None:
            await batched.embed(asked[next(turn) % len(asked)])

        async def embed_alone() -> None:
            await alone.embed(asked[next(turn) % len(asked)])

        async def read_before() -> None:
            async with pinged_sessions() as session:
                await session.execute(text("SELECT 1"))

        async def read_now() -> None:
            async with runtime.reads() as session:
                await session.execute(text("SELECT 1"))

        async def models() -> None:
            await knowledge._models(tenant_id, None)

        async def vector_query() -> None:
            await store.search(tenant_id, vector, 5, filter={"embedding_model": model})

        async def check() -> None:
            await knowledge._documents(tenant_id, ids)

        async def serialize() -> None:
            page_of(SearchResult, results).model_dump_json()

        async def whole_search() -> None:
            request = SearchRequest(query=asked[next(turn) % len(asked)], top_k=5)
            await knowledge.search(tenant_id=tenant_id, request=request)

        async def repeated_search() -> None:
            # The same question every time: its vector comes from the cache after the first.
            request = SearchRequest(query="When does the office open?", top_k=5)
            await knowledge.search(tenant_id=tenant_id, request=request)

        try:
            async with httpx.AsyncClient(
                transport=transport, base_url="http://bench", headers=headers
            ) as http:

                async def post() -> None:
                    question = asked[next(turn) % len(asked)]
                    response = await http.post("/api/v1/rag/search", json={"query": question})
                    response.raise_for_status()

                # Stages never overlap, so every caller of one stage sets the same batcher.
                async def request() -> None:
                    local._queries = batched
                    await post()

                async def request_unbatched() -> None:
                    local._queries = alone
                    await post()

                measured: dict[str, tuple[Callable[[], Awaitable[object]], int]] = {
                    "authentication (session, query)": (auth, 1),
                    "embed the query (local model, in a thread)": (embed, 1),
                    f"embed the query, {CONCURRENT} at once: micro-batched (now)": (
                        embed_batched,
                        CONCURRENT,
                    ),
                    f"embed the query, {CONCURRENT} at once: one model run each (before)": (
                        embed_alone,
                        CONCURRENT,
                    ),
                    "metadata session + one read: checkout check, autocommit (now)": (
                        read_now,
                        1,
                    ),
                    "metadata session + one read: pool_pre_ping, transaction (before)": (
                        read_before,
                        1,
                    ),
                    "metadata: models of the ready documents": (models, 1),
                    "vector query (SqlVectorStore.search)": (vector_query, 1),
                    "metadata: check the hits' documents": (check, 1),
                    "serialize the answer (pydantic, JSON)": (serialize, 1),
                    "KnowledgeSearch.search as a whole": (whole_search, 1),
                    "KnowledgeSearch.search, a repeated question (cached vector)": (
                        repeated_search,
                        1,
                    ),
                    "whole request in process (ASGI, no socket)": (request, 1),
                    f"whole request in process, {CONCURRENT} at once (now)": (request, CONCURRENT),
                    f"whole request in process, {CONCURRENT} at once, one model run per query "
                    "(before batching)": (request_unbatched, CONCURRENT),
                }
                try:
                    return await interleaved(measured, STAGE_CALLS)
                finally:
                    local._queries = batched
        finally:
            await pinged.dispose()


def start_server(data_dir: Path, port: int) -> subprocess.Popen:
    """`orchestrator serve` on the loopback interface, logging to a file."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORCH_")}
    env.update(ORCH_DATA_DIR=str(data_dir), ORCH_LOG_LEVEL="WARNING")
    log = (data_dir / "server.log").open("w")
    process = subprocess.Popen(
        [ORCHESTRATOR, "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    (data_dir / "server.pid").write_text(str(process.pid))
    return process


async def prepare(base_url: str, data_dir: Path) -> tuple[str, int]:
    """Wait for readiness, create a tenant, upload the documents and wait until ready."""
    async with httpx.AsyncClient(base_url=base_url, timeout=10) as http:
        for _ in range(600):
            try:
                if (await http.get("/health/ready")).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.2)
        env = {k: v for k, v in os.environ.items() if not k.startswith("ORCH_")}
        env["ORCH_DATA_DIR"] = str(data_dir)
        created = await asyncio.create_subprocess_exec(
            ORCHESTRATOR, "tenant", "create", "bench", "--json", env=env, stdout=subprocess.PIPE
        )
        stdout, _ = await created.communicate()
        tenant = json.loads(stdout)
        headers = {"Authorization": f"Bearer {tenant['api_key']}"}
        ids = []
        for name, text in DOCUMENTS.items():
            uploaded = await http.post(
                "/api/v1/rag/documents",
                headers=headers,
                files={"file": (name, text.encode())},
                data={"collection": "General"},
            )
            ids.append(uploaded.json()["id"])
        for document_id in ids:
            for _ in range(600):
                status = (
                    await http.get(f"/api/v1/rag/documents/{document_id}", headers=headers)
                ).json()["status"]
                if status in ("ready", "failed"):
                    break
                await asyncio.sleep(0.2)
    return tenant["api_key"], tenant["tenant_id"]


def table_rows(levels: list[dict], stage_cpu: dict[str, dict]) -> tuple[list[dict], list[dict]]:
    """The load table and the stage table."""
    load = []
    for level in levels:
        verdict = "-"
        if level["clients"] == max(LEVELS):
            ok = (
                level["throughput"] >= THROUGHPUT_TARGET
                and level["p99"] <= P99_TARGET_MS
                and level["errors"] == 0
            )
            verdict = "PASS" if ok else "FAIL"
        load.append(
            {
                "clients": str(level["clients"]),
                "throughput": f"{level['throughput']:.1f} req/s",
                "p50": f"{level['p50']:.1f} ms",
                "p99": f"{level['p99']:.1f} ms",
                "errors": f"{level['errors']} of {level['requests']:,}",
                "CPU per request: server": f"{level['server_cpu_ms_per_request']:.1f} ms",
                "CPU per request: PostgreSQL": f"{level['postgres_cpu_ms_per_request']:.1f} ms",
                "CPU per request: client": f"{level['client_cpu_ms_per_request']:.1f} ms",
                "target": (
                    f">= {THROUGHPUT_TARGET:g} req/s, p99 <= {P99_TARGET_MS:g} ms, no errors"
                    if level["clients"] == max(LEVELS)
                    else "-"
                ),
                "verdict": verdict,
            }
        )
    whole = stage_cpu["whole request in process (ASGI, no socket)"]["cpu_ms"]
    stage = [
        {
            "stage": name,
            "CPU per call": f"{value['cpu_ms']:.2f} ms",
            "wall per call": f"{value['wall_ms']:.2f} ms",
            "share of the whole request's CPU": f"{value['cpu_ms'] / whole:.0%}",
        }
        for name, value in stage_cpu.items()
    ]
    return load, stage


async def main(args: argparse.Namespace) -> None:
    """Serve, load, profile, print, write."""
    data_dir = Path(tempfile.mkdtemp(prefix="bench-serve-"))
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    server = start_server(data_dir, port)
    try:
        api_key, tenant_id = await prepare(base_url, data_dir)
        # Distinct questions by default: the cache of recent query vectors never hits. With
        # --repeat N the clients cycle through N questions, as a FAQ bot's users might.
        asked = questions(args.repeat or 5000)
        levels = []
        for clients in LEVELS:
            print(f"  {clients} clients for {args.seconds:g} s ...", flush=True)
            levels.append(
                await load_level(base_url, api_key, clients, args.seconds, asked, data_dir)
            )
        print("  stages ...", flush=True)
        stage_cpu = await stages(data_dir, api_key, tenant_id)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
        shutil.rmtree(data_dir, ignore_errors=True)
    load, stage = table_rows(levels, stage_cpu)
    print(markdown_table(load))
    print()
    print(markdown_table(stage))
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "run_at": datetime.now(UTC).isoformat(timespec="seconds"),
                "machine": {
                    "load_average_at_end": os.getloadavg(),
                    "cpus": os.cpu_count(),
                    "python": platform.python_version(),
                },
                "seconds_per_level": args.seconds,
                "distinct_questions": args.repeat or "all",
                "levels": levels,
                "stages": stage_cpu,
                "tables": {"load": load, "stages": stage},
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="per concurrency level")
    parser.add_argument(
        "--repeat",
        type=int,
        default=0,
        help="cycle through this many distinct questions (default: every request different)",
    )
    asyncio.run(main(parser.parse_args()))
