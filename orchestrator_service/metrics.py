"""Prometheus metrics, served at /metrics."""

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest
from starlette.requests import Request
from starlette.responses import Response

HTTP_REQUESTS = Counter(
    "orchestrator_http_requests_total", "HTTP requests", ["method", "route", "status"]
)
HTTP_LATENCY = Histogram(
    "orchestrator_http_request_duration_seconds", "HTTP request latency", ["method", "route"]
)
HEAL_DURATION = Gauge(
    "orchestrator_heal_duration_seconds", "Duration of the last heal", ["database"]
)
HEALS = Counter("orchestrator_heals_total", "Heals by database and result", ["database", "result"])
INGESTION_JOBS = Counter(
    "orchestrator_ingestion_jobs_total", "Ingestion jobs by outcome", ["outcome"]
)
INGESTED_CHUNKS = Counter("orchestrator_ingested_chunks_total", "Chunks embedded and stored")
INGEST_WORKERS_STARTED = Counter(
    "orchestrator_ingest_workers_started_total",
    "Ingestion worker processes started, by why (first use, recycled, killed or died, demand)",
    ["reason"],
)
INGEST_WORKER_PEAK_RSS = Gauge(
    "orchestrator_ingest_worker_peak_rss_bytes",
    "Peak resident memory of the worker process that finished the last document",
)
SEARCH_LATENCY = Histogram(
    "orchestrator_search_duration_seconds", "Knowledge search latency", ["mode"]
)
TOOL_INVOCATIONS = Counter(
    "orchestrator_tool_invocations_total", "Tool invocations by outcome", ["type", "outcome"]
)
VAULT_DECRYPTIONS = Counter(
    "orchestrator_vault_decryptions_total", "Credential values decrypted", ["outcome"]
)


async def metrics_endpoint(_: Request) -> Response:
    """The metrics in Prometheus' text format."""
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
