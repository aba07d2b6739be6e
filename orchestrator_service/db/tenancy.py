"""Tenant scoping in one place: every tenant-owned query goes through these helpers."""

from typing import Any, Protocol, TypeVar

from sqlalchemy import ColumnElement, Select, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped

from orchestrator_service.errors import NotFound


class TenantOwned(Protocol):
    """A mapped model with an `id` and a `tenant_id` column (of any key and nullability)."""

    id: Mapped[Any]
    tenant_id: Mapped[Any]


M = TypeVar("M", bound=TenantOwned)


class UserOwned(TenantOwned, Protocol):
    """A tenant-owned model with an owner user and a visibility (`UserOwnedMixin`)."""

    owner_user_id: Mapped[Any]
    visibility: Mapped[Any]


U = TypeVar("U", bound=UserOwned)


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


def readable_by(model: type[U], user_id: Any) -> ColumnElement[bool]:
    """The rows a user may read: tenant-wide ones and their own private ones. A caller acting
    for no user (a platform or CLI key) reads only tenant-wide rows."""
    tenant_wide = model.visibility == "tenant"
    if user_id is None:
        return tenant_wide
    return or_(tenant_wide, model.owner_user_id == user_id)


def visible(model: type[U], tenant_id: int, user_id: Any) -> Select[U]:
    """The tenant's rows this user may read."""
    return scoped(model, tenant_id).where(readable_by(model, user_id))


async def get_visible(
    session: AsyncSession,
    model: type[U],
    tenant_id: int,
    user_id: Any,
    object_id: Any,
    *,
    what: str,
) -> U:
    """The object with this id among `visible(...)`, or `NotFound`: another user's private
    object answers exactly as another tenant's does."""
    row = await get_scoped(session, model, tenant_id, object_id, what=what)
    if row.visibility != "tenant" and (user_id is None or row.owner_user_id != user_id):
        raise NotFound(f"{what} not found")
    return row
