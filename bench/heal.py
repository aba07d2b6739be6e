"""Benchmark the schema healer against a real PostgreSQL started here (the embedded pgserver).

Measures, in one run:

1. the no-op boot check on an up-to-date database: our fast path (`Healer(...).run()` on a
   healed database, which connects and runs one query) against Alembic's autogenerate drift check
   (`compare_metadata`) on the same models and database, with and without opening a connection;
2. a full heal of an empty database (create tables, apply steps, verify), over fresh databases;
3. the wall time of 8 concurrent `orchestrator migrate` processes against one empty database,
   read against one such process on a healed database (process start-up cost).

Prints a table (markdown) and writes bench/results/heal.json. Run from the repository root:

    .venv/bin/python bench/heal.py
"""

import asyncio
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path

import asyncpg
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from report import markdown_table, measured_on_embedded  # bench/ is on sys.path when run
from sqlalchemy import Connection
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from orchestrator_service.config import Settings
from orchestrator_service.db.connect import connect
from orchestrator_service.db.heal.desired import desired_schema
from orchestrator_service.db.heal.healer import Healer, heal
from orchestrator_service.db.urls import asyncpg_dsn, with_database
from orchestrator_service.models import METADATA, Base

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "heal.json"
CLI = ROOT / ".venv" / "bin" / "orchestrator"

WARMUP = 3
ITERATIONS = 50
COMPILES = 10
EMPTY_HEALS = 5
BOOTS = 8
BOOT_ROUNDS = 3
REFERENCE_BOOTS = 5

NOOP_TARGET_MS = 50.0
SPEEDUP_TARGET = 4.0


def summarize(samples: list[float]) -> dict:
    """Median, p90, min and count of timings in ms."""
    return {
        "median": round(statistics.median(samples), 2),
        "p90": round(statistics.quantiles(samples, n=10, method="inclusive")[8], 2),
        "min": round(min(samples), 2),
        "n": len(samples),
        "samples": [round(s, 2) for s in samples],
    }


def fmt_ms(value: float) -> str:
    """A duration in ms, with one decimal below 100 ms."""
    return f"{value:.1f} ms" if value < 100 else f"{value:,.0f} ms"


def fmt_stats(stats: dict) -> str:
    """Median with p90 and min, for the table."""
    return f"{fmt_ms(stats['median'])} (p90 {fmt_ms(stats['p90'])}, min {fmt_ms(stats['min'])})"


async def timed(operation: Callable[[], Awaitable[object]]) -> float:
    """Run `operation` once and return its duration in ms."""
    started = time.perf_counter()
    await operation()
    return (time.perf_counter() - started) * 1000


async def create_database(base: URL, name: str) -> URL:
    """Create an empty database on the server of `base` and return its URL."""
    conn = await asyncpg.connect(asyncpg_dsn(base))
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return with_database(base, name)


def alembic_diff(connection: Connection, *, include_schemas: bool) -> list:
    """Alembic's autogenerate comparison of the models (ledger tables included) to the database."""
    context = MigrationContext.configure(connection, opts={"include_schemas": include_schemas})
    return compare_metadata(context, Base.metadata)


async def measure_noop(url: URL, settings: Settings) -> tuple[dict[str, dict], dict[str, int]]:
    """Time the no-op checks on a healed database, interleaved; also count what each reports."""
    engine = create_async_engine(url, poolclass=NullPool)

    async def ours_with_connect() -> None:
        report = await Healer(METADATA, url, settings).run()
        if not report.fast_path:
            raise RuntimeError("the healed database did not take the fast path")

    async def alembic_with_connect(include_schemas: bool) -> None:
        async with engine.connect() as conn:
            await conn.run_sync(alembic_diff, include_schemas=include_schemas)

    async def connect_and_close() -> None:
        await (await connect(url, timeout=settings.connect_timeout)).close()

    healer = Healer(METADATA, url, settings)
    ours_conn = await connect(url, timeout=settings.connect_timeout)
    try:
        async with engine.connect() as alembic_conn:
            diff_items = {
                "ours_drift": len((await healer.run()).drift),
                "alembic_all_schemas": len(
                    await alembic_conn.run_sync(alembic_diff, include_schemas=True)
                ),
                "alembic_public_only": len(
                    await alembic_conn.run_sync(alembic_diff, include_schemas=False)
                ),
            }
            checks = {
                "ours_connect": ours_with_connect,
                "alembic_connect": lambda: alembic_with_connect(True),
                "alembic_public_connect": lambda: alembic_with_connect(False),
                # The fast-path query alone; `_fast_path` is the code `run()` executes.
                "ours_open": lambda: healer._fast_path(ours_conn),
                "alembic_open": lambda: alembic_conn.run_sync(alembic_diff, include_schemas=True),
                "connect_only": connect_and_close,
            }
            samples: dict[str, list[float]] = {name: [] for name in checks}
            for i in range(WARMUP + ITERATIONS):
                for name, check in checks.items():
                    elapsed = await timed(check)
                    if i >= WARMUP:
                        samples[name].append(elapsed)
    finally:
        await ours_conn.close()
        await engine.dispose()
    return {name: summarize(s) for name, s in samples.items()}, diff_items


