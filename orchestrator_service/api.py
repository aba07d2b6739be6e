"""The /api/v1 router: every route behind authentication, except the few listed public."""

import json
from functools import cache

from fastapi import APIRouter, Depends, FastAPI

from orchestrator_service.agent_network.router import router as agent_network_router
from orchestrator_service.agents.router import router as agents_router
from orchestrator_service.audit.router import router as audit_router
from orchestrator_service.auth.router import public_router as auth_public_router
from orchestrator_service.auth.router import router as auth_router
from orchestrator_service.business_assets.router import router as business_assets_router
from orchestrator_service.calendar.router import router as calendar_router
from orchestrator_service.catalogue.router import router as catalogue_router
from orchestrator_service.channels.router import router as channels_router
from orchestrator_service.channels.router import webhooks as channel_webhooks
from orchestrator_service.conversations.router import router as conversations_router
from orchestrator_service.credentials.router import router as credentials_router
from orchestrator_service.deps import current_principal
from orchestrator_service.error_log.router import router as error_log_router
from orchestrator_service.executions.router import router as executions_router
from orchestrator_service.files.router import conversation_files
from orchestrator_service.files.router import router as files_router
from orchestrator_service.http import ErrorBody
from orchestrator_service.integrations.router import router as integrations_router
from orchestrator_service.live.router import router as live_router
from orchestrator_service.mail.router import router as mail_router
from orchestrator_service.notes.router import router as notes_router
from orchestrator_service.openai_api.router import router as openai_routes
from orchestrator_service.privacy.router import router as privacy_router
from orchestrator_service.rag.router import router as rag_router
from orchestrator_service.system_config.router import router as system_config_router
from orchestrator_service.tasks.router import router as tasks_router
from orchestrator_service.tenants.router import router as tenants_router
from orchestrator_service.tools.router import executions_router as tool_executions_router
from orchestrator_service.tools.router import router as tools_router
from orchestrator_service.usage.router import router as usage_router
from orchestrator_service.users.router import router as users_router
from orchestrator_service.webhooks.router import router as webhooks_router

PREFIX = "/api/v1"
PUBLIC_ROUTES = frozenset({("POST", f"{PREFIX}/auth/login")})


# The router tries routes in this order, every route of one domain before the next domain's
# (knowledge search was 13th: about 0.8 ms of matching per request), so the paths agent
# runtimes call most come first. No two domains answer the same path
# (tests/test_api_routes.py), so the order never changes which route answers.
DOMAIN_ROUTERS = (
    rag_router,
    tools_router,
    tool_executions_router,
    agents_router,
    conversations_router,
    auth_router,
    tenants_router,
    system_config_router,
    users_router,
    audit_router,
    credentials_router,
    agent_network_router,
    business_assets_router,
    channels_router,
    executions_router,
    privacy_router,
    integrations_router,
    notes_router,
    calendar_router,
    mail_router,
    live_router,
    webhooks_router,
    error_log_router,
    tasks_router,
    files_router,
    conversation_files,
    catalogue_router,
    usage_router,
)


@cache
def api_router() -> APIRouter:
    """All API routes; authentication is required by construction, not per route."""
    api = APIRouter(prefix=PREFIX)
    api.include_router(auth_public_router)
    protected = APIRouter(dependencies=[Depends(current_principal)])
    for router in DOMAIN_ROUTERS:
        protected.include_router(router)
    api.include_router(protected)
    return api


@cache
def webhook_router() -> APIRouter:
    """Providers' webhook callbacks: public, each authenticated by its own provider's scheme
    (Meta: the verify token and the delivery signature)."""
    hooks = APIRouter()
    hooks.include_router(channel_webhooks)
    return hooks


@cache
def openai_router() -> APIRouter:
    """The OpenAI-compatible door (`/v1`), behind the same authentication."""
    door = APIRouter(dependencies=[Depends(current_principal)])
    door.include_router(openai_routes)
    return door


def _error(description: str) -> dict:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}},
    }


def document_errors(schema: dict) -> None:
    """Document, on every API operation of an OpenAPI schema, the error responses the
    conventions give it, all with the one error body: 401 and 403 behind authentication, 404
    where the path or the body names an object, 409 on writes, 400 and 413 where there is a
    body, 422 (FastAPI's own validation schema replaced) where there is any input. What a
    route declares itself (its domain's 5xx, say) is kept."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    body = ErrorBody.model_json_schema(ref_template="#/components/schemas/{model}")
    components.update(body.pop("$defs", {}))
    components["ErrorBody"] = body
    for path, operations in schema.get("paths", {}).items():
        if not path.startswith(PREFIX):
            continue
        for method, operation in operations.items():
            public = (method.upper(), path) in PUBLIC_ROUTES
            has_body = "requestBody" in operation
            errors: dict[str, dict] = {}
            if public:
                errors["401"] = _error("Wrong credentials")
            else:
                errors["401"] = _error("Missing, unknown, expired or revoked key or session")
                errors["403"] = _error("The key's role or scopes do not allow this")
            if "{" in path or (has_body and not public):
                errors["404"] = _error("An object the path or body names is not in the tenant")
            if not public and method in ("post", "put", "patch", "delete"):
                errors["409"] = _error("Conflicts with the current state (a duplicate, say)")
            if has_body:
                errors["400"] = _error("The body could not be parsed")
                errors["413"] = _error("The body is too large")
            if has_body or operation.get("parameters"):
                errors["422"] = _error("Invalid input; `details` lists what and where")
            responses = operation.setdefault("responses", {})
            responses.pop("422", None)  # FastAPI's HTTPValidationError: not our body
            operation["responses"] = dict(sorted({**errors, **responses}.items()))
    for unused in ("HTTPValidationError", "ValidationError"):
        if f'"#/components/schemas/{unused}"' not in json.dumps(schema["paths"]):
            components.pop(unused, None)


def declare_security(schema: dict) -> None:
    """Declare the bearer scheme (an API key or a session token) and require it on every
    operation behind authentication, so the docs' "Authorize" sends it."""
    schemes = schema.setdefault("components", {}).setdefault("securitySchemes", {})
    schemes["ApiKey"] = {
        "type": "http",
        "scheme": "bearer",
        "description": "An API key, or a session token from `POST /api/v1/auth/login`",
    }
    for path, operations in schema.get("paths", {}).items():
        if not path.startswith(PREFIX):
            continue
        for method, operation in operations.items():
            if (method.upper(), path) not in PUBLIC_ROUTES:
                operation["security"] = [{"ApiKey": []}]


def install_error_docs(app: FastAPI) -> None:
    """Make `app.openapi()` document the error responses (see `document_errors`) and the
    bearer security scheme (see `declare_security`)."""
    generate = app.openapi

    def openapi() -> dict:
        if app.openapi_schema is None:
            schema = generate()
            document_errors(schema)
            declare_security(schema)
        return app.openapi_schema or generate()

    app.openapi = openapi  # type: ignore[method-assign]
