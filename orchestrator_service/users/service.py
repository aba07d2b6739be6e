"""Users of a tenant: create, read, update, delete, each recorded in the audit log."""

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from orchestrator_service.audit.service import Actor, record
from orchestrator_service.auth.passwords import hash_password
from orchestrator_service.db.integrity import flush_or_conflict
from orchestrator_service.db.tenancy import get_scoped, scoped
from orchestrator_service.pagination import PageParams, paginate
from orchestrator_service.users.models import User
from orchestrator_service.users.schemas import UserCreate, UserUpdate

_UNIQUE = {
    "uq_users_email": "A user with this email already exists",
    "uq_users_tenant_id_username": "This username is taken",
}
_AUDITED = ("email", "username", "full_name", "role", "is_active", "timezone", "settings")


def _audit_view(user: User) -> dict:
    return {field: getattr(user, field) for field in _AUDITED}


async def create_user(
    session: AsyncSession, *, tenant_id: int, data: UserCreate, actor: Actor
) -> User:
    """Add a user to the tenant; 409 on a taken email or username."""
    fields = data.model_dump(exclude={"password", "email"})
    user = User(
        tenant_id=tenant_id,
        email=data.email.lower(),
        password_hash=hash_password(data.password) if data.password else None,
        **fields,
    )
    session.add(user)
    await flush_or_conflict(session, _UNIQUE)
    await session.refresh(user)
    await record(
        session,
        actor,
        action="create",
        resource_type="user",
        resource_id=user.id,
        new=_audit_view(user),
    )
    return user


async def list_users(
    session: AsyncSession, *, tenant_id: int, page: PageParams
) -> tuple[list[User], str | None]:
    """The tenant's users, newest first."""
    return await paginate(session, scoped(User, tenant_id), User, page)


async def get_user(session: AsyncSession, *, tenant_id: int, user_id: uuid.UUID) -> User:
    """One user of the tenant, or 404."""
    return await get_scoped(session, User, tenant_id, user_id, what="User")


async def update_user(
    session: AsyncSession, *, tenant_id: int, user_id: uuid.UUID, data: UserUpdate, actor: Actor
) -> User:
    """Change the given fields; a disabled user's keys and sessions stop working at once."""
    user = await get_user(session, tenant_id=tenant_id, user_id=user_id)
    old = _audit_view(user)
    changes = data.model_dump(exclude_unset=True, exclude={"password"})
    for field, value in changes.items():
        setattr(user, field, value)
    if data.password is not None:
        user.password_hash = hash_password(data.password)
    await flush_or_conflict(session, _UNIQUE)
    await session.refresh(user)
    new = {**_audit_view(user), "password_changed": data.password is not None}
    await record(
        session,
        actor,
        action="update",
        resource_type="user",
        resource_id=user.id,
        old=old,
        new=new,
    )
    return user


async def delete_user(
    session: AsyncSession, *, tenant_id: int, user_id: uuid.UUID, actor: Actor
) -> None:
    """Delete a user with their keys and sessions."""
    user = await get_user(session, tenant_id=tenant_id, user_id=user_id)
    old = _audit_view(user)
    await session.delete(user)
    await session.flush()
    await record(
        session, actor, action="delete", resource_type="user", resource_id=user_id, old=old
    )
