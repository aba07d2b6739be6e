"""Tenants, managed by platform admins (and by the CLI)."""

from dataclasses import replace

from sqlalchemy import Select, delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from orchestrator_service.audit.service import Actor, record
from orchestrator_service.auth.principal import PLATFORM_ADMIN
from orchestrator_service.auth.service import issue_key
from orchestrator_service.db.base import Base
from orchestrator_service.db.repository import AuditedRepository
from orchestrator_service.errors import NotFound
from orchestrator_service.pagination import PageParams
from orchestrator_service.tenants.models import Tenant
from orchestrator_service.tenants.schemas import TenantCreate, TenantUpdate

FIRST_KEY_NAME = "first admin key"


class Tenants(AuditedRepository[Tenant]):
    """All tenants, which platform admins manage; each change is in the tenant's own log."""

    model = Tenant
    resource_type = "tenant"
    what = "Tenant"
    audited = ("name", "is_active", "settings", "language", "embedder", "tool_config")
    conflicts = {"uq_tenants_name": "A tenant with this name already exists"}

    def __init__(self, session: AsyncSession) -> None:
        super().__init__(session, owner=None)

    def select(self) -> Select[Tenant]:
        """Every tenant."""
        return select(Tenant)

    async def get(self, object_id: object) -> Tenant:
        """One tenant, or 404."""
        tenant = await self.session.get(Tenant, object_id)
        if tenant is None:
            raise NotFound("Tenant not found")
        return tenant

    def audit_tenant(self, obj: Tenant) -> int | None:
        """A tenant's changes are in its own log."""
        return obj.id


async def create_tenant(
    session: AsyncSession, *, data: TenantCreate, actor: Actor
) -> tuple[Tenant, str]:
    """Create a tenant and its first admin API key; return both, the key in plaintext."""
    tenant = await Tenants(session).create(
        Tenant(
            name=data.name,
            settings=data.settings,
            language=data.language,
            embedder=data.embedder,
            tool_config=data.tool_config,
        ),
        actor=actor,
    )
    _, plaintext = await issue_key(
        session, tenant_id=tenant.id, name=FIRST_KEY_NAME, role="admin", actor=actor
    )
    return tenant, plaintext


async def create_platform_key(session: AsyncSession, *, name: str, actor: Actor) -> str:
    """A platform-admin key (no tenant); returns its plaintext."""
    _, plaintext = await issue_key(
        session, tenant_id=None, name=name, role=PLATFORM_ADMIN, actor=actor
    )
    return plaintext


async def has_tenants(session: AsyncSession) -> bool:
    """True once any tenant exists."""
    return await session.scalar(select(Tenant.id).limit(1)) is not None


async def list_tenants(
    session: AsyncSession, *, page: PageParams
) -> tuple[list[Tenant], str | None]:
    """All tenants, newest first."""
    return await Tenants(session).page(page)


async def get_tenant(session: AsyncSession, *, tenant_id: int) -> Tenant:
    """One tenant, or 404."""
    return await Tenants(session).get(tenant_id)


async def update_tenant(
    session: AsyncSession, *, tenant_id: int, data: TenantUpdate, actor: Actor
) -> Tenant:
    """Rename, disable or re-enable a tenant, or change its language, embedder or tool
    settings (`tool_config`, replaced whole)."""
    tenants = Tenants(session)
    tenant = await tenants.get(tenant_id)
    return await tenants.update(tenant, data.model_dump(exclude_unset=True), actor=actor)


async def delete_tenant(session: AsyncSession, *, tenant_id: int, actor: Actor) -> None:
    """Delete a tenant and everything it owns. Its vault data key goes with it, so any copy
    of its ciphertexts (a backup, a dump) can never be decrypted again: crypto-shredding."""
    tenants = Tenants(session)
    tenant = await tenants.get(tenant_id)
    old = tenants.audit_view(tenant)
    for table in reversed(Base.metadata.sorted_tables):
        if "tenant_id" in table.c and table is not Tenant.__table__:
            await session.execute(delete(table).where(table.c.tenant_id == tenant_id))
    await session.delete(tenant)
    await session.flush()
    # Recorded without a tenant: the tenant's own audit log went with it.
    await record(
        session,
        replace(actor, tenant_id=None),
        action="delete",
        resource_type="tenant",
        resource_id=tenant_id,
        old=old,
    )


async def resolve_tenant(sessionmaker: async_sessionmaker[AsyncSession], ref: str) -> int:
    """A tenant's id from its id or its name (for the command line)."""
    async with sessionmaker() as session:
        column = Tenant.id if ref.isdigit() else Tenant.name
        value = int(ref) if ref.isdigit() else ref
        tenant_id = await session.scalar(select(Tenant.id).where(column == value))
    if tenant_id is None:
        raise NotFound(f"No tenant {ref!r}")
    return tenant_id
