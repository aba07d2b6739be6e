"""/api/v1/error-logs: the failures the service handled for the tenant."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from orchestrator_service.deps import SessionDep, TenantPrincipal, require
from orchestrator_service.error_log import service
from orchestrator_service.error_log.schemas import ErrorLogOut, ErrorLogPage, Kind
from orchestrator_service.pagination import MAX_LIMIT
from orchestrator_service.schemas import TimeFilter, as_utc

router = APIRouter(prefix="/error-logs", tags=["error-logs"])
Reader = Annotated[TenantPrincipal, Depends(require("audit:read"))]


@router.get("")
async def list_errors(
    principal: Reader,
    session: SessionDep,
    kind: Kind | None = None,
    since: TimeFilter = None,
    execution_id: uuid.UUID | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 50,
    offset: Annotated[int, Query(ge=0, le=100_000)] = 0,
) -> ErrorLogPage:
    """The tenant's handled failures, most recently seen first (admins: `audit:read`)."""
    rows, total = await service.list_errors(
        session,
        tenant_id=principal.tenant_id,
        kind=kind,
        since=as_utc(since, "since"),
        execution_id=execution_id,
        limit=limit,
        offset=offset,
    )
    return ErrorLogPage(items=[ErrorLogOut.model_validate(r) for r in rows], total=total)
