"""The composition root: resolve the databases (starting the embedded one if needed), heal
them, and build every collaborator the routers and workers use. Nothing below imports it."""

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from pydantic import SecretStr
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from orchestrator_service.agent_network.messaging import AgentMessenger, ExchangeLimits
from orchestrator_service.agent_network.network import AgentNetworkPort
from orchestrator_service.agent_network.remote_mcp import McpLimits, RemoteMcp
from orchestrator_service.agents.llm import ModelLimits
from orchestrator_service.agents.runs import AgentRunner
from orchestrator_service.auth.passwords import Passwords
from orchestrator_service.auth.throttle import LoginThrottle, ThrottlePolicy
from orchestrator_service.channels.meta import GraphClient
from orchestrator_service.channels.service import Channels
from orchestrator_service.config import Settings
from orchestrator_service.credentials.service import SecretResolver
from orchestrator_service.credentials.vault import Vault, open_vault
from orchestrator_service.db.embedded import EmbeddedPostgres
from orchestrator_service.db.heal.healer import HealReport, heal
from orchestrator_service.db.pool import (
    RECYCLE_SECONDS,
    autocommit_sessions,
    discard_closed_connections,
)
from orchestrator_service.db.urls import asyncpg_dsn, normalize_url
from orchestrator_service.errors import ConfigError, OrchestratorError
from orchestrator_service.integrations.service import Integrations
from orchestrator_service.integrations.sync import Syncer
from orchestrator_service.integrations.wiring import integration_services
from orchestrator_service.jobs.queue import DELIVER, INGEST, RUN, SYNC
from orchestrator_service.jobs.schedule import sweep_periodically, sync_integrations_periodically
from orchestrator_service.jobs.slots import TenantSlots
from orchestrator_service.jobs.worker import Worker, WorkerTimings
from orchestrator_service.live.hub import HubLimits, LiveHub
from orchestrator_service.mail.sender import Mailer
from orchestrator_service.metrics import HEAL_DURATION, HEALS
from orchestrator_service.models import METADATA, VECTORS
from orchestrator_service.rag.deletion import DocumentDeleter
from orchestrator_service.rag.embedders import Embedders
from orchestrator_service.rag.embedders.fused import FusedEmbedder
from orchestrator_service.rag.embedders.local import DIMENSIONS, LocalEmbedder
from orchestrator_service.rag.embedders.multilingual import MultilingualEmbedder
from orchestrator_service.rag.embedders.openai import OpenAIEmbedderFactory
from orchestrator_service.rag.embedders.use import UseEmbedder
from orchestrator_service.rag.ingest import Ingestor
from orchestrator_service.rag.limits import ParseLimits
from orchestrator_service.rag.query_vectors import QueryVectors
from orchestrator_service.rag.reconcile import Reconciler
from orchestrator_service.rag.sandbox import IngestPool, ProcessLimits
from orchestrator_service.rag.search import KnowledgeSearch
from orchestrator_service.rag.vector_store import VectorStore
from orchestrator_service.rag.vector_store.postgrest import PostgrestVectorStore
from orchestrator_service.rag.vector_store.sql import SqlVectorStore
from orchestrator_service.storage import ObjectStore
from orchestrator_service.storage.factory import S3Options, is_local, open_store
from orchestrator_service.system_config.registry import defaults as system_config_defaults
from orchestrator_service.system_config.service import PlatformConfig
from orchestrator_service.tenants.quotas import Quotas
from orchestrator_service.tools.invoker import ToolRunner
from orchestrator_service.tools.service import ensure_builtin_tools
from orchestrator_service.tools.ssrf import Guard
from orchestrator_service.usage.service import Metering
from orchestrator_service.webhooks.delivery import DeliveryPolicy, WebhookDeliverer

log = logging.getLogger(__name__)


@dataclass
class Databases:
    """Where the metadata and vector databases are, and the embedded server if we run one."""

    metadata: URL
    vectors: URL | None
    embedded: EmbeddedPostgres | None = None

    def close(self) -> None:
        """Leave the embedded server, if any (the last process to leave stops it)."""
        if self.embedded is not None:
            self.embedded.stop()


