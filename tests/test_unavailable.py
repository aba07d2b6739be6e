"""503 bodies name the store that is unavailable, never its host, port, database, user or the
driver's error text (those go to the log). They used to carry all of it."""

import dataclasses
import logging

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from orchestrator_service.bootstrap import Runtime
from orchestrator_service.config import Settings
from orchestrator_service.errors import DatabaseUnreachable, HealError, OrchestratorError
from orchestrator_service.http import install_http_conventions
from orchestrator_service.main import create_app
from orchestrator_service.rag.vector_store import VectorStoreError
from tests.helpers import Caller

DRIVER_TEXT = "could not connect to server: Connection refused (db-7.internal.example:6543)"
REVEALING = ("db-7.internal.example", "6543", "orchestrator_prod", "svc_user", "refused")


@pytest.mark.parametrize(
    ("error", "store"),
    [
        (
            DatabaseUnreachable(
                "Cannot reach the database at db-7.internal.example:6543/orchestrator_prod as "
                f"user svc_user: {DRIVER_TEXT}",
                details={"host": "db-7.internal.example", "port": 6543},
            ),
            "database",
        ),
        (HealError(f"Heal of orchestrator_prod failed: {DRIVER_TEXT}"), "database"),
        (
            VectorStoreError(
                f"The vector store at db-7.internal.example:6543 failed: {DRIVER_TEXT}"
            ),
            "vector store",
        ),
    ],
)
async def test_a_503_names_the_store_and_logs_the_rest(
    error: OrchestratorError, store: str, caplog
) -> None:
    app = FastAPI()
    install_http_conventions(app, max_body_bytes=1024)

    @app.get("/boom")
    async def boom() -> None:
        raise error

    caplog.set_level(logging.WARNING)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        response = await client.get("/boom")

    assert response.status_code == 503
    assert response.json()["error"] == {
        "code": error.code,
        "message": f"The {store} is unavailable; try again later",
        "details": None,
    }
    for revealing in REVEALING:
        assert revealing not in response.text
    assert DRIVER_TEXT in caplog.text  # the operator still learns what happened


async def test_the_metadata_database_going_away_is_a_503_naming_it(
    settings: Settings, runtime: Runtime, tenant_a: Caller
) -> None:
    """A real fault: the pool's database refuses connections in the middle of serving."""
    engine = create_async_engine(
        "postgresql+asyncpg://svc_user:pw@127.0.0.1:1/orchestrator_prod",
        connect_args={"timeout": 2},
    )
    gone = dataclasses.replace(runtime, sessionmaker=async_sessionmaker(engine), engine=engine)
    transport = httpx.ASGITransport(app=create_app(settings, runtime=gone))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            response = await client.get("/api/v1/me", headers=tenant_a.headers)
            ready = await client.get("/health/ready", headers=tenant_a.headers)
    finally:
        await engine.dispose()

    assert response.status_code == 503, response.text
    assert response.json()["error"] == {
        "code": "database_unreachable",
        "message": "The metadata database is unavailable; try again later",
        "details": None,
    }
    for revealing in ("127.0.0.1", "orchestrator_prod", "svc_user", "Errno", "refused"):
        assert revealing not in response.text
    assert (ready.status_code, ready.json()) == (503, {"ready": False})
