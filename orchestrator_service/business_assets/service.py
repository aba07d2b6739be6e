"""Business assets of a tenant: CRUD, audited."""

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from orchestrator_service.audit.service import Actor
from orchestrator_service.business_assets.models import BusinessAsset
from orchestrator_service.business_assets.schemas import AssetCreate, AssetUpdate
from orchestrator_service.db.repository import AuditedRepository
from orchestrator_service.pagination import PageParams


class Assets(AuditedRepository[BusinessAsset]):
    """A tenant's business assets."""

    model = BusinessAsset
    resource_type = "business_asset"
    what = "Business asset"
    audited = ("asset_type", "is_active")


async def create_asset(
    session: AsyncSession, *, tenant_id: int, data: AssetCreate, actor: Actor
) -> BusinessAsset:
    """Add an asset to the tenant."""
    asset = BusinessAsset(id=str(uuid.uuid4()), tenant_id=tenant_id, **data.model_dump())
    return await Assets(session, owner=tenant_id).create(asset, actor=actor)


async def list_assets(
    session: AsyncSession, *, tenant_id: int, page: PageParams, asset_type: str | None = None
) -> tuple[list[BusinessAsset], str | None]:
    """The tenant's assets, newest first, optionally of one type."""
    assets = Assets(session, owner=tenant_id)
    stmt = assets.select()
    if asset_type is not None:
        stmt = stmt.where(BusinessAsset.asset_type == asset_type)
    return await assets.page(page, stmt)


async def get_asset(session: AsyncSession, *, tenant_id: int, asset_id: str) -> BusinessAsset:
    """One asset of the tenant, or 404."""
    return await Assets(session, owner=tenant_id).get(asset_id)


async def update_asset(
    session: AsyncSession, *, tenant_id: int, asset_id: str, data: AssetUpdate, actor: Actor
) -> BusinessAsset:
    """Change an asset."""
    assets = Assets(session, owner=tenant_id)
    asset = await assets.get(asset_id)
    return await assets.update(asset, data.model_dump(exclude_unset=True), actor=actor)


async def delete_asset(
    session: AsyncSession, *, tenant_id: int, asset_id: str, actor: Actor
) -> None:
    """Delete an asset."""
    assets = Assets(session, owner=tenant_id)
    await assets.delete(await assets.get(asset_id), actor=actor)
