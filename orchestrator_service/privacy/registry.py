"""Every user-owned model (a mapped `UserOwnedMixin` subclass), found from the mapper
registry, so a domain added later is covered by existing."""

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from orchestrator_service.db.base import TENANT_WIDE, Base, UserOwnedMixin


def user_owned_models() -> dict[str, type]:
    """The user-owned models by table name (the `kind` the admin routes take)."""
    found = {
        mapper.local_table.name: mapper.class_  # type: ignore[attr-defined]
        for mapper in Base.registry.mappers
        if issubclass(mapper.class_, UserOwnedMixin)
    }
    return dict(sorted(found.items()))


async def release_shared(session: AsyncSession, *, user_id: object) -> None:
    """Before a user is deleted: their tenant-wide rows of models that are tenant-wide by
    default (agents, conversations) stay for the tenant, ownerless; everything else they own
    (private rows, personal data) goes with them (the owner key cascades)."""
    for model in user_owned_models().values():
        if model.default_visibility != TENANT_WIDE:
            continue
        await session.execute(
            update(model)
            .where(model.owner_user_id == user_id, model.visibility == TENANT_WIDE)
            .values(owner_user_id=None)
        )
