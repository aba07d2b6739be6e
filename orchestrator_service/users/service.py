"""Users of a tenant: create, read, update, delete, each recorded in the audit log."""

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from orchestrator_service.audit.service import Actor
from orchestrator_service.auth.passwords import hash_password
from orchestrator_service.db.repository import AuditedRepository
from orchestrator_service.pagination import PageParams
from orchestrator_service.users.models import User
from orchestrator_service.users.schemas import UserCreate, UserUpdate


class Users(AuditedRepository[User]):
    """A tenant's users."""

    model = User
    resource_type = "user"
    what = "User"
    audited = ("email", "username", "full_name", "role", "is_active", "timezone", "settings")
    conflicts = {
        "uq_users_email": "A user with this email already exists",
        "uq_users_tenant_id_username": "This username is taken",
    }


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
    return await Users(session, owner=tenant_id).create(user, actor=actor)


async def list_users(
    session: AsyncSession, *, tenant_id: int, page: PageParams
) -> tuple[list[User], str | None]:
    """The tenant's users, newest first."""
    return await Users(session, owner=tenant_id).page(page)


async def get_user(session: AsyncSession, *, tenant_id: int, user_id: uuid.UUID) -> User:
    """One user of the tenant, or 404."""
    return await Users(session, owner=tenant_id).get(user_id)


async def update_user(
    session: AsyncSession, *, tenant_id: int, user_id: uuid.UUID, data: UserUpdate, actor: Actor
) -> User:
    """Change the given fields; a disabled user's keys and sessions stop working at once."""
    users = Users(session, owner=tenant_id)
    user = await users.get(user_id)
    noted = {"password_changed": data.password is not None}
    async with users.changing(user, actor=actor, noted=noted):
        for field, value in data.model_dump(exclude_unset=True, exclude={"password"}).items():
            setattr(user, field, value)
        if data.password is not None:
            user.password_hash = hash_password(data.password)
    return user


async def delete_user(
    session: AsyncSession, *, tenant_id: int, user_id: uuid.UUID, actor: Actor
) -> None:
    """Delete a user with their keys and sessions."""
    users = Users(session, owner=tenant_id)
    await users.delete(await users.get(user_id), actor=actor)
