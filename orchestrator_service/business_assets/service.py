"""Business assets of a tenant: CRUD, audited."""

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from orchestrator_service.audit.service import Actor, record
from orchestrator_service.business_assets.models import BusinessAsset
from orchestrator_service.business_assets.schemas import AssetCreate, AssetUpdate
from orchestrator_service.db.tenancy import get_scoped, scoped
from orchestrator_service.pagination import PageParams, paginate


def _audit_view(asset: BusinessAsset) -> dict:
    return {"asset_type": asset.asset_type, "is_active": asset.is_active}


async def create_asset(
    session: AsyncSession, *, tenant_id: int, data: AssetCreate, actor: Actor
) -> BusinessAsset:
    """Add an asset to the tenant."""
    asset = BusinessAsset(id=str(uuid.uuid4()), tenant_id=tenant_id, **data.model_dump())
    session.add(asset)
    await session.flush()
    await session.refresh(asset)
    await record(
        session,
        actor,
        action="create",
        resource_type="business_asset",
        resource_id=asset.id,
        new=_audit_view(asset),
    )
    return asset


async def list_assets(
    session: AsyncSession, *, tenant_id: int, page: PageParams, asset_type: str | None = None
) -> tuple[list[BusinessAsset], str | None]:
    """The tenant's assets, newest first, optionally of one type."""
    stmt = scoped(BusinessAsset, tenant_id)
    if asset_type is not None:
        stmt = stmt.where(BusinessAsset.asset_type == asset_type)
    return await paginate(session, stmt, BusinessAsset, page)


async def get_asset(session: AsyncSession, *, tenant_id: int, asset_id: str) -> BusinessAsset:
    """One asset of the tenant, or 404."""
    return await get_scoped(session, BusinessAsset, tenant_id, asset_id, what="Business asset")


async def update_asset(
    session: AsyncSession, *, tenant_id: int, asset_id: str, data: AssetUpdate, actor: Actor
) -> BusinessAsset:
    """Change an asset."""
    asset = await get_asset(session, tenant_id=tenant_id, asset_id=asset_id)
    old = _audit_view(asset)
    for field, value in data.model_dump(exclude_unset=True).items():
        setattr(asset, field, value)
    await session.flush()
    await session.refresh(asset)
    await record(
        session,
        actor,
        action="update",
        resource_type="business_asset",
        resource_id=asset.id,
        old=old,
        new=_audit_view(asset),
    )
    return asset


async def delete_asset(
    session: AsyncSession, *, tenant_id: int, asset_id: str, actor: Actor
) -> None:
    """Delete an asset."""
    asset = await get_asset(session, tenant_id=tenant_id, asset_id=asset_id)
    old = _audit_view(asset)
    await session.delete(asset)
    await session.flush()
    await record(
        session,
        actor,
        action="delete",
        resource_type="business_asset",
        resource_id=asset_id,
        old=old,
    )