@dataclass
class Runtime:
    """Everything a booted service holds, each collaborator built once."""

    settings: Settings
    databases: Databases
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    vault: Vault
    secrets: SecretResolver
    guard: Guard
    embedders: Embedders
    vector_store: VectorStore | None
    files: ObjectStore
    knowledge: KnowledgeSearch
    ingest_pool: IngestPool
    ingestor: Ingestor
    deleter: DocumentDeleter
    reconciler: Reconciler
    tools: ToolRunner
    runs: AgentRunner
    channels: Channels
    passwords: Passwords
    login_throttle: LoginThrottle
    quotas: Quotas
    live: LiveHub
    network: AgentNetworkPort
    integrations: Integrations
    syncer: Syncer
    webhooks: WebhookDeliverer
    platform_config: PlatformConfig
    heal_reports: dict[str, HealReport] = field(default_factory=dict)
    mailer: Mailer | None = None

    @cached_property
    def reads(self) -> async_sessionmaker[AsyncSession]:
        """Sessions on the request pool without transaction round trips, for single reads."""
        return autocommit_sessions(self.sessionmaker)

    @property
    def healed(self) -> bool:
        """True when every database's heal verified."""
        return bool(self.heal_reports) and all(r.verified for r in self.heal_reports.values())


def refuse_embedded_defaults(settings: Settings) -> None:
    """In production, refuse each embedded default (they keep data inside the container's own
    disk, lost at the next redeploy) unless ORCH_ALLOW_EMBEDDED=true opts in."""
    if settings.env != "production" or settings.allow_embedded:
        return
    missing = None
    if settings.database_url is None:
        missing = "ORCH_DATABASE_URL (the metadata PostgreSQL)"
    elif settings.vector_database_url is None and not (
        settings.supabase_url and settings.supabase_key is not None
    ):
        missing = (
            "ORCH_VECTOR_DATABASE_URL (or ORCH_SUPABASE_URL and ORCH_SUPABASE_KEY) for the "
            "vector store"
        )
    elif is_local(settings.storage_url):
        missing = "ORCH_STORAGE_URL (s3://bucket/prefix) for uploaded files"
    if missing is not None:
        raise ConfigError(
            f"ORCH_ENV=production needs {missing}; refusing to start on the embedded default, "
            "whose data lives inside this container and is lost at the next redeploy. A "
            "single-host install keeping ORCH_DATA_DIR on a persistent volume may set "
            "ORCH_ALLOW_EMBEDDED=true."
        )


def object_store(settings: Settings, url: str | None = None) -> ObjectStore:
    """The store for uploaded files: `url`, else ORCH_STORAGE_URL, else local disk."""
    secret = settings.storage_secret_access_key
    return open_store(
        url or settings.storage_url,
        default_root=Path(settings.data_dir) / "uploads",
        s3=S3Options(
            endpoint=settings.storage_endpoint,
            region=settings.storage_region,
            access_key_id=settings.storage_access_key_id,
            secret_access_key=secret.get_secret_value() if secret is not None else None,
            timeout=settings.storage_timeout,
            retries=settings.storage_retries,
        ),
    )


async def open_databases(settings: Settings) -> Databases:
    """Resolve the database URLs; with no metadata URL, start (or join) the embedded server."""
    refuse_embedded_defaults(settings)
    vectors = _secret_url(settings.vector_database_url)
    if settings.database_url is not None:
        metadata = normalize_url(settings.database_url.get_secret_value())
        return Databases(metadata=metadata, vectors=vectors)
    embedded = EmbeddedPostgres(settings.data_dir)
    base = await asyncio.to_thread(embedded.start)
    try:
        urls = await embedded.ensure_databases(base, timeout=settings.connect_timeout)
    except BaseException:
        embedded.stop()
        raise
    return Databases(
        metadata=urls["metadata"], vectors=vectors or urls["vectors"], embedded=embedded
    )


def _secret_url(value: SecretStr | None) -> URL | None:
    return normalize_url(value.get_secret_value()) if value is not None else None


