"""The FastAPI application: `create_app()` and a lifespan that heals before serving."""

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.routing import Route

from orchestrator_service import __version__, health
from orchestrator_service.api import PREFIX as API_PREFIX
from orchestrator_service.api import (
    api_router,
    install_error_docs,
    openai_router,
    webhook_router,
)
from orchestrator_service.bootstrap import Runtime, boot, running_jobs
from orchestrator_service.config import Settings, get_settings
from orchestrator_service.console.bridge import BRIDGE_PREFIX
from orchestrator_service.console.router import install_console
from orchestrator_service.credentials.scrub import install_log_scrubbing
from orchestrator_service.docs import install_docs
from orchestrator_service.http import install_http_conventions
from orchestrator_service.mcp_server.door import PATH as MCP_PATH
from orchestrator_service.mcp_server.door import McpDoor
from orchestrator_service.metrics import metrics_endpoint
from orchestrator_service.openai_api.router import PREFIX as OPENAI_PREFIX
from orchestrator_service.openai_api.schemas import openai_error


def create_app(settings: Settings | None = None, *, runtime: Runtime | None = None) -> FastAPI:
    """Build the application; without a `runtime`, its lifespan boots (and heals) one."""
    settings = settings or get_settings()
    install_log_scrubbing()

    mcp = McpDoor(lambda: app.state.runtime)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if runtime is not None:
            app.state.runtime = runtime
            async with mcp.running():
                yield
            return
        async with boot(settings) as booted, running_jobs(booted), mcp.running():
            app.state.runtime = booted
            # What boot made (routes, schemas, models) lives as long as the process: moved out
            # of the collector's generations, so no collection walks it again mid-request.
            gc.freeze()
            yield

    app = FastAPI(
        title="orchestrator_service",
        version=__version__,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.runtime = runtime
    # Multipart framing adds a little to the file itself.
    upload_limit = settings.max_upload_bytes + 64 * 1024
    install_http_conventions(
        app,
        max_body_bytes=settings.max_body_bytes,
        large_bodies={
            f"{API_PREFIX}/rag/documents": upload_limit,
            f"{BRIDGE_PREFIX}/rag/documents": upload_limit,
            f"{API_PREFIX}/files": settings.max_file_bytes + 64 * 1024,
        },
        error_shapes={f"{OPENAI_PREFIX}/": openai_error},
    )
    app.add_route("/metrics", metrics_endpoint, include_in_schema=False)
    app.include_router(health.router)
    app.include_router(api_router())
    app.include_router(openai_router())
    app.include_router(webhook_router())
    app.router.routes.append(Route(MCP_PATH, endpoint=mcp, include_in_schema=False))
    install_error_docs(app)
    install_docs(app)
    install_console(app)
    return app
