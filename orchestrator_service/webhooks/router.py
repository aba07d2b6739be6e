"""/api/v1/webhooks: tenants' endpoints for outbound events, and their delivery logs."""

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, status

from orchestrator_service.deps import (
    ActorDep,
    GuardDep,
    Paging,
    SessionDep,
    SettingsDep,
    TenantPrincipal,
    VaultDep,
    require,
)
from orchestrator_service.pagination import Page, page_of
from orchestrator_service.webhooks import service
from orchestrator_service.webhooks.events import EVENTS
from orchestrator_service.webhooks.schemas import (
    DeliveryDetail,
    DeliveryOut,
    EventOut,
    WebhookCreate,
    WebhookOut,
    WebhookUpdate,
    WebhookWithSecret,
)

router = APIRouter(prefix="/webhooks", tags=["webhooks"])
Reader = Annotated[TenantPrincipal, Depends(require("webhooks:read"))]
Writer = Annotated[TenantPrincipal, Depends(require("webhooks:write"))]


@router.get("/events")
async def list_events(principal: Reader) -> list[EventOut]:
    """The event types an endpoint can subscribe to."""
    return [EventOut(event=name, description=text) for name, text in EVENTS.items()]


@router.post("", status_code=status.HTTP_201_CREATED)
async def create_webhook(
    data: WebhookCreate,
    principal: Writer,
    actor: ActorDep,
    session: SessionDep,
    vault: VaultDep,
    guard: GuardDep,
) -> WebhookWithSecret:
    """Subscribe a URL to events. The answer holds the signing secret, shown this once; a
    URL on a private, loopback or metadata address is refused (422 `destination_blocked`)."""
    webhook, secret = await service.create_webhook(
        session, vault, guard, tenant_id=principal.tenant_id, data=data, actor=actor
    )
    return WebhookWithSecret(**WebhookOut.model_validate(webhook).model_dump(), secret=secret)


@router.get("")
async def list_webhooks(principal: Reader, session: SessionDep, page: Paging) -> Page[WebhookOut]:
    """The tenant's endpoints."""
    rows, cursor = await service.list_webhooks(session, tenant_id=principal.tenant_id, page=page)
    return page_of(WebhookOut, rows, cursor)


@router.get("/{webhook_id}")
async def get_webhook(webhook_id: uuid.UUID, principal: Reader, session: SessionDep) -> WebhookOut:
    """One endpoint."""
    webhook = await service.get_webhook(
        session, tenant_id=principal.tenant_id, webhook_id=webhook_id
    )
    return WebhookOut.model_validate(webhook)


@router.patch("/{webhook_id}")
async def update_webhook(
    webhook_id: uuid.UUID,
    data: WebhookUpdate,
    principal: Writer,
    actor: ActorDep,
    session: SessionDep,
    guard: GuardDep,
) -> WebhookOut:
    """Change an endpoint's URL, events or description, or disable or re-enable it."""
    webhook = await service.update_webhook(
        session,
        guard,
        tenant_id=principal.tenant_id,
        webhook_id=webhook_id,
        data=data,
        actor=actor,
    )
    return WebhookOut.model_validate(webhook)


@router.delete("/{webhook_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_webhook(
    webhook_id: uuid.UUID, principal: Writer, actor: ActorDep, session: SessionDep
) -> None:
    """Delete an endpoint, its delivery log and its signing secrets."""
    await service.delete_webhook(
        session, tenant_id=principal.tenant_id, webhook_id=webhook_id, actor=actor
    )


@router.post("/{webhook_id}/rotate-secret")
async def rotate_secret(
    webhook_id: uuid.UUID,
    principal: Writer,
    actor: ActorDep,
    session: SessionDep,
    vault: VaultDep,
    settings: SettingsDep,
) -> WebhookWithSecret:
    """A new signing secret, shown this once; until `previous_secret_expires_at` deliveries
    carry a signature with the old secret too."""
    webhook, secret = await service.rotate_secret(
        session,
        vault,
        tenant_id=principal.tenant_id,
        webhook_id=webhook_id,
        grace_seconds=settings.webhook_secret_grace_seconds,
        actor=actor,
    )
    return WebhookWithSecret(**WebhookOut.model_validate(webhook).model_dump(), secret=secret)


@router.get("/{webhook_id}/deliveries")
async def list_deliveries(
    webhook_id: uuid.UUID,
    principal: Reader,
    session: SessionDep,
    page: Paging,
    status: Literal["pending", "succeeded", "failed", "skipped"] | None = None,
) -> Page[DeliveryOut]:
    """An endpoint's delivery log, newest first."""
    rows, cursor = await service.list_deliveries(
        session, tenant_id=principal.tenant_id, webhook_id=webhook_id, page=page, status=status
    )
    return page_of(DeliveryOut, rows, cursor)


@router.get("/{webhook_id}/deliveries/{delivery_id}")
async def get_delivery(
    webhook_id: uuid.UUID, delivery_id: uuid.UUID, principal: Reader, session: SessionDep
) -> DeliveryDetail:
    """One delivery: its message and every try."""
    return await service.get_delivery(
        session, tenant_id=principal.tenant_id, webhook_id=webhook_id, delivery_id=delivery_id
    )


@router.post(
    "/{webhook_id}/deliveries/{delivery_id}/redeliver", status_code=status.HTTP_202_ACCEPTED
)
async def redeliver(
    webhook_id: uuid.UUID,
    delivery_id: uuid.UUID,
    principal: Writer,
    actor: ActorDep,
    session: SessionDep,
) -> DeliveryOut:
    """Send a finished delivery again, with the same message id (one more try)."""
    delivery = await service.redeliver(
        session,
        tenant_id=principal.tenant_id,
        webhook_id=webhook_id,
        delivery_id=delivery_id,
        actor=actor,
    )
    return DeliveryOut.model_validate(delivery)
