"""Authentication and authorization as FastAPI dependencies."""

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import select, update

from orchestrator_service.audit.service import Actor
from orchestrator_service.auth.models import ApiKey, UserSession
from orchestrator_service.auth.principal import Principal, role_rank
from orchestrator_service.auth.tokens import parse_token, token_matches
from orchestrator_service.db.session import Session
from orchestrator_service.errors import Forbidden, Unauthorized
from orchestrator_service.http import request_id_var
from orchestrator_service.tenants.models import Tenant
from orchestrator_service.users.models import User

# last_used_at is written at most this often per key, not on every request.
_LAST_USED_RESOLUTION = timedelta(seconds=60)


def _bearer(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("Send `Authorization: Bearer <api key or session token>`")
    return token.strip()


async def _from_key(session: Session, token: str, prefix: str, now: datetime) -> Principal:
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


async def _from_session(session: Session, token: str, prefix: str, now: datetime) -> Principal:
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


async def authenticate(request: Request, session: Session) -> Principal:
    """Resolve the bearer token into a Principal, or refuse with 401."""
    token = _bearer(request)
    parsed = parse_token(token)
    if parsed is None:
        raise Unauthorized("Malformed bearer token")
    kind, prefix = parsed
    now = datetime.now(UTC)
    if kind == "key":
        principal = await _from_key(session, token, prefix, now)
    else:
        principal = await _from_session(session, token, prefix, now)
    request.state.principal = principal
    return principal


CurrentPrincipal = Annotated[Principal, Depends(authenticate)]


def request_info(request: Request) -> dict[str, str | None]:
    """Where a request came from, for the audit log."""
    return {
        "ip": request.client.host if request.client else None,
        "user_agent": request.headers.get("user-agent"),
        "request_id": request_id_var.get(),
    }


def require(scope: str) -> Callable[..., Awaitable[Principal]]:
    """A dependency admitting tenant principals whose role and scopes grant `scope`."""

    async def check(principal: CurrentPrincipal) -> Principal:
        if principal.tenant_id is None:
            raise Forbidden("Platform-admin keys manage tenants; use a key of the tenant")
        if not principal.allows(scope):
            raise Forbidden(f"This requires the {scope!r} permission", details={"scope": scope})
        return principal

    return check


def tenant_or_global(scope: str) -> Callable[..., Awaitable[int | None]]:
    """A dependency giving whose objects the caller manages: its tenant's (if its role and
    scopes grant `scope`), or, for a platform-admin key, the global ones (None)."""

    async def owner(principal: CurrentPrincipal) -> int | None:
        if principal.is_platform_admin:
            return None
        if principal.tenant_id is None or not principal.allows(scope):
            raise Forbidden(f"This requires the {scope!r} permission", details={"scope": scope})
        return principal.tenant_id

    return owner


async def require_platform_admin(principal: CurrentPrincipal) -> Principal:
    """A dependency admitting platform-admin principals only."""
    if not principal.is_platform_admin:
        raise Forbidden("This requires a platform-admin key")
    return principal


def current_actor(request: Request, principal: CurrentPrincipal) -> Actor:
    """The audit actor of this request."""
    return Actor.of(principal, **request_info(request))


CurrentActor = Annotated[Actor, Depends(current_actor)]
PlatformAdmin = Annotated[Principal, Depends(require_platform_admin)]
