"""Liveness and readiness through HTTP, readiness carrying the heal report."""

import httpx
from sqlalchemy.engine import URL

from orchestrator_service.bootstrap import boot
from orchestrator_service.config import Settings
from orchestrator_service.db.heal.healer import heal
from orchestrator_service.main import create_app
from orchestrator_service.models import METADATA
from tests.helpers import sql


def _client(app) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


async def test_ready_is_false_before_a_heal(settings: Settings) -> None:
    async with _client(create_app(settings)) as client:
        response = await client.get("/health/ready")
        live = await client.get("/health/live")

    assert response.status_code == 503
    assert response.json()["ready"] is False
    assert live.status_code == 200


async def test_ready_serves_the_heal_report_with_its_drift(
    fresh_db: URL, settings: Settings
) -> None:
    await heal(METADATA, fresh_db, settings)
    await sql(fresh_db, "ALTER TABLE tools ALTER COLUMN name TYPE text")

    async with boot(settings) as runtime, _client(create_app(settings, runtime=runtime)) as client:
        response = await client.get("/health/ready")

    assert response.status_code == 200
    body = response.json()
    assert body["ready"] is True
    report = body["heal"]["metadata"]
    assert report["verified"] is True
    assert {"kind": "type_mismatch", "object": "public.tools.name"}.items() <= next(
        d for d in report["drift"] if d["object"] == "public.tools.name"
    ).items()
    rows = await sql(
        fresh_db,
        "SELECT data_type FROM information_schema.columns "
        "WHERE table_name = 'tools' AND column_name = 'name'",
    )
    assert rows[0]["data_type"] == "text"


async def test_unknown_routes_get_the_error_body(settings: Settings) -> None:
    async with _client(create_app(settings)) as client:
        response = await client.get("/nope")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "http_404"
