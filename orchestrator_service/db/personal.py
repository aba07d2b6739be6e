"""The audited CRUD base for personal data (`UserOwnedMixin` rows): reads see what the user
may read, changes are the owner's alone."""

from typing import Any, TypeVar

from sqlalchemy import Select

from orchestrator_service.db.repository import AuditedRepository
from orchestrator_service.db.tenancy import get_visible, visible
from orchestrator_service.errors import Forbidden

M = TypeVar("M")


class PersonalRepository(AuditedRepository[M]):
    """CRUD over one tenant's rows of a user-owned model, as one user (or None: a key acting
    for no user, which sees tenant-wide rows only)."""

    def __init__(self, session: Any, *, tenant_id: int, user_id: Any) -> None:
        super().__init__(session, owner=tenant_id)
        self.tenant_id = tenant_id
        self.user_id = user_id

    def select(self) -> Select[M]:
        """The rows this user may read."""
        return visible(self.model, self.tenant_id, self.user_id)  # type: ignore[arg-type]

    async def get(self, object_id: object) -> M:
        """A row this user may read, or `NotFound` (also another user's private row)."""
        return await get_visible(
            self.session,
            self.model,  # type: ignore[arg-type]
            self.tenant_id,
            self.user_id,
            object_id,
            what=self.what,
        )

    async def get_own(self, object_id: object) -> M:
        """A row this user may change: theirs (or, without an owner, made for no user)."""
        row = await self.get(object_id)
        if getattr(row, "owner_user_id", None) != self.user_id:
            raise Forbidden(f"Only the user who owns this {self.what.lower()} may change it")
        return row
