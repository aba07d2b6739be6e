"""/api/v1/private-objects: an admin lists and deletes the tenant's private rows, never
reading them."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, status

from orchestrator_service.deps import ActorDep, Paging, SessionDep, TenantPrincipal, require
from orchestrator_service.pagination import Page, page_of
from orchestrator_service.privacy import service
from orchestrator_service.privacy.schemas import PrivateObjectOut

router = APIRouter(prefix="/private-objects", tags=["privacy"])
# Managing other users' data is an admin's: the admin-only users:write permission.
Admin = Annotated[TenantPrincipal, Depends(require("users:write"))]
Kind = Annotated[str, Path(min_length=1, max_length=63, description="A table, e.g. agents")]


@router.get("")
async def list_private_objects(
    principal: Admin,
    session: SessionDep,
    page: Paging,
    kind: Annotated[
        str | None, Query(max_length=63, description="One table, e.g. chat_conversations")
    ] = None,
    owner_user_id: uuid.UUID | None = None,
) -> Page[PrivateObjectOut]:
    """The tenant's private objects (of every user), newest first: kind, id, owner,
    visibility and creation time, never their content."""
    items, cursor = await service.list_private(
        session, tenant_id=principal.tenant_id, page=page, kind=kind, owner_user_id=owner_user_id
    )
    return page_of(PrivateObjectOut, items, cursor)


@router.delete("/{kind}/{object_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_private_object(
    kind: Kind,
    object_id: Annotated[str, Path(min_length=1, max_length=64)],
    principal: Admin,
    actor: ActorDep,
    session: SessionDep,
) -> None:
    """Delete another user's private object without reading it (recorded in the audit log)."""
    await service.delete_private(
        session, tenant_id=principal.tenant_id, kind=kind, object_id=object_id, actor=actor
    )
