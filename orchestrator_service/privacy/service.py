"""What an admin does with the tenant's private rows: list them (kind, id, owner, visibility,
time, never content) and delete them; never read them."""

import base64
import json
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from sqlalchemy import String, cast, literal, select, tuple_, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from orchestrator_service.audit.service import Actor
from orchestrator_service.db.base import PRIVATE
from orchestrator_service.db.integrity import flush_or_conflict
from orchestrator_service.db.tenancy import get_scoped
from orchestrator_service.errors import InvalidInput, NotFound
from orchestrator_service.pagination import PageParams
from orchestrator_service.privacy.registry import user_owned_models
from orchestrator_service.privacy.schemas import PrivateObjectOut

# A domain whose rows need more than a DELETE (files, vectors) registers its own deleter.
Deleter = Callable[[AsyncSession, Any, Actor], Awaitable[None]]
DELETERS: dict[str, Deleter] = {}
NOT_FOUND = "Private object not found"


def _encode(created_at: datetime, key: str) -> str:
    raw = json.dumps([created_at.isoformat(), key]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(cursor: str) -> tuple[datetime, str]:
    try:
        created, key = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if not (isinstance(created, str) and isinstance(key, str)):
            raise TypeError("not a cursor")
        return datetime.fromisoformat(created), key
    except (ValueError, TypeError, AttributeError) as exc:
        raise InvalidInput(
            "The cursor is not one this API issued; pass `next_cursor` from the previous page",
            details={"field": "cursor"},
        ) from exc


async def list_private(
    session: AsyncSession,
    *,
    tenant_id: int,
    page: PageParams,
    kind: str | None = None,
    owner_user_id: uuid.UUID | None = None,
) -> tuple[list[PrivateObjectOut], str | None]:
    """The tenant's private rows of every user-owned model (or one `kind`), newest first."""
    models = user_owned_models()
    if kind is not None and kind not in models:
        raise InvalidInput(
            f"Unknown kind {kind!r}; one of: {', '.join(models)}", details={"field": "kind"}
        )
    selects = []
    for name, model in models.items():
        if kind is not None and name != kind:
            continue
        stmt = select(
            literal(name).label("kind"),
            cast(model.id, String).label("id"),
            model.owner_user_id.label("owner_user_id"),
            model.visibility.label("visibility"),
            model.created_at.label("created_at"),
        ).where(model.tenant_id == tenant_id, model.visibility == PRIVATE)
        if owner_user_id is not None:
            stmt = stmt.where(model.owner_user_id == owner_user_id)
        selects.append(stmt)
    rows = union_all(*selects).subquery()
    key = rows.c.kind + literal("/") + rows.c.id
    stmt = select(rows)
    if page.cursor is not None:
        created_at, after = _decode(page.cursor)
        stmt = stmt.where(tuple_(rows.c.created_at, key) < tuple_(created_at, after))
    stmt = stmt.order_by(rows.c.created_at.desc(), key.desc()).limit(page.limit + 1)
    found = [
        PrivateObjectOut.model_validate(dict(r)) for r in (await session.execute(stmt)).mappings()
    ]
    if len(found) <= page.limit:
        return found, None
    found = found[: page.limit]
    last = found[-1]
    if last.created_at is None:  # created_at is set by the database on every row
        return found, None
    return found, _encode(last.created_at, f"{last.kind}/{last.id}")


async def delete_private(
    session: AsyncSession, *, tenant_id: int, kind: str, object_id: str, actor: Actor
) -> None:
    """Delete one private row of the tenant (404 for an unknown kind, another tenant's row or
    a tenant-wide row, which its domain's own route deletes)."""
    model = user_owned_models().get(kind)
    if model is None:
        raise NotFound(NOT_FOUND)
    row = await get_scoped(session, model, tenant_id, object_id, what="Private object")
    if row.visibility != PRIVATE:
        raise NotFound(NOT_FOUND)
    deleter = DELETERS.get(kind)
    if deleter is not None:
        await deleter(session, row, actor)
    else:
        await session.delete(row)
        await flush_or_conflict(session, {})
    await actor.record_change(
        session,
        action="delete_private",
        resource_type=kind,
        resource_id=row.id,
        old={"owner_user_id": str(row.owner_user_id), "visibility": row.visibility},
        tenant_id=tenant_id,
    )
