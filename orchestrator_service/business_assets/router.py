"""/api/v1/business-assets."""

from typing import Annotated

from fastapi import APIRouter, Depends, Query, status

from orchestrator_service.business_assets import service
from orchestrator_service.business_assets.schemas import AssetCreate, AssetOut, AssetUpdate
from orchestrator_service.deps import ActorDep, Paging, SessionDep, TenantPrincipal, require
from orchestrator_service.pagination import Page, page_of
from orchestrator_service.schemas import TextId

router = APIRouter(prefix="/business-assets", tags=["business-assets"])
Reader = Annotated[TenantPrincipal, Depends(require("business_assets:read"))]
Writer = Annotated[TenantPrincipal, Depends(require("business_assets:write"))]


@router.post("", status_code=status.HTTP_201_CREATED)
async def create_asset(
    data: AssetCreate, principal: Writer, actor: ActorDep, session: SessionDep
) -> AssetOut:
    """Create a business asset."""
    asset = await service.create_asset(
        session, tenant_id=principal.tenant_id, data=data, actor=actor
    )
    return AssetOut.model_validate(asset)


@router.get("")
async def list_assets(
    principal: Reader,
    session: SessionDep,
    page: Paging,
    asset_type: Annotated[str | None, Query(max_length=50)] = None,
) -> Page[AssetOut]:
    """List the tenant's business assets."""
    assets, cursor = await service.list_assets(
        session, tenant_id=principal.tenant_id, page=page, asset_type=asset_type
    )
    return page_of(AssetOut, assets, cursor)


@router.get("/{asset_id}")
async def get_asset(asset_id: TextId, principal: Reader, session: SessionDep) -> AssetOut:
    """Show one business asset."""
    asset = await service.get_asset(session, tenant_id=principal.tenant_id, asset_id=asset_id)
    return AssetOut.model_validate(asset)


@router.patch("/{asset_id}")
async def update_asset(
    asset_id: TextId, data: AssetUpdate, principal: Writer, actor: ActorDep, session: SessionDep
) -> AssetOut:
    """Change a business asset."""
    asset = await service.update_asset(
        session, tenant_id=principal.tenant_id, asset_id=asset_id, data=data, actor=actor
    )
    return AssetOut.model_validate(asset)


@router.delete("/{asset_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_asset(
    asset_id: TextId, principal: Writer, actor: ActorDep, session: SessionDep
) -> None:
    """Delete a business asset."""
    await service.delete_asset(
        session, tenant_id=principal.tenant_id, asset_id=asset_id, actor=actor
    )
