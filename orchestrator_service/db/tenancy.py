"""Tenant scoping in one place: every tenant-owned query goes through these helpers."""

from typing import Any, Protocol, TypeVar

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped

from orchestrator_service.errors import NotFound


class TenantOwned(Protocol):
    """A mapped model with an `id` and a `tenant_id` column (of any key and nullability)."""

    id: Mapped[Any]
    tenant_id: Mapped[Any]


M = TypeVar("M", bound=TenantOwned)


def scoped(model: type[M], tenant_id: int) -> Select[M]:
    """`SELECT model WHERE tenant_id = :tenant_id`."""
    return select(model).where(model.tenant_id == tenant_id)


def owned(model: type[M], owner: int | None) -> Select[M]:
    """The rows of an owner: a tenant's, or with None the global rows (no tenant) that
    platform-admin keys manage. Only for models that have global rows."""
    if owner is None:
        return select(model).where(model.tenant_id.is_(None))
    return scoped(model, owner)


async def get_scoped(
    session: AsyncSession, model: type[M], tenant_id: int | None, object_id: Any, *, what: str
) -> M:
    """The object with this id among `owned(model, tenant_id)`, or `NotFound` (also for
    another tenant's id)."""
    column = model.id
    kind = column.type.python_type
    try:
        key = object_id if isinstance(object_id, kind) else kind(str(object_id))
    except (TypeError, ValueError):
        raise NotFound(f"{what} not found") from None
    row = await session.scalar(owned(model, tenant_id).where(column == key))
    if row is None:
        raise NotFound(f"{what} not found")
    return row
