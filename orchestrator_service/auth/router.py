"""/api/v1/auth, /api/v1/me and /api/v1/api-keys."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, status

from orchestrator_service.auth import service
from orchestrator_service.auth.schemas import (
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyOut,
    LoginRequest,
    LoginResponse,
    MeOut,
    PasswordChange,
    PasswordChanged,
    ProfileUpdate,
)
from orchestrator_service.deps import (
    ActorDep,
    LoginThrottleDep,
    Paging,
    PasswordsDep,
    PrincipalDep,
    RequestInfo,
    SessionDep,
    SessionmakerDep,
    TenantPrincipal,
    require,
)
from orchestrator_service.pagination import Page, page_of
from orchestrator_service.users.schemas import UserOut

public_router = APIRouter(prefix="/auth", tags=["auth"])
router = APIRouter(tags=["auth"])
KeyReader = Annotated[TenantPrincipal, Depends(require("api_keys:read"))]
KeyWriter = Annotated[TenantPrincipal, Depends(require("api_keys:write"))]


@public_router.post("/login")
async def login(
    data: LoginRequest,
    origin: RequestInfo,
    session: SessionDep,
    sessionmaker: SessionmakerDep,
    passwords: PasswordsDep,
    throttle: LoginThrottleDep,
) -> LoginResponse:
    """Exchange email and password for a session token. Failed attempts are throttled per
    account and per client address (429 with `Retry-After`), alike for unknown emails."""
    token, expires_at = await service.login(
        session,
        sessionmaker,
        passwords=passwords,
        throttle=throttle,
        email=data.email,
        password=data.password,
        request_info=origin,
    )
    return LoginResponse(token=token, expires_at=expires_at)


@router.post("/auth/logout", status_code=status.HTTP_204_NO_CONTENT)
async def logout(principal: PrincipalDep, actor: ActorDep, session: SessionDep) -> None:
    """End the current session."""
    await service.logout(session, principal=principal, actor=actor)


@router.get("/me")
async def me(principal: PrincipalDep, session: SessionDep) -> MeOut:
    """Who the caller is: tenant, user, key, role and scopes."""
    return await service.describe(session, principal=principal)


@router.patch("/me")
async def update_me(
    data: ProfileUpdate, principal: PrincipalDep, actor: ActorDep, session: SessionDep
) -> UserOut:
    """Change your own profile (name, username, avatar, time zone, settings). 403 for a key
    acting for no user."""
    user = await service.update_profile(session, principal=principal, data=data, actor=actor)
    return UserOut.model_validate(user)


@router.post("/me/password")
async def change_my_password(
    data: PasswordChange,
    principal: PrincipalDep,
    actor: ActorDep,
    origin: RequestInfo,
    session: SessionDep,
    passwords: PasswordsDep,
    throttle: LoginThrottleDep,
) -> PasswordChanged:
    """Change your own password with the current one (403 `wrong_password` when it is wrong,
    throttled like logins; 422 when the new one is weak). Your other sessions end; the answer
    says how many."""
    return await service.change_password(
        session,
        principal=principal,
        data=data,
        actor=actor,
        passwords=passwords,
        throttle=throttle,
        request_info=origin,
    )


@router.post("/api-keys", status_code=status.HTTP_201_CREATED)
async def create_key(
    data: ApiKeyCreate, principal: KeyWriter, actor: ActorDep, session: SessionDep
) -> ApiKeyCreated:
    """Create an API key; the response carries the key itself, this one time only."""
    key, plaintext = await service.create_key(session, principal=principal, data=data, actor=actor)
    return ApiKeyCreated(**ApiKeyOut.model_validate(key).model_dump(), api_key=plaintext)


@router.get("/api-keys")
async def list_keys(principal: KeyReader, session: SessionDep, page: Paging) -> Page[ApiKeyOut]:
    """List the tenant's keys: prefix and metadata, never the key."""
    keys, cursor = await service.list_keys(session, tenant_id=principal.tenant_id, page=page)
    return page_of(ApiKeyOut, keys, cursor)


@router.get("/api-keys/{key_id}")
async def get_key(key_id: uuid.UUID, principal: KeyReader, session: SessionDep) -> ApiKeyOut:
    """Show one key's metadata."""
    key = await service.get_key(session, tenant_id=principal.tenant_id, key_id=key_id)
    return ApiKeyOut.model_validate(key)


@router.delete("/api-keys/{key_id}", status_code=status.HTTP_204_NO_CONTENT)
async def revoke_key(
    key_id: uuid.UUID, principal: KeyWriter, actor: ActorDep, session: SessionDep
) -> None:
    """Revoke a key; it stops working at once."""
    await service.revoke_key(session, tenant_id=principal.tenant_id, key_id=key_id, actor=actor)
