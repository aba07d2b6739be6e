"""Per-tenant quotas: documents, stored bytes and agent runs per minute, kept in PostgreSQL so
that they hold across replicas. Going over answers 429 `quota_exceeded` with `Retry-After` and
a message naming the quota.

Usage is counted from the tables themselves (documents and their bytes), under a
transaction-level advisory lock per tenant so two uploads on two replicas cannot both take the
last place; rates are counted in `tenant_rate_windows` with an atomic upsert.
"""

from dataclasses import dataclass

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from orchestrator_service.errors import TooManyRequests
from orchestrator_service.system_config.service import PlatformConfig

# Storage frees up only when the tenant deletes something: when to look again.
STORAGE_RETRY_AFTER = 3600
# The advisory-lock class of a tenant's uploads (the second key is the tenant id).
_UPLOADS_LOCK = 0x4F520001


class QuotaExceeded(TooManyRequests):
    """A tenant quota is used up; the message names it, `Retry-After` says when to look
    again."""

    code = "quota_exceeded"


@dataclass(frozen=True)
class Quotas:
    """The quotas every tenant has: the platform settings `quota.*` (system_config), which
    default to the boot-time `ORCH_QUOTA_*`."""

    config: PlatformConfig

    async def lock_uploads(self, session: AsyncSession, *, tenant_id: int) -> None:
        """Serialize the tenant's new uploads until the caller's transaction ends, so a count
        taken now stays true until its document is written."""
        await session.execute(select(func.pg_advisory_xact_lock(_UPLOADS_LOCK, tenant_id)))

    async def check_upload(
        self, session: AsyncSession, *, documents: int, stored_bytes: int, adding: int
    ) -> None:
        """Refuse one more document of `adding` bytes over the tenant's usage, naming the
        quota it would pass."""
        most_documents = await self.config.value(session, "quota.documents")
        most_bytes = await self.config.value(session, "quota.stored_bytes")
        if documents + 1 > most_documents:
            raise QuotaExceeded(
                f"The documents quota is used up: the tenant has {documents} of "
                f"{most_documents}; delete some to upload more",
                retry_after=STORAGE_RETRY_AFTER,
                details={"quota": "documents", "limit": most_documents, "used": documents},
            )
        if stored_bytes + adding > most_bytes:
            raise QuotaExceeded(
                f"The stored bytes quota would be passed: the tenant stores {stored_bytes} of "
                f"{most_bytes} bytes and this file has {adding}; delete some to upload more",
                retry_after=STORAGE_RETRY_AFTER,
                details={"quota": "stored_bytes", "limit": most_bytes, "used": stored_bytes},
            )

    async def count_run(self, session: AsyncSession, *, tenant_id: int) -> None:
        """Count one agent run in the current minute, or refuse it when the minute's runs are
        used up (`Retry-After`: the seconds until the next minute)."""
        limit = await self.config.value(session, "quota.runs_per_minute")
        counted = await session.scalar(
            _COUNT, {"tenant_id": tenant_id, "name": "runs", "limit": limit}
        )
        if counted is not None:
            return
        wait = await session.scalar(_NEXT_WINDOW)
        raise QuotaExceeded(
            f"The runs per minute quota ({limit}) is used up for this minute; "
            "try again in the next one",
            retry_after=float(wait or 1),
            details={"quota": "runs_per_minute", "limit": limit},
        )


# One upsert: a new minute starts the count at 1; within the minute the count grows only while
# under the limit (no row comes back when it is reached, and nothing is changed).
_COUNT = text(
    """
    INSERT INTO tenant_rate_windows AS w (tenant_id, name, window_start, hits)
    VALUES (:tenant_id, :name, date_trunc('minute', now()), 1)
    ON CONFLICT (tenant_id, name) DO UPDATE
    SET hits = CASE WHEN w.window_start = excluded.window_start THEN w.hits + 1 ELSE 1 END,
        window_start = excluded.window_start
    WHERE w.window_start <> excluded.window_start OR w.hits < :limit
    RETURNING hits
    """
)
_NEXT_WINDOW = text(
    "SELECT extract(epoch FROM date_trunc('minute', now()) + interval '1 minute' - now())"
)
