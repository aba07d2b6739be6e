"""API keys and password logins."""

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from orchestrator_service.audit.service import Actor, record, record_standalone
from orchestrator_service.auth.models import ApiKey, UserSession
from orchestrator_service.auth.passwords import Passwords
from orchestrator_service.auth.principal import Principal, role_rank
from orchestrator_service.auth.schemas import (
    ApiKeyCreate,
    MeOut,
    PasswordChange,
    PasswordChanged,
    ProfileUpdate,
)
from orchestrator_service.auth.throttle import LoginThrottle, login_keys
from orchestrator_service.auth.tokens import new_token
from orchestrator_service.db.repository import AuditedRepository
from orchestrator_service.errors import Forbidden, InvalidInput, Unauthorized
from orchestrator_service.pagination import PageParams
from orchestrator_service.tenants.models import Tenant
from orchestrator_service.users.models import User
from orchestrator_service.users.service import Users, end_sessions

SESSION_LIFETIME = timedelta(hours=12)


class ApiKeys(AuditedRepository[ApiKey]):
    """An owner's API keys: a tenant's, or (owner None) the platform-admin keys."""

    model = ApiKey
    resource_type = "api_key"
    what = "API key"
    audited = ("name", "prefix", "role", "scopes", "expires_at")
    conflicts = {"uq_api_keys_tenant_id_name": "An API key with this name already exists"}

    def audit_view(self, obj: ApiKey) -> dict:
        """Name, prefix, role, scopes and expiry (as ISO text)."""
        view = super().audit_view(obj)
        view["expires_at"] = obj.expires_at.isoformat() if obj.expires_at else None
        return view


async def issue_key(
    session: AsyncSession,
    *,
    tenant_id: int | None,
    name: str,
    role: str,
    actor: Actor,
    scopes: list[str] | None = None,
    user_id: uuid.UUID | None = None,
    expires_at: datetime | None = None,
    parent_key_id: uuid.UUID | None = None,
) -> tuple[ApiKey, str]:
    """Store a new key (hash only) and return it with its plaintext, which is never kept.

    `scopes` None means every scope of the role (`*`); an empty list is refused, never read as
    all scopes."""
    if scopes is not None and not scopes:
        raise InvalidInput("An API key needs at least one scope (`*` for all its role allows)")
    token = new_token("key")
    key = ApiKey(
        tenant_id=tenant_id,
        user_id=user_id,
        name=name,
        prefix=token.prefix,
        key_hash=token.hash,
        role=role,
        scopes=["*"] if scopes is None else scopes,
        expires_at=expires_at,
        created_by=actor.user_id,
        parent_key_id=parent_key_id,
    )
    await ApiKeys(session, owner=tenant_id).create(key, actor=actor)
    return key, token.plaintext


async def create_key(
    session: AsyncSession, *, principal: Principal, data: ApiKeyCreate, actor: Actor
) -> tuple[ApiKey, str]:
    """A key for the caller's tenant, owned by the calling user: never above the caller's role,
    never with a scope the calling key lacks, never outliving the calling key, and revoked
    with it."""
    await _hold_parent(session, principal)
    role = data.role or principal.role
    if role_rank(role) > role_rank(principal.role):
        raise Forbidden(f"A {principal.role} cannot create a key with role {role}")
    if "*" not in principal.scopes:
        wider = sorted(set(data.scopes) - principal.scopes)
        if wider:
            raise Forbidden(
                "A key cannot create a key with scopes it does not have itself",
                details={"scopes": wider},
            )
    expires_at = await _within_callers_lifetime(session, principal, data.expires_at)
    return await issue_key(
        session,
        tenant_id=principal.tenant_id,
        name=data.name,
        role=role,
        actor=actor,
        scopes=data.scopes,
        user_id=principal.user_id,
        expires_at=expires_at,
        parent_key_id=principal.key_id,
    )


async def _hold_parent(session: AsyncSession, principal: Principal) -> None:
    """Share-lock the calling key until the new key is committed, so a revocation running
    meanwhile either finishes first (and this call is refused) or waits and sees the child."""
    if principal.key_id is None:
        return
    revoked = await session.scalar(
        select(ApiKey.revoked_at).where(ApiKey.id == principal.key_id).with_for_update(read=True)
    )
    if revoked is not None:
        raise Unauthorized("This API key has been revoked")


