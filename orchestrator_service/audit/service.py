"""Recording and reading the audit log. Secrets never reach it: values are redacted by key."""

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from orchestrator_service.audit.models import AuditLog
from orchestrator_service.auth.principal import Principal
from orchestrator_service.db.tenancy import get_scoped, scoped
from orchestrator_service.pagination import PageParams, paginate

REDACTED = "[REDACTED]"
_SECRET_NAMES = {"password", "secret", "token", "api_key", "key", "value", "plaintext"}
_SECRET_SUFFIXES = ("_password", "_secret", "_token", "_hash", "_key", "_value")


def _is_secret(name: object) -> bool:
    name = str(name).lower()
    return name in _SECRET_NAMES or name.endswith(_SECRET_SUFFIXES)


@dataclass(frozen=True)
class Actor:
    """Who did something and from where, as the audit log records it."""

    tenant_id: int | None
    user_id: uuid.UUID | None
    key_id: uuid.UUID | None
    label: str
    ip: str | None = None
    user_agent: str | None = None
    request_id: str | None = None

    @classmethod
    def of(cls, principal: Principal, **request_info: str | None) -> "Actor":
        """The actor behind an authenticated principal."""
        return cls(
            tenant_id=principal.tenant_id,
            user_id=principal.user_id,
            key_id=principal.key_id,
            label=principal.label,
            **request_info,
        )

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
        """Record a change this actor made, in the caller's transaction."""
        await record(
            session,
            self,
            action=action,
            resource_type=resource_type,
            resource_id=resource_id,
            old=old,
            new=new,
            tenant_id=tenant_id,
        )


def redact(values: Any) -> Any:
    """A copy of `values` with every secret-looking field replaced by a marker."""
    if isinstance(values, dict):
        return {k: REDACTED if _is_secret(k) else redact(v) for k, v in values.items()}
    if isinstance(values, list):
        return [redact(v) for v in values]
    return values


def _entry(
    actor: Actor,
    *,
    action: str,
    resource_type: str,
    resource_id: object,
    old: dict | None,
    new: dict | None,
    tenant_id: int | None,
) -> AuditLog:
    return AuditLog(
        tenant_id=tenant_id,
        user_id=actor.user_id,
        api_key_id=actor.key_id,
        actor=actor.label,
        action=action,
        resource_type=resource_type,
        resource_id=None if resource_id is None else str(resource_id),
        old_values=redact(old),
        new_values=redact(new),
        ip_address=actor.ip,
        user_agent=actor.user_agent,
        request_id=actor.request_id,
    )


async def record(
    session: AsyncSession,
    actor: Actor,
    *,
    action: str,
    resource_type: str,
    resource_id: object = None,
    old: dict | None = None,
    new: dict | None = None,
    tenant_id: int | None = None,
) -> None:
    """Add an entry in the caller's transaction, so it commits with the change it records.

    A platform operator acting on a tenant is recorded twice: in the tenant's log without the
    operator's key, address and client, and in full in the platform log (no tenant).
    """
    entry = {
        "action": action,
        "resource_type": resource_type,
        "resource_id": resource_id,
        "old": old,
        "new": new,
    }
    owner = tenant_id if tenant_id is not None else actor.tenant_id
    if owner is not None and actor.tenant_id is None:
        anonymous = Actor(
            tenant_id=None,
            user_id=None,
            key_id=None,
            label="platform",
            request_id=actor.request_id,
        )
        session.add(_entry(anonymous, tenant_id=owner, **entry))
        owner = None
    session.add(_entry(actor, tenant_id=owner, **entry))


async def record_standalone(
    sessionmaker: async_sessionmaker[AsyncSession], actor: Actor, **entry: Any
) -> None:
    """Commit an entry on its own, for events whose request fails (a refused login)."""
    async with sessionmaker() as session, session.begin():
        await record(session, actor, **entry)


async def list_logs(
    session: AsyncSession,
    *,
    tenant_id: int,
    page: PageParams,
    actor: str | None = None,
    action: str | None = None,
    resource_type: str | None = None,
    resource_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> tuple[list[AuditLog], str | None]:
    """The tenant's audit entries, newest first, filtered."""
    stmt = scoped(AuditLog, tenant_id)
    filters = {
        AuditLog.actor: actor,
        AuditLog.action: action,
        AuditLog.resource_type: resource_type,
        AuditLog.resource_id: resource_id,
    }
    for column, value in filters.items():
        if value is not None:
            stmt = stmt.where(column == value)
    if since is not None:
        stmt = stmt.where(AuditLog.created_at >= since)
    if until is not None:
        stmt = stmt.where(AuditLog.created_at < until)
    return await paginate(session, stmt, AuditLog, page)


async def get_log(session: AsyncSession, *, tenant_id: int, log_id: uuid.UUID) -> AuditLog:
    """One audit entry of the tenant."""
    return await get_scoped(session, AuditLog, tenant_id, log_id, what="Audit log entry")
