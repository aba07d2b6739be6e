"""Liveness and readiness through HTTP. Readiness answers only the status, unless a
platform-admin key asks: then it carries the heal report (which describes the schema)."""

import httpx
from sqlalchemy.engine import URL

from orchestrator_service.bootstrap import boot
from orchestrator_service.config import Settings
from orchestrator_service.db.heal.healer import heal
from orchestrator_service.main import create_app
from orchestrator_service.models import METADATA
from orchestrator_service.tenants import service as tenant_service
from orchestrator_service.tenants.schemas import TenantCreate
from tests.helpers import TEST_ACTOR, sql


def _client(app) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


async def test_ready_is_false_before_a_heal(settings: Settings) -> None:
    async with _client(create_app(settings)) as client:
        response = await client.get("/health/ready")
        asked = await client.get("/health/ready", headers={"Authorization": "Bearer orch_x_y"})
        live = await client.get("/health/live")

    assert response.status_code == 503
    assert response.json() == {"ready": False}
    assert asked.status_code == 503 and asked.json() == {"ready": False}
    assert live.status_code == 200


async def test_ready_serves_the_heal_report_with_its_drift_to_a_platform_key_only(
    fresh_db: URL, settings: Settings
) -> None:
    await heal(METADATA, fresh_db, settings)
    await sql(fresh_db, "ALTER TABLE tools ALTER COLUMN name TYPE text")

    async with boot(settings) as runtime, _client(create_app(settings, runtime=runtime)) as client:
        async with runtime.sessionmaker.begin() as session:
            platform_key = await tenant_service.create_platform_key(
                session, name="ops", actor=TEST_ACTOR
            )
            _, tenant_key = await tenant_service.create_tenant(
                session, data=TenantCreate(name="t"), actor=TEST_ACTOR
            )
        anonymous = await client.get("/health/ready")
        as_tenant = await client.get(
            "/health/ready", headers={"Authorization": f"Bearer {tenant_key}"}
        )
        as_nobody = await client.get(
            "/health/ready", headers={"Authorization": "Bearer orch_0123456789ab_nope"}
        )
        response = await client.get(
            "/health/ready", headers={"Authorization": f"Bearer {platform_key}"}
        )

    for public in (anonymous, as_tenant, as_nobody):
        assert public.status_code == 200
        assert public.json() == {"ready": True}
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