async def _within_callers_lifetime(
    session: AsyncSession, principal: Principal, requested: datetime | None
) -> datetime | None:
    """The new key's expiry: the requested one, no later than the calling key's (a key that
    expires cannot mint one that does not). A session caller is a user: no limit from it."""
    if principal.key_id is None:
        return requested
    limit = await session.scalar(select(ApiKey.expires_at).where(ApiKey.id == principal.key_id))
    if limit is None:
        return requested
    if requested is None:
        return limit
    if requested > limit:
        raise Forbidden(
            "A key cannot create a key that outlives it",
            details={"expires_at": limit.isoformat()},
        )
    return requested


async def list_keys(
    session: AsyncSession, *, tenant_id: int, page: PageParams
) -> tuple[list[ApiKey], str | None]:
    """The tenant's keys (metadata only), newest first."""
    return await ApiKeys(session, owner=tenant_id).page(page)


async def get_key(session: AsyncSession, *, tenant_id: int, key_id: uuid.UUID) -> ApiKey:
    """One key of the tenant, or 404."""
    return await ApiKeys(session, owner=tenant_id).get(key_id)


async def revoke_key(
    session: AsyncSession, *, tenant_id: int, key_id: uuid.UUID, actor: Actor
) -> None:
    """Revoke a key and every key minted below it; they stop working at once. Revoking twice
    is harmless (and still revokes any descendant left)."""
    keys = ApiKeys(session, owner=tenant_id)
    key = await keys.get(key_id)
    # The row lock waits for a key being minted from this one (see `_hold_parent`).
    await session.execute(select(ApiKey.id).where(ApiKey.id == key.id).with_for_update())
    now = datetime.now(UTC)
    descendants = await _revoke_descendants(session, key.id, now)
    if key.revoked_at is not None and not descendants:
        return
    old = keys.audit_view(key)
    if key.revoked_at is None:
        key.revoked_at = now
        await session.flush()
    await actor.record_change(
        session,
        action="revoke",
        resource_type="api_key",
        resource_id=key.id,
        old=old,
        new={"revoked_descendants": [str(d) for d in descendants]} if descendants else None,
    )


async def _revoke_descendants(
    session: AsyncSession, key_id: uuid.UUID, now: datetime
) -> list[uuid.UUID]:
    """Revoke the keys minted by `key_id`, by those, and so on; their ids."""
    tree = select(ApiKey.id).where(ApiKey.parent_key_id == key_id).cte(recursive=True)
    tree = tree.union(select(ApiKey.id).where(ApiKey.parent_key_id == tree.c.id))
    revoked = await session.scalars(
        update(ApiKey)
        .where(ApiKey.id.in_(select(tree.c.id)), ApiKey.revoked_at.is_(None))
        .values(revoked_at=now)
        .returning(ApiKey.id)
        .execution_options(synchronize_session=False)
    )
    return list(revoked)


async def login(
    session: AsyncSession,
    sessionmaker: async_sessionmaker[AsyncSession],
    *,
    passwords: Passwords,
    throttle: LoginThrottle,
    email: str,
    password: str,
    request_info: dict,
) -> tuple[str, datetime]:
    """Check a password and open a session; the same 401 whether or not the user exists, and
    the same 429 while the account or the client's address is in a backoff."""
    keys = login_keys(email, request_info.get("ip"))
    await throttle.admit(keys)
    row = (
        await session.execute(
            select(User, Tenant.is_active)
            .join(Tenant, Tenant.id == User.tenant_id)
            .where(func.lower(User.email) == email.lower())
        )
    ).first()
    user, tenant_active = row if row else (None, False)
    valid = await passwords.verify(user.password_hash if user else None, password)
    if user is None or not (valid and user.is_active and tenant_active):
        actor = Actor(
            tenant_id=user.tenant_id if user else None,
            user_id=user.id if user else None,
            key_id=None,
            label=f"user:{user.id}" if user else "anonymous",
            **request_info,
        )
        await record_standalone(
            sessionmaker,
            actor,
            action="login_failed",
            resource_type="session",
            new={"email": email.lower()},
        )
        raise Unauthorized("Invalid email or password")
    await throttle.succeeded(session, keys)
    token = new_token("session")
    expires_at = datetime.now(UTC) + SESSION_LIFETIME
    login_row = UserSession(
        tenant_id=user.tenant_id,
        user_id=user.id,
        prefix=token.prefix,
        token_hash=token.hash,
        expires_at=expires_at,
        ip_address=request_info.get("ip"),
        user_agent=(request_info.get("user_agent") or "")[:500] or None,
    )
    session.add(login_row)
    user.last_login_at = datetime.now(UTC)
    await session.flush()
    actor = Actor(
        tenant_id=user.tenant_id,
        user_id=user.id,
        key_id=None,
        label=f"user:{user.id}",
        **request_info,
    )
    await record(session, actor, action="login", resource_type="session", resource_id=login_row.id)
    return token.plaintext, expires_at