def measure_compile() -> dict:
    """Time compiling the models into the healer's desired schema (cached once per process)."""
    samples = []
    for _ in range(COMPILES):
        started = time.perf_counter()
        desired_schema.__wrapped__(METADATA)
        samples.append((time.perf_counter() - started) * 1000)
    return summarize(samples)


async def measure_empty_heals(base: URL, settings: Settings) -> tuple[dict, list[int]]:
    """Time a full heal of each of several fresh, empty databases."""
    samples, applied = [], []
    for i in range(EMPTY_HEALS):
        url = await create_database(base, f"bench_empty_{i}")
        started = time.perf_counter()
        report = await heal(METADATA, url, settings)
        samples.append((time.perf_counter() - started) * 1000)
        if report.fast_path or not report.verified:
            raise RuntimeError(f"the heal of an empty database did not verify: {report}")
        applied.append(len(report.applied))
    return summarize(samples), applied


async def run_boots(url: URL, count: int) -> tuple[float, list[dict]]:
    """Start `count` `orchestrator migrate` processes at once; return the wall ms and outcomes."""
    dsn = url.render_as_string(hide_password=False)
    started = time.perf_counter()
    processes = [
        await asyncio.create_subprocess_exec(
            str(CLI),
            "migrate",
            "--json",
            "--database-url",
            dsn,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        for _ in range(count)
    ]
    outputs = await asyncio.gather(*(p.communicate() for p in processes))
    wall = (time.perf_counter() - started) * 1000
    outcomes = []
    for process, (stdout, stderr) in zip(processes, outputs, strict=True):
        ok = process.returncode == 0
        report = json.loads(stdout)["databases"]["metadata"] if ok else None
        outcomes.append(
            {
                "exit_code": process.returncode,
                "fast_path": report["fast_path"] if report else None,
                "applied": len(report["applied"]) if report else None,
                "heal_ms": report["duration_ms"] if report else None,
                "stderr_tail": "" if ok else stderr.decode(errors="replace")[-500:],
            }
        )
    return wall, outcomes


async def measure_boots(base: URL, healed: URL) -> dict:
    """Wall time of concurrent boots on empty databases, and of one boot on a healed one."""
    rounds = []
    for i in range(BOOT_ROUNDS):
        wall, outcomes = await run_boots(await create_database(base, f"bench_boots_{i}"), BOOTS)
        rounds.append({"wall_ms": round(wall, 2), "processes": outcomes})
    reference = []
    for _ in range(REFERENCE_BOOTS):
        wall, outcomes = await run_boots(healed, 1)
        if outcomes[0]["exit_code"] != 0 or not outcomes[0]["fast_path"]:
            raise RuntimeError(f"the reference boot failed: {outcomes[0]}")
        reference.append(wall)
    return {
        "concurrent": summarize([r["wall_ms"] for r in rounds]),
        "reference": summarize(reference),
        "rounds": rounds,
    }


def boots_verdict(rounds: list[dict]) -> str:
    """PASS when every process exited 0 and exactly one per round ran the full heal."""
    failed = sum(p["exit_code"] != 0 for r in rounds for p in r["processes"])
    healers = [sum(p["fast_path"] is False for p in r["processes"]) for r in rounds]
    total = BOOTS * len(rounds)
    detail = f"{total - failed}/{total} exit 0, full heals per round {healers}"
    return ("PASS: " if failed == 0 and set(healers) == {1} else "FAIL: ") + detail


def noop_verdict(ours: float, ratio: float) -> str:
    """PASS when our median meets the time target and the speed-up target."""
    misses = []
    if ours > NOOP_TARGET_MS:
        misses.append(f"{fmt_ms(ours)} > {NOOP_TARGET_MS:g} ms")
    if ratio < SPEEDUP_TARGET:
        misses.append(f"{ratio:.1f}x < {SPEEDUP_TARGET:g}x")
    return "FAIL: " + "; ".join(misses) if misses else "PASS"


def build_rows(noop: dict, compile_ms: dict, empty: dict, boots: dict) -> list[dict]:
    """The table rows: measure, value, reference, ratio, target, verdict."""
    ours, alembic = noop["ours_connect"]["median"], noop["alembic_connect"]["median"]
    speedup = alembic / ours
    concurrent, reference = boots["concurrent"]["median"], boots["reference"]["median"]
    return [
        {
            "measure": "No-op boot check incl. connect: ours vs Alembic compare_metadata",
            "value": fmt_stats(noop["ours_connect"]),
            "reference": fmt_stats(noop["alembic_connect"]),
            "ratio": f"{speedup:.1f}x",
            "target": f"<= {NOOP_TARGET_MS:g} ms, >= {SPEEDUP_TARGET:g}x",
            "verdict": noop_verdict(ours, speedup),
        },
        {
            "measure": "No-op check incl. connect: ours vs Alembic default opts (public only)",
            "value": fmt_stats(noop["ours_connect"]),
            "reference": fmt_stats(noop["alembic_public_connect"]),
            "ratio": f"{noop['alembic_public_connect']['median'] / ours:.1f}x",
            "target": "-",
            "verdict": "-",
        },
        {
            "measure": "No-op check on an open connection: fast-path query vs compare_metadata",
            "value": fmt_stats(noop["ours_open"]),
            "reference": fmt_stats(noop["alembic_open"]),
            "ratio": f"{noop['alembic_open']['median'] / noop['ours_open']['median']:.1f}x",
            "target": "-",
            "verdict": "-",
        },
        {
            "measure": "asyncpg connect + close alone (unix socket)",
            "value": fmt_stats(noop["connect_only"]),
            "reference": "-",
            "ratio": "-",
            "target": "-",
            "verdict": "-",
        },
        {
            "measure": "Compile models to the desired schema (once per process)",
            "value": fmt_stats(compile_ms),
            "reference": "-",
            "ratio": "-",
            "target": "-",
            "verdict": "-",
        },
        {
            "measure": (
                f"Full heal of an empty database ({len(METADATA.qualified_names)} tables, "
                f"{EMPTY_HEALS} fresh databases)"
            ),
            "value": fmt_stats(empty),
            "reference": "-",
            "ratio": "-",
            "target": "-",
            "verdict": "-",
        },
        {
            "measure": (
                f"{BOOTS} concurrent `orchestrator migrate`, one empty database, wall "
                f"({BOOT_ROUNDS} rounds) vs 1 on a healed database ({REFERENCE_BOOTS} runs)"
            ),
            "value": fmt_stats(boots["concurrent"]),
            "reference": fmt_stats(boots["reference"]),
            "ratio": f"{concurrent / reference:.1f}x",
            "target": "all exit 0, one full heal",
            "verdict": boots_verdict(boots["rounds"]),
        },
    ]


async def server_version(base: URL) -> str:
    """The PostgreSQL server's version string."""
    conn = await asyncpg.connect(asyncpg_dsn(base))
    try:
        return await conn.fetchval("SELECT version()")
    finally:
        await conn.close()


async def run_all(base: URL) -> dict:
    """Every measurement against the server at `base`, and the machine it ran on."""
    settings = Settings()
    healed = await create_database(base, "bench_healed")
    await heal(METADATA, healed, settings)
    noop, diff_items = await measure_noop(healed, settings)
    compile_ms = measure_compile()
    empty, applied = await measure_empty_heals(base, settings)
    boots = await measure_boots(base, healed)
    return {
        "benchmark": "heal",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": ".venv/bin/python bench/heal.py",
        "machine": {
            "cpu_count": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "postgres": await server_version(base),
            "sqlalchemy": version("sqlalchemy"),
            "alembic": version("alembic"),
            "asyncpg": version("asyncpg"),
        },
        "parameters": {
            "tables": len(METADATA.qualified_names),
            "warmup": WARMUP,
            "iterations": ITERATIONS,
            "empty_heals": EMPTY_HEALS,
            "boots": BOOTS,
            "boot_rounds": BOOT_ROUNDS,
            "reference_boots": REFERENCE_BOOTS,
            "alembic_opts": {"include_schemas": True},
        },
        "rows": build_rows(noop, compile_ms, empty, boots),
        "noop": noop,
        "noop_reported_items": diff_items,
        "compile": compile_ms,
        "empty_heal": {**empty, "applied": applied},
        "boots": boots,
    }


def main() -> int:
    """Start PostgreSQL in a temporary directory, measure, print the table and write the JSON."""
    results = measured_on_embedded(
        "heal-bench-", lambda embedded, url, data_dir: run_all(url), RESULTS
    )
    print(f"{results['machine']['postgres']}")
    print(f"{results['machine']['cpu_count']} CPUs, Python {results['machine']['python']}\n")
    print(markdown_table(results["rows"]))
    print(f"\nWrote {RESULTS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
