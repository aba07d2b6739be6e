"""Users of a tenant: create, read, update, delete, each recorded in the audit log."""

import uuid

from sqlalchemy import func, update
from sqlalchemy.ext.asyncio import AsyncSession

from orchestrator_service.audit.service import Actor
from orchestrator_service.auth.models import UserSession
from orchestrator_service.auth.passwords import Passwords
from orchestrator_service.db.repository import AuditedRepository
from orchestrator_service.pagination import PageParams
from orchestrator_service.privacy.registry import release_shared
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
    session: AsyncSession,
    *,
    tenant_id: int,
    data: UserCreate,
    actor: Actor,
    passwords: Passwords,
) -> User:
    """Add a user to the tenant; 409 on a taken email or username."""
    fields = data.model_dump(exclude={"password", "email"})
    user = User(
        tenant_id=tenant_id,
        email=data.email.lower(),
        password_hash=await passwords.hash(data.password) if data.password else None,
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
    session: AsyncSession,
    *,
    tenant_id: int,
    user_id: uuid.UUID,
    data: UserUpdate,
    actor: Actor,
    passwords: Passwords,
    current_session: uuid.UUID | None = None,
) -> User:
    """Change the given fields. A password change or a disable revokes the user's sessions
    (but `current_session`, the one making a password change, if it is theirs); a disabled
    user's API keys are refused while the user is disabled and are not revoked."""
    users = Users(session, owner=tenant_id)
    user = await users.get(user_id)
    disabling = data.is_active is False and user.is_active
    noted = {"password_changed": data.password is not None}
    async with users.changing(user, actor=actor, noted=noted):
        for field, value in data.model_dump(exclude_unset=True, exclude={"password"}).items():
            setattr(user, field, value)
        if data.password is not None:
            user.password_hash = await passwords.hash(data.password)
    if disabling or data.password is not None:
        keep = None if disabling else current_session
        ended = await end_sessions(session, user_id=user.id, keep=keep)
        if ended:
            await actor.record_change(
                session,
                action="revoke_sessions",
                resource_type="user",
                resource_id=user.id,
                new={
                    "sessions": ended,
                    "reason": "user disabled" if disabling else "password changed",
                },
                tenant_id=tenant_id,
            )
    return user


async def end_sessions(
    session: AsyncSession, *, user_id: uuid.UUID, keep: uuid.UUID | None = None
) -> int:
    """Revoke the user's open sessions (all but `keep`); how many were ended."""
    stmt = (
        update(UserSession)
        .where(
            UserSession.user_id == user_id,
            UserSession.revoked_at.is_(None),
            UserSession.expires_at > func.now(),
        )
        .values(revoked_at=func.now())
    )
    if keep is not None:
        stmt = stmt.where(UserSession.id != keep)
    return len((await session.execute(stmt.returning(UserSession.id))).all())


async def delete_user(
    session: AsyncSession, *, tenant_id: int, user_id: uuid.UUID, actor: Actor
) -> None:
    """Delete a user with their keys, sessions and personal data (private rows, memories
    about them); their tenant-wide agents and conversations stay, ownerless."""
    users = Users(session, owner=tenant_id)
    user = await users.get(user_id)
    await release_shared(session, user_id=user.id)
    await users.delete(user, actor=actor)
