"""The reconciler: converges the two stores and the object store to zero orphans.

It resumes pending deletes, deletes vectors whose document has no metadata (and stale
generations of documents that have moved on), makes the vector store's visibility table agree
with the metadata, builds (or drops) the HNSW index of each embedding model and of each large
tenant's rows of a model, deletes stored files
without metadata (listing the object store a page at a time, each page checked against the
metadata in one query, so a bucket of millions costs the memory of one page), and fails
ingestions whose lease expired with no job left to retry them. At boot, on a schedule, and
from `orchestrator reconcile [--dry-run] [--json]` (through `jobs.schedule`, which also purges
expired agent memories and reports how many).
"""

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from orchestrator_service.jobs.queue import INGEST
from orchestrator_service.rag.deletion import DocumentDeleter
from orchestrator_service.rag.models import RagDocument
from orchestrator_service.rag.storage import parse_document_key
from orchestrator_service.rag.vector_store import (
    VectorStore,
    drop_model_index_sql,
    model_index_sql,
)
from orchestrator_service.storage import ObjectStore

# An ingestion untouched for this many leases, with no job queued or running, is given up on.
_LEASES_BEFORE_FAILING = 5
# An upload stores its file just before its row commits: a younger file may belong to a
# document no round can see yet.
FILE_GRACE_SECONDS = 600.0
PAGE_SIZE = 1000
# Orphan files named in a report (all are counted and removed).
_NAMED_FILES = 1000


@dataclass
class ReconcileReport:
    """What the reconciler found (and, unless a dry run, fixed)."""

    dry_run: bool
    pending_deletes: list[str] = field(default_factory=list)
    orphan_vectors: list[dict] = field(default_factory=list)
    visibility_repairs: list[dict] = field(default_factory=list)
    model_indexes: list[dict] = field(default_factory=list)
    orphan_files: list[str] = field(default_factory=list)  # the first _NAMED_FILES
    orphan_files_found: int = 0
    expired_ingestions: list[str] = field(default_factory=list)
    # Filled by the sweep that runs the reconciler, which purges agent memory and stale login
    # counts too.
    expired_memories: int = 0
    stale_login_attempts: int = 0

    def counts(self) -> dict[str, int]:
        """How many of each kind."""
        return {
            "pending_deletes": len(self.pending_deletes),
            "orphan_vectors": sum(o["chunks"] for o in self.orphan_vectors),
            "visibility_repairs": len(self.visibility_repairs),
            "model_indexes": len(self.model_indexes),
            "orphan_files": self.orphan_files_found,
            "expired_ingestions": len(self.expired_ingestions),
            "expired_memories": self.expired_memories,
            "stale_login_attempts": self.stale_login_attempts,
        }

    def as_dict(self) -> dict:
        """The report with its counts, JSON-ready."""
        return {**asdict(self), "counts": self.counts()}


