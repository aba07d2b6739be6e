"""The /api/v1 router: every route behind authentication, except the few listed public."""

from fastapi import APIRouter, Depends

from orchestrator_service.agents.router import router as agents_router
from orchestrator_service.audit.router import router as audit_router
from orchestrator_service.auth.router import public_router as auth_public_router
from orchestrator_service.auth.router import router as auth_router
from orchestrator_service.business_assets.router import router as business_assets_router
from orchestrator_service.conversations.router import router as conversations_router
from orchestrator_service.credentials.router import router as credentials_router
from orchestrator_service.deps import current_principal
from orchestrator_service.executions.router import router as executions_router
from orchestrator_service.rag.router import router as rag_router
from orchestrator_service.tenants.router import router as tenants_router
from orchestrator_service.tools.router import router as tools_router
from orchestrator_service.users.router import router as users_router

PREFIX = "/api/v1"
PUBLIC_ROUTES = frozenset({("POST", f"{PREFIX}/auth/login")})


def api_router() -> APIRouter:
    """All API routes; authentication is required by construction, not per route."""
    api = APIRouter(prefix=PREFIX)
    api.include_router(auth_public_router)
    protected = APIRouter(dependencies=[Depends(current_principal)])
    for router in (
        auth_router,
        tenants_router,
        users_router,
        audit_router,
        credentials_router,
        agents_router,
        tools_router,
        business_assets_router,
        rag_router,
        conversations_router,
        executions_router,
    ):
        protected.include_router(router)
    api.include_router(protected)
    return api
