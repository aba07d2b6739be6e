"""Record handled failures in the error log, and read it back."""

import hashlib
import uuid
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from orchestrator_service.credentials.scrub import Scrubber
from orchestrator_service.error_log.models import ErrorLog
from orchestrator_service.http import request_id_var

# The kinds of failure on record (the API's `kind` filter takes these).
KINDS = ("run", "tool_call", "ingestion", "webhook_delivery", "sync", "model_call")
MAX_MESSAGE = 1000


def fingerprint(kind: str, code: str | None, message: str, subject: str | None) -> str:
    """What makes two failures the same one: kind, code, subject and message."""
    parts = "\x1f".join((kind, code or "", subject or "", message))
    return hashlib.sha256(parts.encode()).hexdigest()


async def record(
    session: AsyncSession,
    *,
    tenant_id: int,
    kind: str,
    message: str,
    scrubber: Scrubber,
    code: str | None = None,
    subject: str | None = None,
    execution_id: uuid.UUID | None = None,
    request_id: str | None = None,
    user_id: uuid.UUID | None = None,
) -> None:
    """Record a failure the service handled, in the caller's transaction: a new row, or one
    more occurrence of the same failure (same kind, code, subject and message). `message` is
    scrubbed of the tenant's secrets and cut to 1000 characters; pass a safe summary, never a
    request body or a stack trace. The request id defaults to the current request's."""
    if kind not in KINDS:
        raise ValueError(f"unknown error kind {kind!r}")
    safe = scrubber.text(message)[:MAX_MESSAGE]
    request_id = request_id or request_id_var.get()
    statement = insert(ErrorLog).values(
        tenant_id=tenant_id,
        user_id=user_id,
        error_type=kind,
        error_code=code,
        error_message=safe,
        fingerprint=fingerprint(kind, code, safe, subject),
        subject=subject,
        execution_id=execution_id,
        request_id=request_id,
    )
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=[ErrorLog.tenant_id, ErrorLog.fingerprint],
            set_={
                "occurrences": ErrorLog.occurrences + 1,
                "last_seen_at": func.now(),
                "execution_id": statement.excluded.execution_id,
                "request_id": statement.excluded.request_id,
                "user_id": statement.excluded.user_id,
            },
        )
    )


async def list_errors(
    session: AsyncSession,
    *,
    tenant_id: int,
    kind: str | None = None,
    since: datetime | None = None,
    execution_id: uuid.UUID | None = None,
    limit: int,
    offset: int,
) -> tuple[list[ErrorLog], int]:
    """The tenant's error log, most recent first, with the total that matched."""
    query = select(ErrorLog).where(ErrorLog.tenant_id == tenant_id)
    if kind is not None:
        query = query.where(ErrorLog.error_type == kind)
    if since is not None:
        query = query.where(ErrorLog.last_seen_at >= since)
    if execution_id is not None:
        query = query.where(ErrorLog.execution_id == execution_id)
    total = await session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = await session.scalars(
        query.order_by(ErrorLog.last_seen_at.desc(), ErrorLog.id).limit(limit).offset(offset)
    )
    return list(rows), total