class Reconciler:
    """Finds every kind of orphan between the metadata, the vectors and the stored files."""

    def __init__(
        self,
        *,
        sessionmaker: async_sessionmaker[AsyncSession],
        vector_store: VectorStore | None,
        files: ObjectStore,
        deleter: DocumentDeleter,
        lease_seconds: float,
        tenant_index_min_chunks: int,
        file_grace_seconds: float = FILE_GRACE_SECONDS,
        page_size: int = PAGE_SIZE,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._store = vector_store
        self._files = files
        self._deleter = deleter
        self._lease_seconds = lease_seconds
        self._tenant_index_min_chunks = tenant_index_min_chunks
        self._file_grace = timedelta(seconds=file_grace_seconds)
        self._page_size = page_size

    async def reconcile(self, *, dry_run: bool = False) -> ReconcileReport:
        """Find every kind of orphan and, unless `dry_run`, remove it."""
        report = ReconcileReport(dry_run=dry_run)
        async with self._sessionmaker() as session:
            documents = {
                row.id: row
                for row in (
                    await session.execute(
                        select(
                            RagDocument.id,
                            RagDocument.tenant_id,
                            RagDocument.status,
                            RagDocument.generation,
                            RagDocument.updated_at,
                        )
                    )
                ).all()
            }
            live_jobs = set(
                await session.scalars(
                    text(
                        "SELECT convert_from(payload, 'UTF8') FROM pgqueuer "
                        "WHERE entrypoint = :entrypoint AND status IN ('queued', 'picked')"
                    ),
                    {"entrypoint": INGEST},
                )
            )
        await self._pending_deletes(documents, report)
        await self._orphan_vectors(documents, live_jobs, report)
        await self._visibility(documents, live_jobs, report)
        await self._model_indexes(report)
        await self._orphan_files(report)
        await self._expired(documents, live_jobs, report)
        return report

    async def _pending_deletes(self, documents: dict, report: ReconcileReport) -> None:
        for doc in documents.values():
            if doc.status == "deleting":
                report.pending_deletes.append(doc.id)
                if not report.dry_run:
                    await self._deleter.finish(tenant_id=doc.tenant_id, document_id=doc.id)

    async def _newer(self, ids: list[str]) -> set[str]:
        """Which of `ids`, unknown to this round's snapshot, have metadata by now."""
        if not ids:
            return set()
        async with self._sessionmaker() as session:
            return set(await session.scalars(select(RagDocument.id).where(RagDocument.id.in_(ids))))

    async def _orphan_vectors(
        self, documents: dict, live_jobs: set[str], report: ReconcileReport
    ) -> None:
        store = self._store
        if store is None:
            return
        sources = await store.sources()
        # Documents created after this round's snapshot may already have vectors: not orphans.
        newer = await self._newer([s.source_id for s in sources if s.source_id not in documents])
        sources = [s for s in sources if s.source_id not in newer]
        for source in sources:
            doc = documents.get(source.source_id)
            if doc is not None and doc.tenant_id == source.tenant_id:
                if doc.status in ("queued", "processing", "deleting") or doc.id in live_jobs:
                    continue  # an ingestion (a replace too) or a delete owns these vectors now
                if doc.status == "ready" and source.generation == doc.generation:
                    continue
            report.orphan_vectors.append(
                {
                    "tenant_id": source.tenant_id,
                    "source_id": source.source_id,
                    "generation": source.generation,
                    "chunks": source.chunks,
                }
            )
            if not report.dry_run:
                keep = doc.generation if doc is not None and doc.status == "ready" else None
                await store.delete_source(source.tenant_id, source.source_id, keep_generation=keep)

    async def _visibility(
        self, documents: dict, live_jobs: set[str], report: ReconcileReport
    ) -> None:
        """Each ready document visible at its generation alone, nothing else visible. Search
        is correct without this (it checks its hits against the metadata); this keeps it
        complete after a transition the vector store missed."""
        store = self._store
        if store is None:
            return
        rows = {(v.tenant_id, v.source_id): v for v in await store.visibility()}
        newer = await self._newer([s for _, s in rows if s not in documents])
        for doc in documents.values():
            generation: str | None = doc.generation
            if doc.status != "ready" or generation is None or doc.id in live_jobs:
                continue  # a delete or an ingestion (a replace too) owns it right now
            row = rows.pop((doc.tenant_id, doc.id), None)
            candidates = () if row is None else (row.generation, row.previous_generation)
            if generation not in candidates:
                await self._repair(report, doc.tenant_id, doc.id, generation, "publish")
            elif candidates != (generation, None):
                await self._repair(report, doc.tenant_id, doc.id, generation, "keep")
        for (tenant_id, source_id), left in rows.items():
            doc = documents.get(source_id)
            gone = source_id not in newer and (doc is None or doc.tenant_id != tenant_id)
            if gone or (doc is not None and doc.status == "failed"):
                await self._repair(report, tenant_id, source_id, left.generation, "hide")

    async def _repair(
        self, report: ReconcileReport, tenant_id: int, source_id: str, generation: str, action: str
    ) -> None:
        report.visibility_repairs.append(
            {
                "tenant_id": tenant_id,
                "source_id": source_id,
                "generation": generation,
                "action": action,
            }
        )
        if report.dry_run or self._store is None:
            return
        if action == "publish":
            await self._store.publish(tenant_id, source_id, generation)
        # Then nothing else visible: the generation a publish displaced is stale by now.
        keep = None if action == "hide" else generation
        await self._store.delete_source(tenant_id, source_id, keep_generation=keep)

    async def _model_indexes(self, report: ReconcileReport) -> None:
        """An HNSW index for each model's vectors at `tenant_index_min_chunks` chunks or more,
        and one of its own for each tenant with that many of a model's chunks (rebuilt if a
        build was interrupted); each dropped below half of that (an index whose rows are gone
        has 0). One that another session is building right now is left alone. Over PostgREST
        nothing can build one: the report carries the SQL to run instead."""
        store = self._store
        if store is None:
            return
        threshold = self._tenant_index_min_chunks
        for index in await store.model_indexes():
            entry = {
                "tenant_id": index.tenant_id,
                "embedding_model": index.embedding_model,
                "dimensions": index.dimensions,
                "chunks": index.chunks,
            }
            if index.building:
                # Another replica (or an operator) is building it: rebuilding or dropping it
                # would wait for that build or undo it. The next round sees how it ended.
                report.model_indexes.append(
                    {**entry, "action": "being_built", "applied": False, "sql": []}
                )
                continue
            if (
                index.chunks >= threshold
                and not index.valid
                and index.embedding_model is not None
                and index.dimensions is not None
            ):
                action = "build"
                statements = model_index_sql(
                    index.tenant_id, index.embedding_model, index.dimensions
                )
            elif index.index_name is not None and index.chunks < threshold // 2:
                action, statements = "drop", drop_model_index_sql(index.index_name)
            else:
                continue
            applied = not report.dry_run and await store.run_index_ddl(statements)
            report.model_indexes.append(
                {**entry, "action": action, "applied": applied, "sql": list(statements)}
            )

    async def _orphan_files(self, report: ReconcileReport) -> None:
        cutoff = datetime.now(UTC) - self._file_grace
        async for page in self._files.pages(page_size=self._page_size):
            owners = {
                info.key: owner
                for info in page
                if info.modified < cutoff and (owner := parse_document_key(info.key)) is not None
            }
            if not owners:
                continue
            async with self._sessionmaker() as session:
                rows = await session.execute(
                    select(RagDocument.tenant_id, RagDocument.id).where(
                        RagDocument.id.in_([d for _, d in owners.values()])
                    )
                )
                known = {(tenant_id, document_id) for tenant_id, document_id in rows}
            for key, owner in owners.items():
                if owner in known:
                    continue
                report.orphan_files_found += 1
                if len(report.orphan_files) < _NAMED_FILES:
                    report.orphan_files.append(key)
                if not report.dry_run:
                    await self._files.delete(key)

    async def _expired(self, documents: dict, live_jobs: set[str], report: ReconcileReport) -> None:
        cutoff = datetime.now(UTC) - timedelta(seconds=self._lease_seconds * _LEASES_BEFORE_FAILING)
        for doc in documents.values():
            stale = doc.updated_at is not None and doc.updated_at < cutoff
            if doc.status in ("queued", "processing") and stale and doc.id not in live_jobs:
                report.expired_ingestions.append(doc.id)
                if not report.dry_run:
                    await self._deleter.mark_failed(
                        doc.id,
                        "The ingestion stopped (its worker was lost) and no job is left to "
                        "retry it; upload the file again",
                    )
                    if self._store is not None:
                        await self._store.delete_source(doc.tenant_id, doc.id)
