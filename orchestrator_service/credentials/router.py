"""/api/v1/credentials: write-only secrets. Tenant keys manage the tenant's credentials;
platform-admin keys manage the global ones."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, status

from orchestrator_service.credentials import service
from orchestrator_service.credentials.schemas import (
    Category,
    CredentialCreate,
    CredentialOut,
    CredentialStatus,
    CredentialUpdate,
)
from orchestrator_service.deps import (
    ActorDep,
    Paging,
    PrincipalDep,
    SessionDep,
    VaultDep,
    tenant_or_global,
)
from orchestrator_service.pagination import Page, page_of

router = APIRouter(prefix="/credentials", tags=["credentials"])


Reader = Annotated[int | None, Depends(tenant_or_global("credentials:read"))]
Writer = Annotated[int | None, Depends(tenant_or_global("credentials:write"))]


@router.post("", status_code=status.HTTP_201_CREATED)
async def create_credential(
    data: CredentialCreate,
    owner: Writer,
    principal: PrincipalDep,
    vault: VaultDep,
    actor: ActorDep,
    session: SessionDep,
) -> CredentialOut:
    """Store a secret, encrypted; the response never contains it. Hosts beyond the category's
    provider are an admin's decision (403 `destination_approval_required` otherwise)."""
    credential = await service.create_credential(
        session,
        vault,
        owner=owner,
        data=data,
        actor=actor,
        approver=principal.approves_destinations,
    )
    return CredentialOut.model_validate(credential)


@router.get("")
async def list_credentials(
    owner: Reader,
    session: SessionDep,
    page: Paging,
    status: CredentialStatus | None = None,
    category: Category | None = None,
) -> Page[CredentialOut]:
    """List credentials (metadata only); `status=needs_reentry` lists those to enter again."""
    rows, cursor = await service.list_credentials(
        session, owner=owner, page=page, status=status, category=category
    )
    return page_of(CredentialOut, rows, cursor)


@router.get("/{credential_id}")
async def get_credential(
    credential_id: uuid.UUID, owner: Reader, session: SessionDep
) -> CredentialOut:
    """Show one credential's metadata."""
    credential = await service.get_credential(session, owner=owner, credential_id=credential_id)
    return CredentialOut.model_validate(credential)


@router.patch("/{credential_id}")
async def update_credential(
    credential_id: uuid.UUID,
    data: CredentialUpdate,
    owner: Writer,
    principal: PrincipalDep,
    vault: VaultDep,
    actor: ActorDep,
    session: SessionDep,
) -> CredentialOut:
    """Change a credential; sending the hint or the placeholder back keeps the secret.
    Widening where it may be sent is an admin's decision (403 otherwise)."""
    credential = await service.update_credential(
        session,
        vault,
        owner=owner,
        credential_id=credential_id,
        data=data,
        actor=actor,
        approver=principal.approves_destinations,
    )
    return CredentialOut.model_validate(credential)


@router.delete("/{credential_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_credential(
    credential_id: uuid.UUID, owner: Writer, actor: ActorDep, session: SessionDep
) -> None:
    """Delete a credential."""
    await service.delete_credential(session, owner=owner, credential_id=credential_id, actor=actor)
