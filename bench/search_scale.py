"""Benchmark search through the real path as the number of documents and the tenant's share of
a shared table grow (issue 15).

Every search goes through `KnowledgeSearch.search`, the function the API and the agents call:
the metadata database (the models of the tenant's ready documents, then the hits' documents),
the embedder (a stand-in that returns the query's vector: the corpus is synthetic, and the cost
of embedding a query is measured by bench/serve_load.py), and `SqlVectorStore` with the search
SQL of step 0010. Starts the embedded PostgreSQL 16 + pgvector 0.6 (pgserver) under a temporary
directory, heals one metadata and two vector databases with the service's healer, and
bulk-loads them with COPY and INSERT ... SELECT (never through the API):

1. Documents: three tenants of `--chunks` chunks each (default 100,000) in one vector table,
   as 1,000 documents (100 chunks each), 50,000 (2 each) and 100,000 (1 each); every document
   ready in the metadata and visible in the vector store. Each tenant is past the reconciler's
   threshold and gets its own HNSW index (the reconciler's statements).
2. Shared: one vector table of `--shared-chunks` (default 1,000,000) with a spread of tenants:
   one big (40%), ten medium (3% each) and small ones of 1,000 chunks (the other 30%), rows of
   all tenants interleaved in the heap as inserts over time leave them. Tenants past the
   threshold (5,000 chunks) have their own index; smaller ones are ranked exactly.

Vectors: 384-dimensional unit vectors from Gaussian clusters (seeded numpy); text holds two of
the cluster's topic words for hybrid mode. Queries: half perturbed stored vectors of the
tenant, half fresh points of its clusters. Ground truth: the tenant's exact ranking (the index
kept out), run for every query first, on its own; then, after a warm-up, each query runs every
measured mode in an order that rotates (a full scan right before a search evicts what the
search reads: interleaved, it made the real path look 5x the vector query in the shared table).
The shared table's index over all tenants is not built (no tenant's search uses it here:
`--global-index` builds it).

Targets (reported, not asserted): p50 and p99 at 50,000 and 100,000 documents within 1.3x of
1,000 documents; p50 <= 10 ms; hybrid <= 1.5x vector; recall@10 >= 0.98; in the shared table
every tenant's p50 within 2x of the biggest tenant's. Prints a table (markdown) and writes
bench/results/search_scale.json. Run from the repository root (the full run takes about
30 minutes on 2 cores; `--chunks 20000 --shared-chunks 100000 --queries 50` is a quick check):

    .venv/bin/python bench/search_scale.py
"""

import argparse
import asyncio
import json
import platform
import shutil
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path

import asyncpg
import numpy as np
from pgvector.asyncpg import register_vector
from report import markdown_table  # bench/ is on sys.path when run
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from orchestrator_service.config import Settings
from orchestrator_service.db.embedded import EmbeddedPostgres
from orchestrator_service.db.heal.healer import heal
from orchestrator_service.db.urls import asyncpg_dsn, with_database
from orchestrator_service.models import METADATA, VECTORS
from orchestrator_service.rag.embedders import Embedders
from orchestrator_service.rag.embedders.local import DIMENSIONS, MODEL_ID
from orchestrator_service.rag.schemas import SearchRequest
from orchestrator_service.rag.search import KnowledgeSearch
from orchestrator_service.rag.vector_store import model_index_sql
from orchestrator_service.rag.vector_store.sql import SqlVectorStore

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "search_scale.json"
SEED = 20261201
CLUSTERS = 2_000
SPREAD = 0.6
QUERY_JITTER = 0.15
K = 10
WARMUP = 10
TENANT_INDEX_MIN_CHUNKS = Settings().tenant_index_min_chunks
WORDS = ("contract", "invoice", "customer", "report", "meeting", "policy", "payment", "renewal")
SYLLABLES = [c + v for c in "bdklmnrstvz" for v in "aeiou"]
_COLUMNS = (
    "content",
    "metadata",
    "embedding",
    "tenant_id",
    "source_id",
    "collection",
    "chunk_index",
    "embedding_model",
    "generation",
)

