"""The audited CRUD base: one model's rows of one owner, changed by flush only (the caller's
transaction commits), each change recorded by the actor that made it."""

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any, ClassVar, Generic, Protocol, TypeVar

from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncSession

from orchestrator_service.db.integrity import flush_or_conflict
from orchestrator_service.db.tenancy import get_scoped, owned
from orchestrator_service.pagination import PageParams, paginate

M = TypeVar("M")


class ChangeRecorder(Protocol):
    """Who makes a change, able to put it on the audit record in the same transaction."""

    async def record_change(
        self,
        session: AsyncSession,
        *,
        action: str,
        resource_type: str,
        resource_id: object,
        old: dict | None = None,
        new: dict | None = None,
        tenant_id: int | None = None,
    ) -> None:
        """Record one change of one resource."""
        ...


class AuditedRepository(Generic[M]):
    """CRUD over the rows of `model` that belong to `owner` (a tenant, or None for the global
    rows platform admins manage). Subclasses name the model, what to call it in a 404, which
    fields the audit log shows, and which unique constraints answer 409 with what message."""

    model: ClassVar[type]
    resource_type: ClassVar[str]
    what: ClassVar[str]
    audited: ClassVar[tuple[str, ...]]
    conflicts: ClassVar[Mapping[str, str]] = {}
    id_field: ClassVar[str] = "id"

    def __init__(self, session: AsyncSession, *, owner: int | None) -> None:
        self.session = session
        self.owner = owner

    def select(self) -> Select[M]:
        """The owner's rows."""
        return owned(self.model, self.owner)

    async def get(self, object_id: object) -> M:
        """One of the owner's rows, or `NotFound` (also for another owner's id)."""
        return await get_scoped(self.session, self.model, self.owner, object_id, what=self.what)

    async def page(
        self, page: PageParams, stmt: Select[M] | None = None
    ) -> tuple[list[M], str | None]:
        """One page of `stmt` (default: all the owner's rows), newest first, and the cursor."""
        return await paginate(
            self.session, self.select() if stmt is None else stmt, self.model, page
        )

    def audit_view(self, obj: M) -> dict[str, Any]:
        """What the audit log shows of a row."""
        return {field: getattr(obj, field) for field in self.audited}

    async def create(self, obj: M, *, actor: ChangeRecorder) -> M:
        """Insert a row and record it."""
        self.session.add(obj)
        await flush_or_conflict(self.session, self.conflicts)
        await self.session.refresh(obj)
        await self._record(actor, "create", obj, new=self.audit_view(obj))
        return obj

    @asynccontextmanager
    async def changing(
        self, obj: M, *, actor: ChangeRecorder, noted: Mapping[str, Any] | None = None
    ) -> AsyncIterator[M]:
        """Change a row inside the block; on exit it is flushed and its old and new views
        recorded (plus `noted` facts the view must not show, such as that a password
        changed)."""
        old = self.audit_view(obj)
        yield obj
        await flush_or_conflict(self.session, self.conflicts)
        await self.session.refresh(obj)
        new = {**self.audit_view(obj), **(noted or {})}
        await self._record(actor, "update", obj, old=old, new=new)

    async def update(self, obj: M, changes: Mapping[str, Any], *, actor: ChangeRecorder) -> M:
        """Set `changes` on a row and record it."""
        async with self.changing(obj, actor=actor):
            for field, value in changes.items():
                setattr(obj, field, value)
        return obj

    async def delete(self, obj: M, *, actor: ChangeRecorder) -> None:
        """Delete a row and record what it was."""
        old = self.audit_view(obj)
        resource_id = getattr(obj, self.id_field)
        await self.session.delete(obj)
        await flush_or_conflict(self.session, self.conflicts)
        await actor.record_change(
            self.session,
            action="delete",
            resource_type=self.resource_type,
            resource_id=resource_id,
            old=old,
            tenant_id=self.owner,
        )

    def audit_tenant(self, obj: M) -> int | None:
        """Whose audit log records changes of a row: the owner's (None: the platform's)."""
        return self.owner

    async def _record(
        self, actor: ChangeRecorder, action: str, obj: M, *, old: dict | None = None, new: dict
    ) -> None:
        await actor.record_change(
            self.session,
            action=action,
            resource_type=self.resource_type,
            resource_id=getattr(obj, self.id_field),
            old=old,
            new=new,
            tenant_id=self.audit_tenant(obj),
        )
