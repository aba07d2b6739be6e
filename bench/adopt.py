"""Benchmark adopting a LangChain-built vector table (issue 16) through the vector heal.

Builds, on the embedded PostgreSQL started here, LangChain's SupabaseVectorStore table and
function (tests/db/langchain_supabase.sql) twice, each with the same ROWS rows of
1536-dimensional unit vectors (deterministic seed) over 2,000 documents of 20 tenants, their
metadata as seed 003 wrote it, loaded with COPY; and a metadata database with those tenants
and documents. Then heals each vector database, which adopts its table:

1. reference: ORCH_ADOPT_BATCH_ROWS = ROWS, so the whole fill is one transaction, which keeps
   every row it filled locked until it commits (what a one-statement migration does);
2. the default, ORCH_ADOPT_BATCH_ROWS = 5000: a transaction per batch;

in ROUNDS rounds (3), the order alternating from one round to the next.

Reported: the adoption's time (from its own log line) and the whole heal's, rows per second,
the ratio default/reference (and its median over the rounds), and the longest time any one
transaction kept rows locked (the longest batch, from the progress log lines). Prints a table
(markdown) and writes bench/results/adopt.json. Run from the repository root:

    .venv/bin/python bench/adopt.py
"""

import json
import logging
import os
import platform
import statistics
import sys
import time
from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path

import asyncpg
import numpy as np
from pgvector.asyncpg import register_vector
from report import markdown_table, measured_on_embedded  # bench/ is on sys.path when run
from sqlalchemy.engine import URL

from orchestrator_service.config import Settings
from orchestrator_service.db.heal.healer import heal
from orchestrator_service.db.urls import asyncpg_dsn, with_database
from orchestrator_service.models import METADATA, VECTORS

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "adopt.json"
LANGCHAIN_SQL = (ROOT / "tests" / "db" / "langchain_supabase.sql").read_text()
ROWS = int(os.environ.get("ADOPT_ROWS", "20000"))
TENANTS = 20
DOCUMENTS = 2000
DIMENSIONS = 1536
BATCH = 5000
ROUNDS = int(os.environ.get("ADOPT_ROUNDS", "3"))


class Progress(logging.Handler):
    """Keeps the time of each of the adoption's log lines."""

    def __init__(self) -> None:
        super().__init__()
        self.batches: list[float] = []
        self.adopted_s: float | None = None

    def emit(self, record: logging.LogRecord) -> None:
        """A batch's end, or the adoption's total."""
        message = record.getMessage()
        if "adopting documents:" in message:
            self.batches.append(record.created)
        elif message.startswith("vectors: adopted the LangChain documents table"):
            self.adopted_s = float(message.rsplit(" in ", 1)[1].split(" ")[0])


async def create_database(base: URL, name: str) -> URL:
    """An empty database on the server of `base`."""
    conn = await asyncpg.connect(asyncpg_dsn(base))
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return with_database(base, name)


def document_of(row: int) -> tuple[int, str]:
    """The tenant (1-based) and document id of row `row`."""
    document = row % DOCUMENTS
    return document % TENANTS + 1, f"doc-{document}"


async def build_vectors(url: URL) -> None:
    """LangChain's table and function, and ROWS rows loaded with COPY."""
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        await conn.execute(LANGCHAIN_SQL)
        await register_vector(conn)
        rng = np.random.default_rng(16)
        for start in range(0, ROWS, 5000):
            count = min(5000, ROWS - start)
            vectors = rng.standard_normal((count, DIMENSIONS)).astype(np.float32)
            vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
            records = []
            for i, vector in enumerate(vectors):
                tenant, source = document_of(start + i)
                metadata = {"tenant_id": tenant, "source_id": source, "collection": "General"}
                text = f"Fragmento {start + i} del documento {source}: horarios, precios y citas."
                records.append((text, json.dumps(metadata), vector))
            await conn.copy_records_to_table(
                "documents", records=records, columns=["content", "metadata", "embedding"]
            )
        await conn.execute("VACUUM ANALYZE documents")
    finally:
        await conn.close()