RATIO_TARGET = 1.3
P50_TARGET_MS = 10.0
HYBRID_TARGET = 1.5
RECALL_TARGET = 0.98
SHARE_TARGET = 2.0


@dataclass(frozen=True)
class TenantLoad:
    """One tenant of a load: how many chunks, in documents of how many chunks."""

    tenant_id: int
    label: str
    chunks: int
    chunks_per_document: int

    @property
    def documents(self) -> int:
        """How many documents it has."""
        return -(-self.chunks // self.chunks_per_document)


class QueryEmbedder:
    """The embedder at the edge: returns the vector the benchmark set for the next query."""

    model_id = MODEL_ID
    dimensions = DIMENSIONS
    max_tokens = 256

    def __init__(self) -> None:
        self.vector: list[float] = []

    async def embed(self, texts: list[str]) -> list[list[float]]:
        """The preset vector, once per text."""
        return [self.vector for _ in texts]

    async def embed_query(self, text: str) -> list[float]:
        """The preset vector."""
        return self.vector

    async def aclose(self) -> None:
        """Nothing to release."""


async def no_remote(tenant_id: int) -> QueryEmbedder:
    """Every document here is embedded with the local model id."""
    raise AssertionError(f"no remote embedder in this benchmark (tenant {tenant_id})")


class Corpus:
    """Cluster centres and topic words shared by every tenant."""

    def __init__(self, rng: np.random.Generator) -> None:
        centres = rng.standard_normal((CLUSTERS, DIMENSIONS))
        self.centres = (centres / np.linalg.norm(centres, axis=1, keepdims=True)).astype(np.float32)
        stems = rng.choice(len(SYLLABLES) ** 3, size=CLUSTERS * 4, replace=False)
        words = [
            "".join(SYLLABLES[s // len(SYLLABLES) ** p % len(SYLLABLES)] for p in range(3)) + "x"
            for s in stems
        ]
        self.topics = [words[4 * c : 4 * c + 4] for c in range(CLUSTERS)]

    def vectors(self, rng: np.random.Generator, clusters: np.ndarray) -> np.ndarray:
        """Unit vectors around the given clusters' centres."""
        offsets = rng.standard_normal((len(clusters), DIMENSIONS)) * (SPREAD / np.sqrt(DIMENSIONS))
        points = self.centres[clusters] + offsets.astype(np.float32)
        return (points / np.linalg.norm(points, axis=1, keepdims=True)).astype(np.float32)


def rows_for(
    corpus: Corpus, rng: np.random.Generator, load: TenantLoad
) -> tuple[list[tuple], np.ndarray]:
    """COPY records of one tenant's chunks, and the cluster of each."""
    clusters = rng.integers(0, CLUSTERS, load.chunks)
    vectors = corpus.vectors(rng, clusters)
    rows = []
    for i in range(load.chunks):
        document, chunk_index = divmod(i, load.chunks_per_document)
        source = f"t{load.tenant_id}-d{document}"
        topic = corpus.topics[clusters[i]]
        content = f"{WORDS[i % len(WORDS)]} {topic[i % 4]} {topic[(i + 1) % 4]}."
        metadata = {
            "tenant_id": load.tenant_id,
            "source_id": source,
            "collection": "General",
            "chunk_index": chunk_index,
        }
        rows.append(
            (
                content,
                json.dumps(metadata),
                vectors[i],
                load.tenant_id,
                source,
                "General",
                chunk_index,
                MODEL_ID,
                "g1",
            )
        )
    return rows, clusters


def _in_place(statement: str) -> str:
    """A reconciler's index build without CONCURRENTLY."""
    return statement.replace("CONCURRENTLY IF NOT EXISTS ", "")


async def load_vectors(
    url: URL, corpus: Corpus, rng: np.random.Generator, loads: list[TenantLoad], *, global_index
) -> dict:
    """COPY every tenant's chunks (interleaved, secondary indexes dropped), rebuild the
    indexes, publish every document, build each large tenant's own index, VACUUM ANALYZE."""
    conn = await asyncpg.connect(asyncpg_dsn(url))
    await register_vector(conn)
    timings: dict[str, float] = {}
    clusters: dict[int, np.ndarray] = {}
    try:
        rows: list[tuple] = []
        for load in loads:
            tenant_rows, clusters[load.tenant_id] = rows_for(corpus, rng, load)
            rows += tenant_rows
        order = rng.permutation(len(rows))
        indexes = await conn.fetch(
            "SELECT i.indexname, i.indexdef FROM pg_indexes i "
            "JOIN pg_index x ON x.indexrelid = to_regclass(i.indexname) "
            "WHERE i.tablename = 'documents' AND NOT x.indisprimary"
        )
        for index in indexes:
            await conn.execute(f'DROP INDEX "{index["indexname"]}"')
        print(f"  COPY {len(rows):,} chunks ...", flush=True)
        started = time.perf_counter()
        for start in range(0, len(rows), 100_000):
            batch = [rows[i] for i in order[start : start + 100_000]]
            await conn.copy_records_to_table("documents", records=batch, columns=_COLUMNS)
        timings["copy_s"] = time.perf_counter() - started
        del rows
        await conn.execute("SET maintenance_work_mem = '1GB'")
        started = time.perf_counter()
        for index in indexes:
            await conn.execute(index["indexdef"])
        if global_index:
            # The model's shared index, as the reconciler builds it (no CONCURRENTLY: nothing
            # else writes during the load).
            await conn.execute(_in_place(model_index_sql(None, MODEL_ID, DIMENSIONS)[1]))
        timings["indexes_s"] = time.perf_counter() - started
        await conn.execute(
            "INSERT INTO visible_documents (tenant_id, source_id, generation) "
            "SELECT DISTINCT tenant_id, source_id, generation FROM documents"
        )
        started = time.perf_counter()
        for load in loads:
            if load.chunks >= TENANT_INDEX_MIN_CHUNKS:
                print(f"  own index of tenant {load.tenant_id} ({load.chunks:,}) ...", flush=True)
                await conn.execute(
                    _in_place(model_index_sql(load.tenant_id, MODEL_ID, DIMENSIONS)[1])
                )
        timings["tenant_indexes_s"] = time.perf_counter() - started
        await conn.execute("VACUUM ANALYZE documents")
        await conn.execute("VACUUM ANALYZE visible_documents")
    finally:
        await conn.close()
    return {"timings": {k: round(v, 1) for k, v in timings.items()}, "clusters": clusters}


async def load_metadata(url: URL, loads: list[TenantLoad]) -> None:
    """Tenants and their ready documents, plus a failed one per 100 (never searched)."""
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        for load in loads:
            await conn.execute(
                "INSERT INTO tenants (id, name) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                load.tenant_id,
                f"bench-{load.tenant_id}",
            )
            await conn.execute(
                "INSERT INTO rag_documents (id, tenant_id, filename, collection, file_type, "
                "status, generation, embedding_model, chunk_count) "
                "SELECT 't' || $1::int || '-d' || n, $1::int, 'doc-' || n || '.txt', 'General', "
                "'txt', 'ready', 'g1', $2, $3 FROM generate_series(0, $4 - 1) AS n "
                "UNION ALL SELECT 't' || $1::int || '-f' || n, $1::int, 'failed-' || n || '.txt', "
                "'General', 'txt', 'failed', NULL, NULL, 0 "
                "FROM generate_series(0, $4 / 100) AS n",
                load.tenant_id,
                MODEL_ID,
                load.chunks_per_document,
                load.documents,
            )
        await conn.execute("VACUUM ANALYZE rag_documents")
    finally:
        await conn.close()


@dataclass(frozen=True)
class Query:
    """One search of one tenant."""

    tenant_id: int
    kind: str
    vector: np.ndarray
    text: str


def make_queries(
    corpus: Corpus, rng: np.random.Generator, tenant_id: int, clusters: np.ndarray, count: int
) -> list[Query]:
    """Half perturbed stored points of the tenant, half fresh points of its clusters."""
    queries = []
    for i in range(count):
        cluster = int(clusters[int(rng.integers(0, len(clusters)))])
        jitter = QUERY_JITTER if i % 2 == 0 else SPREAD
        point = corpus.centres[cluster] + rng.standard_normal(DIMENSIONS) * (
            jitter / np.sqrt(DIMENSIONS)
        )
        vector = (point / np.linalg.norm(point)).astype(np.float32)
        text = " ".join(corpus.topics[cluster][:2])
        queries.append(Query(tenant_id, "perturbed" if i % 2 == 0 else "fresh", vector, text))
    return queries


Found = list[tuple[str, int]]  # (document, chunk index) of each result


@asynccontextmanager
async def searcher(metadata: URL, vectors: URL):
    """`KnowledgeSearch` over the metadata and one vector database, with its query embedder."""
    engine = create_async_engine(
        metadata, pool_size=4, connect_args={"server_settings": {"timezone": "UTC"}}
    )
    store = SqlVectorStore(vectors, timeout=10)
    embedder = QueryEmbedder()
    knowledge = KnowledgeSearch(
        sessionmaker=async_sessionmaker(engine, expire_on_commit=False),
        vector_store=store,
        embedders=Embedders(
            local=embedder,
            multilingual=embedder,
            use=embedder,
            fused=embedder,
            remote=no_remote,
            default="local",
        ),
    )
    exact = await asyncpg.connect(asyncpg_dsn(vectors))
    await register_vector(exact)
    try:
        yield knowledge, embedder, exact, store
    finally:
        await exact.close()
        await store.close()
        await engine.dispose()


def modes(
    knowledge: KnowledgeSearch,
    embedder: QueryEmbedder,
    exact: asyncpg.Connection,
    store: SqlVectorStore,
):
    """Each measured mode: how to run one query, returning what it found. `store` is the
    vector query alone (what the real path adds is the metadata and the Python around it)."""

    def real(mode: str) -> Callable[[Query], Awaitable[Found]]:
        async def run(query: Query) -> Found:
            embedder.vector = query.vector.tolist()
            request = SearchRequest(query=query.text, top_k=K, mode=mode)  # pyright: ignore[reportArgumentType]
            results = await knowledge.search(tenant_id=query.tenant_id, request=request)
            return [(r.document_id, r.chunk_index) for r in results]

        return run

    async def exact_scan(query: Query) -> Found:
        rows = await exact.fetch(
            "SELECT source_id, chunk_index FROM documents WHERE tenant_id = $1 "
            "ORDER BY (embedding <=> $2) + 0 LIMIT $3",
            query.tenant_id,
            query.vector,
            K,
        )
        return [(r["source_id"], r["chunk_index"]) for r in rows]

    async def store_only(query: Query) -> Found:
        matches = await store.search(
            query.tenant_id, query.vector.tolist(), K, filter={"embedding_model": MODEL_ID}
        )
        return [(m.metadata["source_id"], m.metadata["chunk_index"]) for m in matches]

    return {
        "vector": real("vector"),
        "hybrid": real("hybrid"),
        "store": store_only,
        "exact": exact_scan,
    }


async def measure(measured: dict, queries: list[Query], label: str) -> dict[str, dict]:
    """The exact scan of every query first, on its own (a full scan right before a measured
    search would evict what that search reads); then every other mode for every query, in an
    order that rotates. Per mode, ms and results per query."""
    out: dict[str, dict] = {m: {"ms": [], "found": [], "kinds": []} for m in measured}

    async def run(mode: str, query: Query) -> None:
        started = time.perf_counter()
        found = await measured[mode](query)
        out[mode]["ms"].append((time.perf_counter() - started) * 1000)
        out[mode]["found"].append(found)
        out[mode]["kinds"].append(query.kind)

    for query in queries:
        await run("exact", query)
    names = [m for m in measured if m != "exact"]
    for query in queries[:WARMUP]:
        for mode in names:
            await measured[mode](query)
    # Each tenant's queries rotate the order of the modes: the first mode to run a query pays
    # for what it reads into the cache. Rotating by the position in the interleaved list gave
    # each of three tenants the same mode first every time (hybrid always first at 50,000
    # documents: 1.8x vector, against 0.8x where vector went first).
    turns: dict[int, int] = {}
    for n, query in enumerate(queries):
        turn = turns.get(query.tenant_id, 0)
        turns[query.tenant_id] = turn + 1
        for mode in names[turn % len(names) :] + names[: turn % len(names)]:
            await run(mode, query)
        if (n + 1) % 100 == 0:
            print(f"  {label}: {n + 1}/{len(queries)}", flush=True)
    return out


def latency(samples: list[float]) -> dict:
    """p50, p99 and mean of timings in ms."""
    return {
        "p50": round(statistics.median(samples), 2),
        "p99": round(statistics.quantiles(samples, n=100, method="inclusive")[98], 2),
        "mean": round(statistics.fmean(samples), 2),
        "n": len(samples),
    }


def recall(found: list[Found], truth: list[Found]) -> float:
    """Mean recall@K against the exact ranking."""
    return round(
        statistics.fmean(len(set(f) & set(t)) / K for f, t in zip(found, truth, strict=True)), 4
    )


def summarise(out: dict[str, dict]) -> dict:
    """Latency per mode, recall of the real path against the exact scan."""
    return {
        "vector": latency(out["vector"]["ms"]),
        "hybrid": latency(out["hybrid"]["ms"]),
        "store": latency(out["store"]["ms"]),
        "exact": latency(out["exact"]["ms"]),
        "recall": recall(out["vector"]["found"], out["exact"]["found"]),
        "returned_k": sum(len(f) == K for f in out["vector"]["found"]),
    }


def rotate(per_tenant: dict[int, list[Query]]) -> list[Query]:
    """One query of each tenant in turn, so no tenant runs only warm or only cold."""
    lists = list(per_tenant.values())
    return [q for group in zip(*lists, strict=True) for q in group]


async def documents_part(
    base: URL, metadata: URL, corpus: Corpus, rng: np.random.Generator, args
) -> dict:
    """Three tenants of the same number of chunks in 1,000, 50,000 and 100,000 documents."""
    chunks = args.chunks
    loads = [
        TenantLoad(1, "1,000 documents", chunks, chunks // 1000),
        TenantLoad(2, "50,000 documents", chunks, max(1, chunks // 50_000)),
        TenantLoad(3, "100,000 documents", chunks, max(1, chunks // 100_000)),
    ]
    vectors = with_database(base, "vectors_documents")
    print(f"Documents: 3 tenants of {chunks:,} chunks", flush=True)
    loaded = await load_vectors(vectors, corpus, rng, loads, global_index=args.global_index)
    await load_metadata(metadata, loads)
    queries = {
        load.tenant_id: make_queries(
            corpus, rng, load.tenant_id, loaded["clusters"][load.tenant_id], args.queries
        )
        for load in loads
    }
    async with searcher(metadata, vectors) as searching:
        out = await measure(modes(*searching), rotate(queries), "documents")
    per_tenant = {}
    for load in loads:
        picked = {
            mode: {
                key: [
                    v
                    for v, q in zip(r[key], rotate(queries), strict=True)
                    if q.tenant_id == load.tenant_id
                ]
                for key in ("ms", "found", "kinds")
            }
            for mode, r in out.items()
        }
        per_tenant[load.label] = {
            "tenant_id": load.tenant_id,
            "chunks": load.chunks,
            "documents": load.documents,
            **summarise(picked),
        }
    return {"load": loaded["timings"], "tenants": per_tenant}


async def shared_part(
    base: URL, metadata: URL, corpus: Corpus, rng: np.random.Generator, args
) -> dict:
    """One table of `--shared-chunks` chunks: a big tenant, ten medium, many small."""
    total = args.shared_chunks
    big = int(total * 0.4)
    medium = int(total * 0.03)
    small = 1_000
    count_small = (total - big - 10 * medium) // small
    loads = [TenantLoad(100, "big", big, 10)]
    loads += [TenantLoad(200 + i, "medium", medium, 10) for i in range(10)]
    loads += [TenantLoad(1000 + i, "small", small, 10) for i in range(count_small)]
    vectors = with_database(base, "vectors_shared")
    print(
        f"Shared: {sum(lo.chunks for lo in loads):,} chunks, 1 x {big:,}, 10 x {medium:,}, "
        f"{count_small} x {small:,}",
        flush=True,
    )
    loaded = await load_vectors(vectors, corpus, rng, loads, global_index=args.global_index)
    await load_metadata(metadata, loads)
    measured_loads = [loads[0], *loads[1:4], *loads[11:21]]
    per_tenant = max(10, args.queries // 2)
    order = rotate(
        {
            load.tenant_id: make_queries(
                corpus, rng, load.tenant_id, loaded["clusters"][load.tenant_id], per_tenant
            )
            for load in measured_loads
        }
    )
    async with searcher(metadata, vectors) as searching:
        out = await measure(modes(*searching), order, "shared")
    labels = {lo.tenant_id: lo.label for lo in measured_loads}
    by_label = {}
    for label in ("big", "medium", "small"):
        picked = {
            mode: {
                key: [v for v, q in zip(r[key], order, strict=True) if labels[q.tenant_id] == label]
                for key in ("ms", "found", "kinds")
            }
            for mode, r in out.items()
        }
        tenants = [lo for lo in measured_loads if lo.label == label]
        by_label[label] = {
            "tenants_measured": len(tenants),
            "chunks_each": tenants[0].chunks,
            "share_of_table": round(tenants[0].chunks / total, 4),
            **summarise(picked),
        }
    return {
        "load": loaded["timings"],
        "chunks": sum(lo.chunks for lo in loads),
        "tenants": len(loads),
        "classes": by_label,
    }


def fmt(stats: dict) -> str:
    """p50 with p99."""
    return f"{stats['p50']:.1f} ms (p99 {stats['p99']:.1f} ms)"


def verdict(ok: bool, detail: str) -> str:
    """PASS, or FAIL with the detail."""
    return "PASS" if ok else f"FAIL: {detail}"


def rows(documents: dict, shared: dict | None) -> list[dict]:
    """The table: measure, value, reference, ratio, target, verdict."""

    def row(measure, value, reference="-", ratio="-", target="-", result="-") -> dict:
        return {
            "measure": measure,
            "value": value,
            "reference": reference,
            "ratio": ratio,
            "target": target,
            "verdict": result,
        }

    out = []
    tenants = documents["tenants"]
    reference = tenants["1,000 documents"]
    for label, stats in tenants.items():
        p50 = stats["vector"]["p50"] / reference["vector"]["p50"]
        p99 = stats["vector"]["p99"] / reference["vector"]["p99"]
        if label != "1,000 documents":
            out.append(
                row(
                    f"Vector search, {stats['chunks']:,} chunks in {label} vs in 1,000",
                    fmt(stats["vector"]),
                    fmt(reference["vector"]),
                    f"p50 {p50:.2f}x, p99 {p99:.2f}x",
                    f"<= {RATIO_TARGET}x",
                    verdict(max(p50, p99) <= RATIO_TARGET, f"{max(p50, p99):.2f}x"),
                )
            )
        out.append(
            row(
                f"Vector search p50, {label} ({stats['chunks']:,} chunks) vs exact scan",
                fmt(stats["vector"]),
                fmt(stats["exact"]),
                f"{stats['vector']['p50'] / stats['exact']['p50']:.2f}x",
                f"<= {P50_TARGET_MS:g} ms",
                verdict(stats["vector"]["p50"] <= P50_TARGET_MS, f"{stats['vector']['p50']} ms"),
            )
        )
        out.append(
            row(
                f"Recall@{K} vs exact scan, {label}",
                f"{stats['recall']:.3f} ({stats['returned_k']} of {stats['vector']['n']} "
                f"returned {K})",
                "1.000",
                "-",
                f">= {RECALL_TARGET}",
                verdict(stats["recall"] >= RECALL_TARGET, f"{stats['recall']:.3f}"),
            )
        )
        out.append(
            row(
                f"Its vector query alone (SqlVectorStore.search), {label}",
                fmt(stats["store"]),
                fmt(stats["vector"]),
                f"{stats['store']['p50'] / stats['vector']['p50']:.2f}x",
            )
        )
        hybrid = stats["hybrid"]["p50"] / stats["vector"]["p50"]
        out.append(
            row(
                f"Hybrid vs vector search, {label}",
                fmt(stats["hybrid"]),
                fmt(stats["vector"]),
                f"{hybrid:.2f}x",
                f"<= {HYBRID_TARGET}x",
                verdict(hybrid <= HYBRID_TARGET, f"{hybrid:.2f}x"),
            )
        )
    if shared is None:
        return out
    classes = shared["classes"]
    biggest = classes["big"]["vector"]["p50"]
    for label, stats in classes.items():
        ratio = stats["vector"]["p50"] / biggest
        out.append(
            row(
                f"Shared table of {shared['chunks']:,} chunks: {label} tenant "
                f"({stats['chunks_each']:,} chunks, {stats['share_of_table']:.1%}) vs the big",
                fmt(stats["vector"]),
                fmt(classes["big"]["vector"]),
                f"{ratio:.2f}x",
                f"<= {SHARE_TARGET}x",
                verdict(ratio <= SHARE_TARGET, f"{ratio:.2f}x"),
            )
        )
        out.append(
            row(
                f"Shared table: recall@{K} of {label} tenants vs exact scan",
                f"{stats['recall']:.3f}",
                "1.000",
                "-",
                f">= {RECALL_TARGET}",
                verdict(stats["recall"] >= RECALL_TARGET, f"{stats['recall']:.3f}"),
            )
        )
    return out


async def main(args: argparse.Namespace) -> None:
    """Load, measure, print and write."""
    directory = Path(tempfile.mkdtemp(prefix="bench-scale-"))
    embedded = EmbeddedPostgres(directory)
    started = time.perf_counter()
    try:
        base = embedded.start()
        admin = await asyncpg.connect(asyncpg_dsn(base))
        for name in ("metadata", "vectors_documents", "vectors_shared"):
            await admin.execute(f'CREATE DATABASE "{name}"')
        await admin.close()
        settings = Settings(data_dir=directory / "settings")
        metadata = with_database(base, "metadata")
        await heal(METADATA, metadata, settings)
        for name in ("vectors_documents", "vectors_shared"):
            await heal(VECTORS, with_database(base, name), settings)
        rng = np.random.default_rng(SEED)
        corpus = Corpus(rng)
        documents = await documents_part(base, metadata, corpus, rng, args)
        shared = None if args.skip_shared else await shared_part(base, metadata, corpus, rng, args)
    finally:
        embedded.stop()
        shutil.rmtree(directory, ignore_errors=True)
    table = rows(documents, shared)
    print(markdown_table(table))
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "run_at": datetime.now(UTC).isoformat(timespec="seconds"),
                "arguments": vars(args),
                "machine": {
                    "load_average_at_end": __import__("os").getloadavg(),
                    "cpus": __import__("os").cpu_count(),
                    "python": platform.python_version(),
                    "asyncpg": version("asyncpg"),
                },
                "wall_s": round(time.perf_counter() - started),
                "documents": documents,
                "shared": shared,
                "table": table,
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chunks", type=int, default=100_000, help="chunks per tenant (part 1)")
    parser.add_argument("--shared-chunks", type=int, default=1_000_000, help="part 2's table")
    parser.add_argument("--queries", type=int, default=200, help="queries per tenant (part 1)")
    parser.add_argument(
        "--global-index", action="store_true", help="also build the index over all tenants"
    )
    parser.add_argument("--skip-shared", action="store_true", help="only part 1")
    asyncio.run(main(parser.parse_args()))
