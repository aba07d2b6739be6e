"""/api/v1/models: the model catalogue. Platform-admin keys manage the platform's models;
tenant keys see those and their own, add their own, and turn platform models off or on."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, status

from orchestrator_service.catalogue import service
from orchestrator_service.catalogue.schemas import ModelCreate, ModelOut, ModelUpdate, Provider
from orchestrator_service.deps import (
    ActorDep,
    Paging,
    PrincipalDep,
    SessionDep,
    TenantPrincipal,
    require,
    tenant_or_global,
)
from orchestrator_service.pagination import Page, page_of

router = APIRouter(prefix="/models", tags=["models"])
Reader = Annotated[int | None, Depends(tenant_or_global("agents:read"))]
Writer = Annotated[int | None, Depends(tenant_or_global("agents:write"))]
TenantWriter = Annotated[TenantPrincipal, Depends(require("agents:write"))]


@router.post("", status_code=status.HTTP_201_CREATED)
async def create_model(
    data: ModelCreate, owner: Writer, principal: PrincipalDep, actor: ActorDep, session: SessionDep
) -> ModelOut:
    """Add a model: a platform model when a platform-admin key calls, else one of the tenant's
    own. Entries decide where calls go, with which key and at what price: changing the
    catalogue is an admin's decision (403 `destination_approval_required` otherwise); a
    negative price is 422."""
    return await service.create_model(
        session, owner=owner, data=data, actor=actor, approver=principal.approves_destinations
    )


@router.get("")
async def list_models(
    owner: Reader,
    session: SessionDep,
    page: Paging,
    provider: Annotated[Provider | None, Query()] = None,
    enabled: Annotated[bool | None, Query(description="Only usable (or unusable) ones")] = None,
) -> Page[ModelOut]:
    """The platform's models and the tenant's own, each saying whether the tenant may use it."""
    items, cursor = await service.list_models(
        session, tenant_id=owner, page=page, provider=provider, enabled=enabled
    )
    return page_of(ModelOut, items, cursor)


@router.get("/{model_id}")
async def get_model(model_id: uuid.UUID, owner: Reader, session: SessionDep) -> ModelOut:
    """Show one model."""
    return await service.get_model(session, tenant_id=owner, model_id=model_id)


@router.patch("/{model_id}")
async def update_model(
    model_id: uuid.UUID,
    data: ModelUpdate,
    owner: Writer,
    principal: PrincipalDep,
    actor: ActorDep,
    session: SessionDep,
) -> ModelOut:
    """Change a model the caller owns (a tenant's key cannot change a platform model: 404)."""
    return await service.update_model(
        session,
        owner=owner,
        model_id=model_id,
        data=data,
        actor=actor,
        approver=principal.approves_destinations,
    )


@router.delete("/{model_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_model(
    model_id: uuid.UUID,
    owner: Writer,
    principal: PrincipalDep,
    actor: ActorDep,
    session: SessionDep,
) -> None:
    """Remove a model the caller owns; agents naming it can no longer run (422)."""
    await service.delete_model(
        session,
        owner=owner,
        model_id=model_id,
        actor=actor,
        approver=principal.approves_destinations,
    )


@router.post("/{model_id}/enable")
async def enable_model(
    model_id: uuid.UUID, principal: TenantWriter, actor: ActorDep, session: SessionDep
) -> ModelOut:
    """Let the tenant's agents use this model again."""
    return await service.set_enabled(
        session,
        tenant_id=principal.tenant_id,
        model_id=model_id,
        enabled=True,
        actor=actor,
        approver=principal.approves_destinations,
    )


@router.post("/{model_id}/disable")
async def disable_model(
    model_id: uuid.UUID, principal: TenantWriter, actor: ActorDep, session: SessionDep
) -> ModelOut:
    """Stop the tenant's agents from using this model (their runs answer 409)."""
    return await service.set_enabled(
        session,
        tenant_id=principal.tenant_id,
        model_id=model_id,
        enabled=False,
        actor=actor,
        approver=principal.approves_destinations,
    )
