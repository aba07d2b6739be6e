"""`/integrations`: the caller's Gmail, Google Calendar and Outlook connections, their OAuth
callback and their syncs. Every integration is private to the user who connected it."""

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, status

from orchestrator_service.deps import (
    ActorDep,
    IntegrationsDep,
    Paging,
    SessionDep,
    TenantPrincipal,
    require,
)
from orchestrator_service.integrations import service
from orchestrator_service.integrations.schemas import (
    CallbackIn,
    ConnectionStarted,
    IntegrationCreate,
    IntegrationOut,
)
from orchestrator_service.pagination import Page, page_of

router = APIRouter(prefix="/integrations", tags=["integrations"])
Reader = Annotated[TenantPrincipal, Depends(require("integrations:read"))]
Writer = Annotated[TenantPrincipal, Depends(require("integrations:write"))]
_PROVIDER_ERROR: dict[int | str, dict[str, Any]] = {
    502: {
        "description": "The provider's token endpoint could not be reached or refused",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}},
    }
}


@router.post("", status_code=status.HTTP_201_CREATED)
async def start_connection(
    data: IntegrationCreate,
    principal: Writer,
    actor: ActorDep,
    session: SessionDep,
    integrations: IntegrationsDep,
) -> ConnectionStarted:
    """Start connecting one of your accounts: send the user to `authorization_url`; the page
    at the configured redirect URI then posts what it receives to `/integrations/callback`."""
    integration, url, expires_at = await integrations.start(
        session,
        tenant_id=principal.tenant_id,
        user_id=principal.user_id,
        kind=data.kind,
        actor=actor,
    )
    return ConnectionStarted(
        integration=service.out(integration), authorization_url=url, expires_at=expires_at
    )


@router.post("/callback", responses=_PROVIDER_ERROR)
async def complete_connection(
    data: CallbackIn, principal: Writer, actor: ActorDep, integrations: IntegrationsDep
) -> IntegrationOut:
    """Finish a connection with the provider's `code` and `state` (the same user, once, before
    it expires); the tokens go to the vault and the first sync is queued."""
    integration = await integrations.complete(
        tenant_id=principal.tenant_id, user_id=principal.user_id, data=data, actor=actor
    )
    return service.out(integration)


@router.get("")
async def list_integrations(
    principal: Reader, session: SessionDep, page: Paging
) -> Page[IntegrationOut]:
    """Your integrations, with where each sync stands."""
    items, cursor = await service.list_integrations(
        session, tenant_id=principal.tenant_id, user_id=principal.user_id, page=page
    )
    return page_of(IntegrationOut, [service.out(i) for i in items], cursor)


@router.get("/{integration_id}")
async def get_integration(
    integration_id: uuid.UUID, principal: Reader, session: SessionDep
) -> IntegrationOut:
    """One of your integrations: status, sync status, progress and last error."""
    integration = await service.get_integration(
        session,
        tenant_id=principal.tenant_id,
        user_id=principal.user_id,
        integration_id=integration_id,
    )
    return service.out(integration)


@router.post("/{integration_id}/sync", status_code=status.HTTP_202_ACCEPTED)
async def sync_integration(
    integration_id: uuid.UUID,
    principal: Writer,
    session: SessionDep,
    integrations: IntegrationsDep,
) -> IntegrationOut:
    """Queue a sync of one of your connected integrations (one at a time per integration)."""
    integration = await integrations.request_sync(
        session,
        tenant_id=principal.tenant_id,
        user_id=principal.user_id,
        integration_id=integration_id,
    )
    return service.out(integration)


@router.delete("/{integration_id}", status_code=status.HTTP_204_NO_CONTENT)
async def revoke_integration(
    integration_id: uuid.UUID,
    principal: Writer,
    actor: ActorDep,
    session: SessionDep,
    integrations: IntegrationsDep,
) -> None:
    """Revoke one of your integrations: its tokens are deleted from the vault (what it synced
    stays yours)."""
    await integrations.revoke(
        session,
        tenant_id=principal.tenant_id,
        user_id=principal.user_id,
        integration_id=integration_id,
        actor=actor,
    )
