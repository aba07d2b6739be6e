"""/api/v1/audit-logs."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from orchestrator_service.audit import service
from orchestrator_service.audit.schemas import AuditLogOut
from orchestrator_service.deps import Paging, SessionDep, TenantPrincipal, require
from orchestrator_service.pagination import Page, page_of
from orchestrator_service.schemas import TimeFilter, as_utc

router = APIRouter(prefix="/audit-logs", tags=["audit"])
Reader = Annotated[TenantPrincipal, Depends(require("audit:read"))]
Filter = Annotated[str | None, Query(max_length=255, pattern=r"^[^\x00]*$")]


@router.get("")
async def list_logs(
    principal: Reader,
    session: SessionDep,
    page: Paging,
    actor: Filter = None,
    action: Filter = None,
    resource_type: Filter = None,
    resource_id: Filter = None,
    since: TimeFilter = None,
    until: TimeFilter = None,
) -> Page[AuditLogOut]:
    """The tenant's audit log, newest first; filter by actor, action, resource and time."""
    logs, cursor = await service.list_logs(
        session,
        tenant_id=principal.tenant_id,
        page=page,
        actor=actor,
        action=action,
        resource_type=resource_type,
        resource_id=resource_id,
        since=as_utc(since, "since"),
        until=as_utc(until, "until"),
    )
    return page_of(AuditLogOut, logs, cursor)


@router.get("/{audit_log_id}")
async def get_log(audit_log_id: uuid.UUID, principal: Reader, session: SessionDep) -> AuditLogOut:
    """Show one audit entry."""
    entry = await service.get_log(session, tenant_id=principal.tenant_id, log_id=audit_log_id)
    return AuditLogOut.model_validate(entry)
