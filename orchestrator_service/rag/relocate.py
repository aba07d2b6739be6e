"""`orchestrator storage migrate`: copy every document's file from one object store to
another, verified by hash, then point the metadata at the new store.

Resumable and idempotent: a file already in the target whose bytes hash to the metadata's
hash is left alone, so a second run (or one after an interruption) copies only what is
missing. The documents are walked in id order, a page at a time.
"""

import hashlib
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from orchestrator_service.rag.models import RagDocument
from orchestrator_service.rag.storage import document_key
from orchestrator_service.storage import ObjectMissing, ObjectStore

_PAGE = 500


@dataclass
class MigrationReport:
    """What a migration copied, found already there, and could not copy."""

    source: str
    target: str
    copied: int = 0
    already_there: int = 0
    missing: list[str] = field(default_factory=list)  # documents with no file at the source
    mismatched: list[str] = field(default_factory=list)  # copies whose hash did not verify
    switched: bool = False

    @property
    def ok(self) -> bool:
        """True when every file that exists verified in the target."""
        return not self.mismatched

    def as_dict(self) -> dict:
        """JSON-ready."""
        return {**asdict(self), "ok": self.ok}


async def matches(store: ObjectStore, key: str, sha256: str) -> bool:
    """True when the object exists, carries `sha256`, and its bytes hash to it."""
    try:
        stored = await store.open(key)
    except ObjectMissing:
        return False
    if stored.sha256 != sha256:
        await stored.chunks.aclose()
        return False
    hasher = hashlib.sha256()
    async for chunk in stored.chunks:
        hasher.update(chunk)
    return hasher.hexdigest() == sha256


async def migrate_files(
    sessionmaker: async_sessionmaker[AsyncSession],
    source: ObjectStore,
    target: ObjectStore,
    *,
    progress: Callable[[int, int], None],
) -> MigrationReport:
    """Copy and verify every document's file; when all verified, switch the metadata's
    `file_path` to the target."""
    report = MigrationReport(source=source.url, target=target.url)
    async with sessionmaker() as session:
        total = await session.scalar(select(func.count()).select_from(RagDocument)) or 0
    after, done = "", 0
    while True:
        async with sessionmaker() as session:
            rows = (
                await session.execute(
                    select(RagDocument.id, RagDocument.tenant_id, RagDocument.content_hash)
                    .where(RagDocument.id > after)
                    .order_by(RagDocument.id)
                    .limit(_PAGE)
                )
            ).all()
        if not rows:
            break
        for document_id, tenant_id, sha256 in rows:
            try:
                key = document_key(tenant_id, document_id)
            except ValueError:  # a seed-era id that no upload of this service ever stored
                report.missing.append(document_id)
            else:
                await _copy(source, target, key, sha256, report)
            done += 1
            progress(done, total)
        after = rows[-1].id
    if report.ok:
        async with sessionmaker.begin() as session:
            await session.execute(
                update(RagDocument)
                .where(RagDocument.content_hash.is_not(None), ~RagDocument.id.contains("/"))
                .values(
                    file_path=func.concat(
                        f"{target.url}/", RagDocument.tenant_id, "/", RagDocument.id
                    )
                )
            )
        report.switched = True
    return report


async def _copy(
    source: ObjectStore, target: ObjectStore, key: str, sha256: str | None, report: MigrationReport
) -> None:
    document_id = key.split("/", 1)[1]
    if not sha256:  # a row from before hashes were recorded: nothing to verify it by
        report.missing.append(document_id)
        return
    if await matches(target, key, sha256):
        report.already_there += 1
        return
    try:
        stored = await source.open(key)
    except ObjectMissing:
        report.missing.append(document_id)
        return
    await target.put(key, stored.chunks, sha256=sha256)
    if await matches(target, key, sha256):
        report.copied += 1
    else:  # the source's bytes are not the ones uploaded: leave no unverified copy behind
        await target.delete(key)
        report.mismatched.append(document_id)
