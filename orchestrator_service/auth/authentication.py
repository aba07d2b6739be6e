"""Authentication: a bearer API key or session token becomes a `Principal`."""

from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from orchestrator_service.auth.models import ApiKey, UserSession
from orchestrator_service.auth.principal import Principal, role_rank
from orchestrator_service.auth.tokens import parse_token, token_matches
from orchestrator_service.errors import Unauthorized
from orchestrator_service.tenants.models import Tenant
from orchestrator_service.users.models import User

# last_used_at is written at most this often per key, not on every request.
_LAST_USED_RESOLUTION = timedelta(seconds=60)


def _bearer(header: str) -> str:
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("Send `Authorization: Bearer <api key or session token>`")
    return token.strip()


async def _from_key(session: AsyncSession, token: str, prefix: str, now: datetime) -> Principal:
    row = (
        await session.execute(
            select(ApiKey, User.is_active, User.role, Tenant.is_active)
            .outerjoin(User, User.id == ApiKey.user_id)
            .outerjoin(Tenant, Tenant.id == ApiKey.tenant_id)
            .where(ApiKey.prefix == prefix)
        )
    ).first()
    if row is None or not token_matches(token, row[0].key_hash):
        raise Unauthorized("Invalid API key")
    key, user_active, user_role, tenant_active = row
    if key.revoked_at is not None:
        raise Unauthorized("This API key has been revoked")
    if key.expires_at is not None and key.expires_at <= now:
        raise Unauthorized("This API key has expired")
    if key.user_id is not None and not user_active:
        raise Unauthorized("The user owning this API key is disabled")
    if key.tenant_id is not None and not tenant_active:
        raise Unauthorized("This tenant is disabled")
    if key.last_used_at is None or key.last_used_at < now - _LAST_USED_RESOLUTION:
        await session.execute(update(ApiKey).where(ApiKey.id == key.id).values(last_used_at=now))
    role = key.role
    if user_role is not None and role_rank(user_role) < role_rank(role):
        role = user_role  # a key never outranks the user who owns it, even after a demotion
    return Principal(
        tenant_id=key.tenant_id,
        user_id=key.user_id,
        key_id=key.id,
        session_id=None,
        role=role,
        scopes=frozenset(key.scopes or ()),
    )


async def _from_session(session: AsyncSession, token: str, prefix: str, now: datetime) -> Principal:
    row = (
        await session.execute(
            select(UserSession, User.role, User.is_active, Tenant.is_active)
            .join(User, User.id == UserSession.user_id)
            .join(Tenant, Tenant.id == UserSession.tenant_id)
            .where(UserSession.prefix == prefix)
        )
    ).first()
    if row is None or not token_matches(token, row[0].token_hash):
        raise Unauthorized("Invalid session token")
    login, role, user_active, tenant_active = row
    if login.revoked_at is not None or login.expires_at <= now:
        raise Unauthorized("This session has ended; log in again")
    if not user_active or not tenant_active:
        raise Unauthorized("This user or tenant is disabled")
    return Principal(
        tenant_id=login.tenant_id,
        user_id=login.user_id,
        key_id=None,
        session_id=login.id,
        role=role,
        scopes=frozenset({"*"}),
    )


async def authenticate(session: AsyncSession, authorization: str) -> Principal:
    """Resolve an `Authorization` header into a Principal, or refuse with `Unauthorized`."""
    token = _bearer(authorization)
    parsed = parse_token(token)
    if parsed is None:
        raise Unauthorized("Malformed bearer token")
    kind, prefix = parsed
    now = datetime.now(UTC)
    if kind == "key":
        return await _from_key(session, token, prefix, now)
    return await _from_session(session, token, prefix, now)
