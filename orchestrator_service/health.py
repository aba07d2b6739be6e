"""Liveness and readiness; readiness carries the heal report."""

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from orchestrator_service.deps import ReadinessDep

router = APIRouter(prefix="/health", tags=["health"])


@router.get("/live")
async def live() -> dict:
    """The process is up."""
    return {"status": "ok"}


@router.get("/ready")
async def ready(runtime: ReadinessDep) -> JSONResponse:
    """Ready once every database healed and verified, and the metadata database answers."""
    if runtime is None or not runtime.healed:
        return JSONResponse({"ready": False, "reason": "schema not healed yet"}, status_code=503)
    heal = {name: report.as_dict() for name, report in runtime.heal_reports.items()}
    try:
        async with runtime.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    except (SQLAlchemyError, OSError) as exc:
        reason = f"metadata database unreachable: {type(exc).__name__}"
        return JSONResponse({"ready": False, "reason": reason, "heal": heal}, status_code=503)
    return JSONResponse({"ready": True, "heal": heal})