async def heal_databases(
    databases: Databases, settings: Settings, *, dry_run: bool = False
) -> dict[str, HealReport]:
    """Heal the metadata database, then the vector database when it is reached over SQL."""
    targets = [(METADATA, databases.metadata)]
    if databases.vectors is not None:
        targets.append((VECTORS, databases.vectors))
    reports = {}
    for target, url in targets:
        try:
            report = await heal(
                target, url, settings, dry_run=dry_run, metadata_url=databases.metadata
            )
        except OrchestratorError:
            HEALS.labels(target.name, "failed").inc()
            raise
        HEALS.labels(target.name, "fast_path" if report.fast_path else "healed").inc()
        HEAL_DURATION.labels(target.name).set(report.duration_ms / 1000)
        reports[target.name] = report
    return reports


def create_engine(url: URL, settings: Settings) -> AsyncEngine:
    """The request pool for the metadata database."""
    engine = create_async_engine(
        url,
        # Connections past pool_size are closed when returned: with more concurrent requests
        # than that, every checkout opened a new backend (32 clients served fewer searches
        # per second than 8).
        pool_size=settings.db_pool_size,
        max_overflow=10,
        pool_recycle=RECYCLE_SECONDS,
        # UTC sessions: now() into seed 003's naive TIMESTAMP columns is then UTC, which is
        # how the API reads them (schemas.Output).
        connect_args={"timeout": settings.connect_timeout, "server_settings": {"timezone": "UTC"}},
    )
    # Instead of pool_pre_ping's three round trips per checkout (db/pool.py).
    discard_closed_connections(engine)
    return engine


def _vector_store(databases: Databases, settings: Settings) -> VectorStore | None:
    """The vector store: over SQL when a vector database is configured (or embedded), over
    PostgREST when only a Supabase project URL and key are."""
    if databases.vectors is not None:
        return SqlVectorStore(databases.vectors, timeout=settings.connect_timeout)
    if settings.supabase_url and settings.supabase_key is not None:
        return PostgrestVectorStore(
            settings.supabase_url,
            settings.supabase_key.get_secret_value(),
            timeout=settings.connect_timeout,
        )
    return None


def ingest_pool(settings: Settings) -> IngestPool:
    """The worker processes that parse, chunk and embed uploads, with their limits."""
    limits = ProcessLimits(
        processes=settings.ingest_processes,
        documents_per_process=settings.ingest_documents_per_process,
        memory_mb=settings.ingest_max_memory_mb,
        cpu_seconds=settings.ingest_cpu_seconds,
        timeout_seconds=settings.ingest_timeout_seconds,
    )
    parse_limits = ParseLimits(
        max_expanded_mb=settings.ingest_max_expanded_mb,
        max_docx_xml_mb=settings.ingest_max_docx_xml_mb,
        max_pages=settings.ingest_max_pages,
        max_characters=settings.ingest_max_characters,
        max_chat_messages=settings.ingest_max_chat_messages,
    )
    return IngestPool(limits, parse_limits, warm=settings.embedder == "local")


