"""Tenants' webhook endpoints: subscribe, change, rotate the signing secret, read the
delivery log, redeliver. Signing secrets are vault credentials; this module seals them and
never stores or returns them otherwise (only once, to the caller that made them)."""

import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from pydantic import SecretStr
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from orchestrator_service.audit.service import Actor
from orchestrator_service.credentials.models import Credential
from orchestrator_service.credentials.schemas import CredentialCreate
from orchestrator_service.credentials.service import create_credential
from orchestrator_service.credentials.vault import Vault
from orchestrator_service.db.repository import AuditedRepository
from orchestrator_service.db.tenancy import get_scoped, scoped
from orchestrator_service.errors import Conflict, NotFound
from orchestrator_service.jobs.queue import enqueue_delivery
from orchestrator_service.pagination import PageParams, paginate
from orchestrator_service.tools.ssrf import BlockedDestination, Guard, literal_address
from orchestrator_service.webhooks import signing
from orchestrator_service.webhooks.delivery import previous_credential, signing_credential
from orchestrator_service.webhooks.models import Webhook, WebhookAttempt, WebhookDelivery
from orchestrator_service.webhooks.schemas import (
    AttemptOut,
    DeliveryDetail,
    DeliveryOut,
    WebhookCreate,
    WebhookUpdate,
)

MAX_ENDPOINTS = 50


class Webhooks(AuditedRepository[Webhook]):
    """A tenant's webhook endpoints."""

    model = Webhook
    resource_type = "webhook"
    what = "Webhook"
    audited = ("url", "events", "description", "is_active", "disabled_reason")


async def _vet(guard: Guard, url: str) -> None:
    """Refuse, before saving it, a URL naming a private, loopback, link-local or metadata
    address (or `localhost`). Host names are not resolved here (no DNS lookup in a request):
    deliveries check every address at every connection."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if host == "localhost" or host.endswith(".localhost"):
        raise BlockedDestination(host)
    if literal_address(host) is None:
        return
    await guard.vet(host, parts.port or (443 if parts.scheme == "https" else 80))


async def _seal(
    session: AsyncSession, vault: Vault, *, tenant_id: int, name: str, secret: str, actor: Actor
) -> None:
    """Store `secret` as the tenant's vault credential `name` (created, or its value
    replaced). Category `general` with no allowed hosts: it can be sent nowhere, only used
    inside the service to sign."""
    credential = await session.scalar(
        select(Credential).where(Credential.tenant_id == tenant_id, Credential.name == name)
    )
    if credential is None:
        await create_credential(
            session,
            vault,
            owner=tenant_id,
            data=CredentialCreate(name=name, value=SecretStr(secret)),
            actor=actor,
            approver=False,
        )
        return
    vault.seal(credential, secret, await vault.current_data_key(session, tenant_id), new_value=True)
    credential.updated_at = datetime.now(UTC)


async def create_webhook(
    session: AsyncSession,
    vault: Vault,
    guard: Guard,
    *,
    tenant_id: int,
    data: WebhookCreate,
    actor: Actor,
) -> tuple[Webhook, str]:
    """Subscribe a URL; the endpoint and its new signing secret (to show once)."""
    await _vet(guard, data.url)
    count = await session.scalar(
        select(Webhook.id).where(Webhook.tenant_id == tenant_id).offset(MAX_ENDPOINTS - 1).limit(1)
    )
    if count is not None:
        raise Conflict(f"A tenant may have at most {MAX_ENDPOINTS} webhook endpoints")
    webhook = Webhook(
        id=uuid.uuid4(),
        tenant_id=tenant_id,
        user_id=actor.user_id,
        url=data.url,
        events=data.events,
        description=data.description,
        is_active=True,
        consecutive_failures=0,
    )
    webhook = await Webhooks(session, owner=tenant_id).create(webhook, actor=actor)
    secret = signing.new_secret()
    name = signing_credential(webhook.id)
    await _seal(session, vault, tenant_id=tenant_id, name=name, secret=secret, actor=actor)
    return webhook, secret


async def list_webhooks(
    session: AsyncSession, *, tenant_id: int, page: PageParams
) -> tuple[list[Webhook], str | None]:
    """The tenant's endpoints, newest first."""
    return await Webhooks(session, owner=tenant_id).page(page)


async def get_webhook(session: AsyncSession, *, tenant_id: int, webhook_id: uuid.UUID) -> Webhook:
    """One of the tenant's endpoints, or 404."""
    return await Webhooks(session, owner=tenant_id).get(webhook_id)


async def update_webhook(
    session: AsyncSession,
    guard: Guard,
    *,
    tenant_id: int,
    webhook_id: uuid.UUID,
    data: WebhookUpdate,
    actor: Actor,
) -> Webhook:
    """Change an endpoint; re-enabling it starts its failure count over."""
    webhooks = Webhooks(session, owner=tenant_id)
    webhook = await webhooks.get(webhook_id)
    if data.url is not None:
        await _vet(guard, data.url)
    async with webhooks.changing(webhook, actor=actor):
        for field in ("url", "events", "description"):
            if field in data.model_fields_set:
                setattr(webhook, field, getattr(data, field))
        if data.is_active is not None and data.is_active != webhook.is_active:
            webhook.is_active = data.is_active
            webhook.disabled_reason = None if data.is_active else "manual"
            webhook.consecutive_failures = 0
    return webhook


