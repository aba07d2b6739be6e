"""/api/v1/tenants: platform admins only."""

from fastapi import APIRouter, status

from orchestrator_service.deps import ActorDep, Paging, PlatformAdmin, SessionDep
from orchestrator_service.pagination import Page, page_of
from orchestrator_service.schemas import IntId
from orchestrator_service.tenants import service
from orchestrator_service.tenants.schemas import (
    TenantCreate,
    TenantCreated,
    TenantOut,
    TenantUpdate,
)

router = APIRouter(prefix="/tenants", tags=["tenants"])


@router.post("", status_code=status.HTTP_201_CREATED)
async def create_tenant(
    data: TenantCreate, _: PlatformAdmin, actor: ActorDep, session: SessionDep
) -> TenantCreated:
    """Create a tenant; the response carries its first admin API key, this one time only."""
    tenant, api_key = await service.create_tenant(session, data=data, actor=actor)
    return TenantCreated(**TenantOut.model_validate(tenant).model_dump(), api_key=api_key)


@router.get("")
async def list_tenants(_: PlatformAdmin, session: SessionDep, page: Paging) -> Page[TenantOut]:
    """List all tenants."""
    tenants, cursor = await service.list_tenants(session, page=page)
    return page_of(TenantOut, tenants, cursor)


@router.get("/{tenant_id}")
async def get_tenant(tenant_id: IntId, _: PlatformAdmin, session: SessionDep) -> TenantOut:
    """Show one tenant."""
    return TenantOut.model_validate(await service.get_tenant(session, tenant_id=tenant_id))


@router.patch("/{tenant_id}")
async def update_tenant(
    tenant_id: IntId, data: TenantUpdate, _: PlatformAdmin, actor: ActorDep, session: SessionDep
) -> TenantOut:
    """Rename, disable or re-enable a tenant, or change its settings, language, embedder or
    per-tool settings (`tool_config`, replaced whole)."""
    tenant = await service.update_tenant(session, tenant_id=tenant_id, data=data, actor=actor)
    return TenantOut.model_validate(tenant)


@router.delete("/{tenant_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_tenant(
    tenant_id: IntId, _: PlatformAdmin, actor: ActorDep, session: SessionDep
) -> None:
    """Delete a tenant with everything it owns, its vault data key included."""
    await service.delete_tenant(session, tenant_id=tenant_id, actor=actor)
