"""Tenant scoping in one place: every tenant-owned query goes through these helpers."""

from typing import Any, TypeVar

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from orchestrator_service.errors import NotFound

M = TypeVar("M")


def scoped(model: type[M], tenant_id: int) -> Select[tuple[M]]:
    """`SELECT model WHERE tenant_id = :tenant_id`."""
    return select(model).where(model.tenant_id == tenant_id)


async def get_scoped(
    session: AsyncSession, model: type[M], tenant_id: int, object_id: Any, *, what: str
) -> M:
    """The tenant's object with this id, or `NotFound` (also for another tenant's id)."""
    column = model.id
    kind = column.type.python_type
    try:
        key = object_id if isinstance(object_id, kind) else kind(str(object_id))
    except (TypeError, ValueError):
        raise NotFound(f"{what} not found") from None
    row = await session.scalar(scoped(model, tenant_id).where(column == key))
    if row is None:
        raise NotFound(f"{what} not found")
    return row