async def logout(session: AsyncSession, *, principal: Principal, actor: Actor) -> None:
    """End the caller's session (a key caller has none: nothing happens)."""
    if principal.session_id is None:
        return
    await session.execute(
        update(UserSession)
        .where(UserSession.id == principal.session_id)
        .values(revoked_at=datetime.now(UTC))
    )
    await record(
        session,
        actor,
        action="logout",
        resource_type="session",
        resource_id=principal.session_id,
    )


async def describe(session: AsyncSession, *, principal: Principal) -> MeOut:
    """What the service knows of the caller."""
    tenant = await session.get(Tenant, principal.tenant_id) if principal.tenant_id else None
    user = await session.get(User, principal.user_id) if principal.user_id else None
    return MeOut(
        tenant_id=principal.tenant_id,
        tenant_name=tenant.name if tenant else None,
        user_id=principal.user_id,
        email=user.email if user else None,
        key_id=principal.key_id,
        role=principal.role,
        scopes=sorted(principal.scopes),
    )


class WrongPassword(Forbidden):
    """The current password given with a password change is not the user's."""

    code = "wrong_password"


async def _own_user(session: AsyncSession, principal: Principal) -> User:
    """The user the caller acts for; 403 for a key acting for no user."""
    if principal.user_id is None or principal.tenant_id is None:
        raise Forbidden(
            "This key acts for no user (made by a platform key or the CLI): /me changes are a "
            "user's, through their session or a key they made"
        )
    return await Users(session, owner=principal.tenant_id).get(principal.user_id)


async def update_profile(
    session: AsyncSession, *, principal: Principal, data: ProfileUpdate, actor: Actor
) -> User:
    """Change the caller's own profile (name, username, avatar, time zone, settings)."""
    user = await _own_user(session, principal)
    return await Users(session, owner=principal.tenant_id).update(
        user, data.model_dump(exclude_unset=True), actor=actor
    )


async def change_password(
    session: AsyncSession,
    *,
    principal: Principal,
    data: PasswordChange,
    actor: Actor,
    passwords: Passwords,
    throttle: LoginThrottle,
    request_info: dict,
) -> PasswordChanged:
    """Change the caller's own password, given the current one (checked under the login
    throttle, so a stolen session cannot guess it); every other session of the user ends.
    The user's API keys keep working: revoke them at /api-keys if they may have leaked."""
    user = await _own_user(session, principal)
    # The new password is judged first: a refusal after the check below would roll back the
    # throttle's forgiveness of a right current password with the request's transaction.
    if data.new_password == data.current_password:
        raise InvalidInput("The new password is the current one", details={"field": "new_password"})
    personal = [
        v for v in (user.email, user.email.split("@")[0], user.username, user.full_name) if v
    ]
    if (problem := await passwords.weakness(data.new_password, personal=personal)) is not None:
        raise InvalidInput(
            f"The new password is too weak: {problem}", details={"field": "new_password"}
        )
    keys = login_keys(user.email, request_info.get("ip"))
    await throttle.admit(keys)
    if not await passwords.verify(user.password_hash, data.current_password):
        raise WrongPassword(
            "The current password is wrong (or this user has none: an admin sets the first)",
            details={"field": "current_password"},
        )
    await throttle.succeeded(session, keys)
    users = Users(session, owner=principal.tenant_id)
    async with users.changing(user, actor=actor, noted={"password_changed": True}):
        user.password_hash = await passwords.hash(data.new_password)
    ended = await end_sessions(session, user_id=user.id, keep=principal.session_id)
    await actor.record_change(
        session,
        action="revoke_sessions",
        resource_type="user",
        resource_id=user.id,
        new={"sessions": ended, "reason": "password changed by the user"},
        tenant_id=principal.tenant_id,
    )
    kept = "this session stays open" if principal.session_id else "no session made this change"
    return PasswordChanged(
        sessions_revoked=ended,
        message=f"Password changed; {ended} other session(s) ended, {kept}. API keys are "
        "unchanged: revoke any that may have leaked",
    )
