"""Boot: resolve the databases (starting the embedded one if needed), heal them, open pools."""

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from pydantic import SecretStr
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from orchestrator_service.config import Settings
from orchestrator_service.credentials.vault import Vault, open_vault
from orchestrator_service.db.embedded import EmbeddedPostgres
from orchestrator_service.db.heal.healer import HealReport, heal
from orchestrator_service.db.heal.targets import METADATA, VECTORS
from orchestrator_service.db.urls import normalize_url
from orchestrator_service.errors import OrchestratorError
from orchestrator_service.metrics import HEAL_DURATION, HEALS
from orchestrator_service.rag.embedders import Embedder
from orchestrator_service.rag.embedders.local import DIMENSIONS, LocalEmbedder
from orchestrator_service.rag.vector_store import VectorStore
from orchestrator_service.rag.vector_store.postgrest import PostgrestVectorStore
from orchestrator_service.rag.vector_store.sql import SqlVectorStore
from orchestrator_service.tools.service import ensure_builtin_tools
from orchestrator_service.tools.ssrf import Guard

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
    """Everything a booted service holds: settings, databases, heal reports, the session pool."""

    settings: Settings
    databases: Databases
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    vault: Vault
    tool_guard: Guard
    embedder: Embedder
    vector_store: VectorStore | None
    heal_reports: dict[str, HealReport] = field(default_factory=dict)

    @property
    def healed(self) -> bool:
        """True when every database's heal verified."""
        return bool(self.heal_reports) and all(r.verified for r in self.heal_reports.values())


async def open_databases(settings: Settings) -> Databases:
    """Resolve the database URLs; with no metadata URL, start (or join) the embedded server."""
    vectors = _secret_url(settings.vector_database_url)
    if settings.database_url is not None:
        return Databases(metadata=_secret_url(settings.database_url), vectors=vectors)
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
            report = await heal(target, url, settings, dry_run=dry_run)
        except OrchestratorError:
            HEALS.labels(target.name, "failed").inc()
            raise
        HEALS.labels(target.name, "fast_path" if report.fast_path else "healed").inc()
        HEAL_DURATION.labels(target.name).set(report.duration_ms / 1000)
        reports[target.name] = report
    return reports


def create_engine(url: URL, settings: Settings) -> AsyncEngine:
    """The request pool for the metadata database."""
    return create_async_engine(
        url,
        pool_pre_ping=True,
        pool_size=10,
        max_overflow=10,
        connect_args={"timeout": settings.connect_timeout},
    )


def _vector_store(databases: Databases, settings: Settings) -> VectorStore | None:
    """The vector store: over SQL when a vector database is configured (or embedded), over
    PostgREST when only a Supabase project URL and key are."""
    if databases.vectors is not None:
        return SqlVectorStore(
            databases.vectors, dimensions=DIMENSIONS, timeout=settings.connect_timeout
        )
    if settings.supabase_url and settings.supabase_key is not None:
        return PostgrestVectorStore(
            settings.supabase_url,
            settings.supabase_key.get_secret_value(),
            dimensions=DIMENSIONS,
            timeout=settings.connect_timeout,
        )
    return None


@asynccontextmanager
async def boot(settings: Settings) -> AsyncIterator[Runtime]:
    """Open and heal the databases, check the vault, yield the runtime, release on exit."""
    databases = await open_databases(settings)
    engine = vector_store = None
    try:
        reports = await heal_databases(databases, settings)
        engine = create_engine(databases.metadata, settings)
        sessionmaker = async_sessionmaker(engine, expire_on_commit=False)
        vault = await open_vault(settings, sessionmaker)
        async with sessionmaker.begin() as session:
            await ensure_builtin_tools(session)
        vector_store = _vector_store(databases, settings)
        if isinstance(vector_store, PostgrestVectorStore):
            await vector_store.verify()  # its schema is not healed from here: check it is there
        yield Runtime(
            settings=settings,
            databases=databases,
            engine=engine,
            sessionmaker=sessionmaker,
            vault=vault,
            tool_guard=Guard(settings.tool_allowed_hosts.split(",")),
            embedder=LocalEmbedder(),
            vector_store=vector_store,
            heal_reports=reports,
        )
    finally:
        if vector_store is not None:
            await vector_store.close()
        if engine is not None:
            await engine.dispose()
        databases.close()