def _collaborators(
    settings: Settings,
    databases: Databases,
    engine: AsyncEngine,
    vault: Vault,
    vector_store: VectorStore | None,
    reports: dict[str, HealReport],
) -> Runtime:
    """Build the services over the opened databases, each given only what it uses."""
    sessionmaker = async_sessionmaker(engine, expire_on_commit=False)
    secrets = SecretResolver(sessionmaker, vault)
    guard = Guard(settings.outbound_allowed_hosts.split(","))
    multilingual, use = MultilingualEmbedder(), UseEmbedder()
    embedders = Embedders(
        # The service embeds only questions: one thread per model run leaves the other cores
        # to the event loop and PostgreSQL (8 concurrent clients: 114 -> 147 req/s,
        # bench/serve_load.py); ingestion workers embed documents with every core.
        local=LocalEmbedder(threads=1),
        multilingual=multilingual,
        use=use,
        fused=FusedEmbedder(multilingual, use),
        remote=OpenAIEmbedderFactory(
            secrets=secrets,
            guard=guard,
            base_url=settings.openai_embedding_base_url,
            model=settings.openai_embedding_model,
            credential=settings.openai_embedding_credential,
            dimensions=DIMENSIONS,
            timeout=settings.embedding_timeout,
            max_response_bytes=settings.embedding_max_response_bytes,
        ),
        default=settings.embedder,
    )
    files = object_store(settings)
    knowledge = KnowledgeSearch(
        sessionmaker=sessionmaker,
        vector_store=vector_store,
        embedders=embedders,
        query_vectors=QueryVectors(settings.query_vector_cache_entries),
    )
    deleter = DocumentDeleter(sessionmaker=sessionmaker, vector_store=vector_store, files=files)
    mailer = Mailer(sessionmaker=sessionmaker, secrets=secrets, guard=guard, files=files)
    tools = ToolRunner(
        sessionmaker=sessionmaker, secrets=secrets, guard=guard, knowledge=knowledge, mailer=mailer
    )
    platform_config = PlatformConfig(
        defaults=system_config_defaults(settings),
        ttl=settings.system_config_ttl_seconds,
    )
    quotas = Quotas(config=platform_config)
    pool = ingest_pool(settings)
    runs = AgentRunner(
        sessionmaker=sessionmaker,
        secrets=secrets,
        guard=guard,
        tools=tools,
        knowledge=knowledge,
        model_limits=ModelLimits(
            max_response_bytes=settings.model_max_response_bytes,
            max_stream_chars=settings.model_max_stream_chars,
        ),
        quotas=quotas,
        usage=Metering(sessionmaker),
    )
    network = agent_network(settings, sessionmaker, secrets, guard, runs)
    tools.attach_network(network)
    return Runtime(
        platform_config=platform_config,
        settings=settings,
        databases=databases,
        engine=engine,
        sessionmaker=sessionmaker,
        vault=vault,
        secrets=secrets,
        guard=guard,
        embedders=embedders,
        vector_store=vector_store,
        files=files,
        knowledge=knowledge,
        ingest_pool=pool,
        ingestor=Ingestor(
            sessionmaker=sessionmaker,
            vector_store=vector_store,
            embedders=embedders,
            files=files,
            pool=pool,
            max_attempts=settings.ingest_max_attempts,
            scrubber=secrets.scrubber,
        ),
        deleter=deleter,
        reconciler=Reconciler(
            sessionmaker=sessionmaker,
            vector_store=vector_store,
            files=files,
            deleter=deleter,
            lease_seconds=settings.job_lease_seconds,
            tenant_index_min_chunks=settings.tenant_index_min_chunks,
        ),
        tools=tools,
        mailer=mailer,
        runs=runs,
        channels=Channels(
            engine=engine,
            sessionmaker=sessionmaker,
            secrets=secrets,
            runs=runs,
            graph=GraphClient(
                base_url=settings.meta_graph_base_url,
                guard=guard,
                timeout=settings.channel_send_timeout,
                backoff=settings.channel_send_backoff,
            ),
        ),
        passwords=Passwords(threads=settings.password_hash_threads),
        login_throttle=LoginThrottle(
            sessionmaker=sessionmaker,
            policy=ThrottlePolicy(
                account_failures=settings.login_max_failures_per_account,
                address_failures=settings.login_max_failures_per_address,
                backoff=settings.login_backoff_seconds,
                max_backoff=settings.login_max_backoff_seconds,
                window=settings.login_failure_window_seconds,
            ),
        ),
        quotas=quotas,
        live=LiveHub(
            dsn=asyncpg_dsn(databases.metadata),
            sessionmaker=sessionmaker,
            connect_timeout=settings.connect_timeout,
            limits=HubLimits(
                streams_per_user=settings.live_max_streams_per_user,
                retention_seconds=settings.live_retention_seconds,
                heartbeat_seconds=settings.live_heartbeat_seconds,
            ),
        ),
        network=network,
        **integration_services(settings, sessionmaker=sessionmaker, vault=vault, guard=guard),
        webhooks=WebhookDeliverer(
            sessionmaker=sessionmaker,
            secrets=secrets,
            guard=guard,
            policy=DeliveryPolicy(
                timeout=settings.webhook_timeout_seconds,
                max_response_bytes=settings.webhook_max_response_bytes,
                max_attempts=settings.webhook_max_attempts,
                retry_base=settings.webhook_retry_base_seconds,
                retry_max=settings.webhook_retry_max_seconds,
                disable_after=settings.webhook_disable_after,
            ),
        ),
        heal_reports=reports,
    )