async def delete_webhook(
    session: AsyncSession, *, tenant_id: int, webhook_id: uuid.UUID, actor: Actor
) -> None:
    """Delete an endpoint, its delivery log and its signing secrets."""
    webhooks = Webhooks(session, owner=tenant_id)
    webhook = await webhooks.get(webhook_id)
    await session.execute(
        delete(Credential).where(
            Credential.tenant_id == tenant_id,
            Credential.name.in_([signing_credential(webhook.id), previous_credential(webhook.id)]),
        )
    )
    await webhooks.delete(webhook, actor=actor)


async def rotate_secret(
    session: AsyncSession,
    vault: Vault,
    *,
    tenant_id: int,
    webhook_id: uuid.UUID,
    grace_seconds: float,
    actor: Actor,
) -> tuple[Webhook, str]:
    """A new signing secret (to show once); the old one keeps signing beside it for the
    grace period, so receivers can switch without dropping a delivery."""
    webhooks = Webhooks(session, owner=tenant_id)
    webhook = await webhooks.get(webhook_id)
    current = await session.scalar(
        select(Credential).where(
            Credential.tenant_id == tenant_id,
            Credential.name == signing_credential(webhook.id),
        )
    )
    secret = signing.new_secret()
    async with webhooks.changing(webhook, actor=actor, noted={"secret": "rotated"}):
        if current is not None and current.status == "ok" and grace_seconds > 0:
            old = vault.open(current, await vault.data_key_of(session, current))
            await _seal(
                session,
                vault,
                tenant_id=tenant_id,
                name=previous_credential(webhook.id),
                secret=old,
                actor=actor,
            )
            webhook.previous_secret_expires_at = datetime.now(UTC) + timedelta(
                seconds=grace_seconds
            )
        else:
            webhook.previous_secret_expires_at = None
        await _seal(
            session,
            vault,
            tenant_id=tenant_id,
            name=signing_credential(webhook.id),
            secret=secret,
            actor=actor,
        )
    return webhook, secret


async def list_deliveries(
    session: AsyncSession,
    *,
    tenant_id: int,
    webhook_id: uuid.UUID,
    page: PageParams,
    status: str | None = None,
) -> tuple[list[WebhookDelivery], str | None]:
    """An endpoint's delivery log, newest first."""
    webhook = await get_webhook(session, tenant_id=tenant_id, webhook_id=webhook_id)
    stmt = scoped(WebhookDelivery, tenant_id).where(WebhookDelivery.webhook_id == webhook.id)
    if status is not None:
        stmt = stmt.where(WebhookDelivery.status == status)
    return await paginate(session, stmt, WebhookDelivery, page)


async def _delivery(
    session: AsyncSession, tenant_id: int, webhook_id: uuid.UUID, delivery_id: uuid.UUID
) -> WebhookDelivery:
    delivery = await get_scoped(session, WebhookDelivery, tenant_id, delivery_id, what="Delivery")
    if delivery.webhook_id != webhook_id:
        raise NotFound("Delivery not found")
    return delivery


async def get_delivery(
    session: AsyncSession, *, tenant_id: int, webhook_id: uuid.UUID, delivery_id: uuid.UUID
) -> DeliveryDetail:
    """One delivery, its message and every try."""
    delivery = await _delivery(session, tenant_id, webhook_id, delivery_id)
    attempts = await session.scalars(
        select(WebhookAttempt)
        .where(WebhookAttempt.delivery_id == delivery.id, WebhookAttempt.tenant_id == tenant_id)
        .order_by(WebhookAttempt.attempt)
    )
    return DeliveryDetail(
        **DeliveryOut.model_validate(delivery).model_dump(),
        payload=delivery.payload,
        attempts_log=[AttemptOut.model_validate(a) for a in attempts],
    )


async def redeliver(
    session: AsyncSession,
    *,
    tenant_id: int,
    webhook_id: uuid.UUID,
    delivery_id: uuid.UUID,
    actor: Actor,
) -> WebhookDelivery:
    """Send a finished delivery again (same message id, so receivers can deduplicate); the
    endpoint must be active."""
    webhook = await get_webhook(session, tenant_id=tenant_id, webhook_id=webhook_id)
    delivery = await _delivery(session, tenant_id, webhook.id, delivery_id)
    if not webhook.is_active:
        raise Conflict("The endpoint is disabled: enable it (PATCH is_active) to redeliver")
    if delivery.status == "pending":
        raise Conflict("This delivery is still pending: it will be tried again on its own")
    delivery.status, delivery.next_attempt_at = "pending", datetime.now(UTC)
    await session.flush()
    await actor.record_change(
        session,
        action="redeliver",
        resource_type="webhook_delivery",
        resource_id=delivery.id,
        tenant_id=tenant_id,
    )
    await enqueue_delivery(session, str(delivery.id))
    return delivery
