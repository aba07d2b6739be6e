"""The FastAPI application: `create_app()` and a lifespan that heals before serving."""

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from orchestrator_service import __version__, health
from orchestrator_service.config import Settings, get_settings
from orchestrator_service.db.runtime import Runtime, boot
from orchestrator_service.errors import OrchestratorError

log = logging.getLogger(__name__)


def error_body(code: str, message: str, details: object = None) -> dict:
    """The one error body every error response uses."""
    return {"error": {"code": code, "message": message, "details": details}}


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(OrchestratorError)
    async def domain_error(_: Request, exc: OrchestratorError) -> JSONResponse:
        return JSONResponse(
            error_body(exc.code, exc.message, exc.details), status_code=exc.status_code
        )

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        details = [
            {"loc": list(e.get("loc", ())), "msg": e.get("msg"), "type": e.get("type")}
            for e in exc.errors()
        ]
        return JSONResponse(
            error_body("validation_error", "The request is not valid", details), status_code=422
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse(
            error_body(f"http_{exc.status_code}", str(exc.detail)),
            status_code=exc.status_code,
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(Exception)
    async def unexpected_error(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", exc_info=exc)
        return JSONResponse(
            error_body("internal_error", "An unexpected error occurred"), status_code=500
        )


def create_app(settings: Settings | None = None, *, runtime: Runtime | None = None) -> FastAPI:
    """Build the application; without a `runtime`, its lifespan boots (and heals) one."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if runtime is not None:
            app.state.runtime = runtime
            yield
            return
        async with boot(settings) as booted:
            app.state.runtime = booted
            yield

    app = FastAPI(title="orchestrator_service", version=__version__, lifespan=lifespan)
    app.state.settings = settings
    app.state.runtime = runtime
    _install_error_handlers(app)
    app.include_router(health.router)
    return app