async def build_metadata(url: URL, settings: Settings) -> None:
    """The healed metadata database with the tenants and their documents (seed 003's)."""
    await heal(METADATA, url, settings)
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        await conn.executemany(
            "INSERT INTO tenants (id, name) VALUES ($1, $2)",
            [(t, f"tenant {t}") for t in range(1, TENANTS + 1)],
        )
        await conn.executemany(
            "INSERT INTO rag_documents (id, tenant_id, filename, collection, file_type) "
            "VALUES ($1, $2, $3, 'General', 'txt')",
            [
                (source, tenant, f"{source}.txt")
                for tenant, source in map(document_of, range(DOCUMENTS))
            ],
        )
    finally:
        await conn.close()


async def adopt(base: URL, metadata: URL, settings: Settings, name: str, batch: int) -> dict:
    """Build a LangChain table and heal it with `batch` rows per transaction."""
    url = await create_database(base, name)
    await build_vectors(url)
    progress = Progress()
    logger = logging.getLogger("orchestrator_service.db.heal.adopt")
    logger.addHandler(progress)
    logger.setLevel(logging.INFO)
    started, wall = time.perf_counter(), time.time()
    try:
        report = await heal(
            VECTORS,
            url,
            settings.model_copy(update={"adopt_batch_rows": batch}),
            metadata_url=metadata,
        )
    finally:
        logger.removeHandler(progress)
    heal_s = time.perf_counter() - started
    if not report.verified or report.drift:
        raise RuntimeError(f"adoption did not verify cleanly: {report.drift}")
    # Between two progress lines is one batch's transaction; the first is counted from the
    # heal's start, so it is an upper bound.
    marks = [wall, *progress.batches]
    longest = max(b - a for a, b in pairwise(marks))
    return {
        "batch_rows": batch,
        "batches": len(progress.batches),
        "adoption_s": progress.adopted_s,
        "heal_s": round(heal_s, 2),
        "rows_per_s": round(ROWS / progress.adopted_s) if progress.adopted_s else None,
        "longest_batch_s": round(longest, 3),
    }


async def reset_documents(metadata: URL) -> None:
    """The documents as seed 003 left them, for the next adoption to link again."""
    conn = await asyncpg.connect(asyncpg_dsn(metadata))
    try:
        await conn.execute(
            "UPDATE rag_documents SET generation = NULL, status = 'queued', embedding_model = NULL"
        )
    finally:
        await conn.close()


async def measure(_embedded: object, base: URL, data_dir: Path) -> dict:
    """ROUNDS pairs of the reference and the default adoption of the same table, the order
    alternating from one round to the next (the machine is shared: load drifts)."""
    settings = Settings(database_url=base.render_as_string(hide_password=False), data_dir=data_dir)
    metadata = await create_database(base, "orchestrator")
    await build_metadata(metadata, settings)
    rounds = []
    for n in range(ROUNDS):
        runs = {}
        order = [("reference", ROWS), ("batched", BATCH)]
        for name, batch in order if n % 2 == 0 else order[::-1]:
            runs[name] = await adopt(base, metadata, settings, f"vectors_{name}_{n}", batch)
            await reset_documents(metadata)
        runs["ratio"] = round(runs["batched"]["adoption_s"] / runs["reference"]["adoption_s"], 2)
        rounds.append(runs)
    return {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"python": sys.version.split()[0], "platform": platform.platform()},
        "rows": ROWS,
        "dimensions": DIMENSIONS,
        "rounds": rounds,
        "median_ratio_batched_to_reference": statistics.median(r["ratio"] for r in rounds),
    }


def main() -> None:
    """Run, print the table."""
    results = measured_on_embedded("orch-bench-adopt-", measure, RESULTS)
    rows = [
        {
            "round": str(n + 1),
            "run": name,
            "rows per transaction": f"{r['batch_rows']:,}",
            "adoption": f"{r['adoption_s']:.1f} s",
            "whole heal": f"{r['heal_s']:.1f} s",
            "rows/s": f"{r['rows_per_s']:,}",
            "longest transaction": f"{r['longest_batch_s']:.2f} s",
        }
        for n, runs in enumerate(results["rounds"])
        for name, r in (
            ("reference: one transaction", runs["reference"]),
            ("default: batches", runs["batched"]),
        )
    ]
    print(f"{results['rows']:,} rows of {results['dimensions']} dimensions")
    print(markdown_table(rows))
    print(
        "batched / reference adoption time, median of rounds: "
        f"{results['median_ratio_batched_to_reference']}"
    )


if __name__ == "__main__":
    main()