def agent_network(
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    secrets: SecretResolver,
    guard: Guard,
    runs: AgentRunner,
) -> AgentNetworkPort:
    """Agent-to-agent messages and agents' remote MCP servers, with their bounds."""
    return AgentNetworkPort(
        sessionmaker=sessionmaker,
        messenger=AgentMessenger(
            sessionmaker=sessionmaker,
            runs=runs,
            limits=ExchangeLimits(
                max_depth=settings.agent_message_max_depth,
                max_per_run=settings.agent_message_max_per_run,
            ),
        ),
        remote=RemoteMcp(
            guard=guard,
            secrets=secrets,
            limits=McpLimits(
                timeout_seconds=settings.mcp_timeout_seconds,
                max_response_bytes=settings.mcp_max_response_bytes,
            ),
        ),
    )


async def remote_vector_report(vector_store: PostgrestVectorStore) -> HealReport:
    """The vector schema over PostgREST, checked (not healed): its drift in a heal report."""
    report = HealReport(database="vectors", verified=True)
    report.drift = await vector_store.verify()
    for item in report.drift:
        log.warning("vectors: %s is exposed: %s", item["object"], item["detail"])
    return report


@asynccontextmanager
async def boot(settings: Settings) -> AsyncIterator[Runtime]:
    """Open and heal the databases, check the vault, yield the runtime, release on exit."""
    databases = await open_databases(settings)
    engine = vector_store = None
    try:
        reports = await heal_databases(databases, settings)
        engine = create_engine(databases.metadata, settings)
        vault = await open_vault(settings, async_sessionmaker(engine, expire_on_commit=False))
        async with AsyncSession(engine) as session, session.begin():
            await ensure_builtin_tools(session)
        vector_store = _vector_store(databases, settings)
        if isinstance(vector_store, PostgrestVectorStore):
            # Its schema is not healed from here: check it is there, and closed.
            reports["vectors"] = await remote_vector_report(vector_store)
        runtime = _collaborators(settings, databases, engine, vault, vector_store, reports)
        try:
            yield runtime
        finally:
            await runtime.live.close()
            runtime.passwords.close()
            await runtime.files.close()
            await runtime.ingest_pool.close()
            await runtime.embedders.aclose()
    finally:
        if vector_store is not None:
            await vector_store.close()
        if engine is not None:
            await engine.dispose()
        databases.close()


def tenant_slots(runtime: Runtime) -> TenantSlots:
    """The per-tenant job slots, with each kind's limit from the settings."""
    settings = runtime.settings
    return TenantSlots(
        runtime.databases.metadata,
        sessionmaker=runtime.sessionmaker,
        connect_timeout=settings.connect_timeout,
        limits={INGEST: settings.tenant_ingest_concurrency, RUN: settings.tenant_run_concurrency},
    )


@asynccontextmanager
async def running_jobs(runtime: Runtime) -> AsyncIterator[Worker]:
    """A job worker (ingestions, background runs) and the sweep on its schedule (first run at
    once), for the duration of the block."""
    settings = runtime.settings
    worker = Worker(
        runtime.databases.metadata,
        ingestor=runtime.ingestor,
        runs=runtime.runs,
        syncer=runtime.syncer,
        webhooks=runtime.webhooks,
        timings=WorkerTimings(
            connect_timeout=settings.connect_timeout,
            lease_seconds=settings.job_lease_seconds,
            shutdown_timeout=settings.shutdown_timeout,
        ),
        capacity={
            INGEST: settings.ingest_concurrency,
            RUN: settings.run_concurrency,
            SYNC: settings.integration_sync_concurrency,
            DELIVER: settings.webhook_concurrency,
        },
        slots=tenant_slots(runtime),
    )
    await worker.start()
    sweeper = asyncio.create_task(
        sweep_periodically(
            runtime.sessionmaker, runtime.reconciler, settings.reconcile_interval_seconds
        ),
        name="reconciler",
    )
    live_purge = asyncio.create_task(
        runtime.live.purge_periodically(settings.reconcile_interval_seconds), name="live-purge"
    )
    syncs = asyncio.create_task(
        sync_integrations_periodically(
            runtime.sessionmaker, settings.integration_sync_interval_seconds
        ),
        name="integration-syncs",
    )
    try:
        yield worker
    finally:
        live_purge.cancel()
        syncs.cancel()
        sweeper.cancel()
        await worker.stop()
