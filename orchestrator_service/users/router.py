"""/api/v1/users."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, status

from orchestrator_service.deps import (
    ActorDep,
    Paging,
    PasswordsDep,
    SessionDep,
    TenantPrincipal,
    require,
)
from orchestrator_service.pagination import Page, page_of
from orchestrator_service.users import service
from orchestrator_service.users.schemas import UserCreate, UserOut, UserUpdate

router = APIRouter(prefix="/users", tags=["users"])
Reader = Annotated[TenantPrincipal, Depends(require("users:read"))]
Writer = Annotated[TenantPrincipal, Depends(require("users:write"))]


@router.post("", status_code=status.HTTP_201_CREATED)
async def create_user(
    data: UserCreate,
    principal: Writer,
    actor: ActorDep,
    session: SessionDep,
    passwords: PasswordsDep,
) -> UserOut:
    """Create a user in the caller's tenant."""
    user = await service.create_user(
        session, tenant_id=principal.tenant_id, data=data, actor=actor, passwords=passwords
    )
    return UserOut.model_validate(user)


@router.get("")
async def list_users(principal: Reader, session: SessionDep, page: Paging) -> Page[UserOut]:
    """List the tenant's users."""
    users, cursor = await service.list_users(session, tenant_id=principal.tenant_id, page=page)
    return page_of(UserOut, users, cursor)


@router.get("/{user_id}")
async def get_user(user_id: uuid.UUID, principal: Reader, session: SessionDep) -> UserOut:
    """Show one user."""
    user = await service.get_user(session, tenant_id=principal.tenant_id, user_id=user_id)
    return UserOut.model_validate(user)


@router.patch("/{user_id}")
async def update_user(
    user_id: uuid.UUID,
    data: UserUpdate,
    principal: Writer,
    actor: ActorDep,
    session: SessionDep,
    passwords: PasswordsDep,
) -> UserOut:
    """Change a user (role, active flag, profile, password). A password change ends the
    user's other sessions; disabling the user ends all of them."""
    user = await service.update_user(
        session,
        tenant_id=principal.tenant_id,
        user_id=user_id,
        data=data,
        actor=actor,
        passwords=passwords,
        current_session=principal.session_id,
    )
    return UserOut.model_validate(user)


@router.delete("/{user_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_user(
    user_id: uuid.UUID, principal: Writer, actor: ActorDep, session: SessionDep
) -> None:
    """Delete a user with their keys and sessions."""
    await service.delete_user(session, tenant_id=principal.tenant_id, user_id=user_id, actor=actor)
