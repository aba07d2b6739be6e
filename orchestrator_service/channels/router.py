"""`/channels` (the tenant's channel connections) and `/webhooks/meta/{connection_id}` (Meta's
webhook callback: public, authenticated by the verify token and the delivery signature)."""

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, status
from fastapi.responses import PlainTextResponse

from orchestrator_service.channels import service
from orchestrator_service.channels.meta import SIGNATURE_HEADER
from orchestrator_service.channels.schemas import ConnectionCreate, ConnectionOut, WebhookAck
from orchestrator_service.deps import (
    ActorDep,
    ChannelsDep,
    Paging,
    SessionDep,
    TenantPrincipal,
    require,
)
from orchestrator_service.pagination import Page, page_of

router = APIRouter(prefix="/channels", tags=["channels"])
Reader = Annotated[TenantPrincipal, Depends(require("agents:read"))]
Writer = Annotated[TenantPrincipal, Depends(require("agents:write"))]


@router.post("", status_code=status.HTTP_201_CREATED)
async def create_connection(
    data: ConnectionCreate,
    principal: Writer,
    actor: ActorDep,
    session: SessionDep,
) -> ConnectionOut:
    """Connect a WhatsApp number, Facebook page or Instagram account to an agent that lists
    the channel; give Meta the returned `webhook_path` as the callback."""
    connection = await service.create_connection(
        session, tenant_id=principal.tenant_id, data=data, actor=actor
    )
    return service.out(connection)


@router.get("")
async def list_connections(
    principal: Reader, session: SessionDep, page: Paging
) -> Page[ConnectionOut]:
    """The tenant's channel connections."""
    items, cursor = await service.list_connections(
        session, tenant_id=principal.tenant_id, page=page
    )
    return page_of(ConnectionOut, [service.out(c) for c in items], cursor)


@router.get("/{connection_id}")
async def get_connection(
    connection_id: uuid.UUID, principal: Reader, session: SessionDep
) -> ConnectionOut:
    """One channel connection."""
    connection = await service.get_connection(
        session, tenant_id=principal.tenant_id, connection_id=connection_id
    )
    return service.out(connection)


@router.delete("/{connection_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_connection(
    connection_id: uuid.UUID, principal: Writer, actor: ActorDep, session: SessionDep
) -> None:
    """Disconnect a channel account."""
    await service.delete_connection(
        session, tenant_id=principal.tenant_id, connection_id=connection_id, actor=actor
    )


# Stated as JSON: the verification's own answer is text, its errors are not.
_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}},
    }
    for code, description in (
        (403, "Wrong verify token or signature, or unusable credentials"),
        (404, "No such connection"),
        (413, "The body is too large"),
        (422, "Invalid input"),
    )
}
webhooks = APIRouter(prefix=service.WEBHOOK_PREFIX, tags=["channels"], responses=_ERRORS)


@webhooks.get("/{connection_id}", response_class=PlainTextResponse)
async def verify_webhook(
    connection_id: uuid.UUID,
    channels: ChannelsDep,
    mode: Annotated[str, Query(alias="hub.mode", max_length=50)],
    token: Annotated[str, Query(alias="hub.verify_token", max_length=500)],
    challenge: Annotated[str, Query(alias="hub.challenge", max_length=500)],
) -> str:
    """Meta's webhook verification: `hub.challenge` back when the verify token matches."""
    return await channels.verify(connection_id, mode=mode, token=token, challenge=challenge)


@webhooks.post("/{connection_id}")
async def receive_webhook(
    connection_id: uuid.UUID, request: Request, channels: ChannelsDep
) -> WebhookAck:
    """A signed delivery (`X-Hub-Signature-256`): messages and statuses, each processed once."""
    body = await request.body()
    received = await channels.receive(
        connection_id, body=body, signature=request.headers.get(SIGNATURE_HEADER)
    )
    return WebhookAck(received=received)
