"""Liveness and readiness. Readiness answers only whether the service is ready; a
platform-admin key (`Authorization: Bearer <platform key>`) also gets why not and the heal
report (what was applied, what drift remains), which describe the schema."""

import logging

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from orchestrator_service.deps import PlatformCallerDep, ReadinessDep

log = logging.getLogger(__name__)
router = APIRouter(prefix="/health", tags=["health"])


@router.get("/live")
async def live() -> dict:
    """The process is up."""
    return {"status": "ok"}


@router.get("/ready")
async def ready(runtime: ReadinessDep, platform: PlatformCallerDep) -> JSONResponse:
    """`{"ready": true}` once every database healed and verified and the metadata database
    answers (else 503 with `{"ready": false}`); a platform-admin key also gets the reason and
    the heal report."""
    if runtime is None or not runtime.healed:
        return JSONResponse({"ready": False}, status_code=503)
    try:
        async with runtime.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    except (SQLAlchemyError, OSError) as exc:
        log.warning("not ready: metadata database unreachable (%s)", type(exc).__name__)
        return JSONResponse({"ready": False}, status_code=503)
    if not platform:
        return JSONResponse({"ready": True})
    heal = {name: report.as_dict() for name, report in runtime.heal_reports.items()}
    return JSONResponse({"ready": True, "heal": heal})
