"""/api/v1/calendar: a user's events (private unless shared with the tenant), range queries
with recurring series expanded, and iCalendar import and export."""

import uuid
from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, File, Query, Response, UploadFile, status

from orchestrator_service.calendar import ics, service
from orchestrator_service.calendar.schemas import (
    EventCreate,
    EventOut,
    EventUpdate,
    ImportResult,
    Occurrences,
)
from orchestrator_service.deps import ActorDep, Paging, SessionDep, TenantPrincipal, require
from orchestrator_service.pagination import Page, PageParams, page_of
from orchestrator_service.schemas import TimeFilter, as_utc

router = APIRouter(prefix="/calendar", tags=["calendar"])
Reader = Annotated[TenantPrincipal, Depends(require("calendar:read"))]
Writer = Annotated[TenantPrincipal, Depends(require("calendar:write"))]
Instant = Annotated[datetime, Query(description="ISO 8601 date-time; without an offset, UTC")]


@router.post("/events", status_code=status.HTTP_201_CREATED)
async def create_event(
    data: EventCreate, principal: Writer, actor: ActorDep, session: SessionDep
) -> EventOut:
    """Add an event (private to the caller unless `visibility` is `tenant`)."""
    event = await service.create_event(
        session, tenant_id=principal.tenant_id, user_id=principal.user_id, data=data, actor=actor
    )
    return EventOut.model_validate(event)


@router.get("/events")
async def list_events(
    principal: Reader,
    session: SessionDep,
    page: Paging,
    start: TimeFilter = None,
    end: TimeFilter = None,
) -> Page[EventOut]:
    """The events and series the caller may read that overlap [start, end), newest first."""
    events, cursor = await service.list_events(
        session,
        tenant_id=principal.tenant_id,
        user_id=principal.user_id,
        page=page,
        range_start=as_utc(start, "start"),
        range_end=as_utc(end, "end"),
    )
    return page_of(EventOut, events, cursor)


@router.get("/occurrences")
async def list_occurrences(
    principal: Reader,
    session: SessionDep,
    start: Instant,
    end: Annotated[
        datetime | None, Query(description="ISO 8601 date-time; default: 7 days after start")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=service.MAX_OCCURRENCES)] = 200,
) -> Occurrences:
    """Every occurrence overlapping [start, end) (at most 366 days), recurring series expanded,
    by start time."""
    range_start = as_utc(start, "start") or start
    return await service.occurrences(
        session,
        tenant_id=principal.tenant_id,
        user_id=principal.user_id,
        range_start=range_start,
        range_end=as_utc(end, "end") or range_start + timedelta(days=7),
        limit=limit,
    )


@router.post("/import")
async def import_calendar(
    principal: Writer,
    actor: ActorDep,
    session: SessionDep,
    file: Annotated[UploadFile, File(description="An iCalendar (.ics) file")],
) -> ImportResult:
    """Import an .ics file into the caller's calendar (events matched by UID are updated)."""
    data = await file.read(ics.MAX_ICS_BYTES + 1)
    ics.check_size(data)
    return await ics.import_ics(
        session, tenant_id=principal.tenant_id, user_id=principal.user_id, data=data, actor=actor
    )


@router.get(
    "/export",
    response_class=Response,
    responses={200: {"content": {"text/calendar": {}}, "description": "An .ics file"}},
)
async def export_calendar(
    principal: Reader, session: SessionDep, start: TimeFilter = None, end: TimeFilter = None
) -> Response:
    """The events the caller may read that overlap [start, end), as an .ics file."""
    events, _ = await service.list_events(
        session,
        tenant_id=principal.tenant_id,
        user_id=principal.user_id,
        page=PageParams(limit=ics.MAX_EVENTS),
        range_start=as_utc(start, "start"),
        range_end=as_utc(end, "end"),
    )
    return Response(ics.export_ics(events), media_type="text/calendar; charset=utf-8")


@router.get("/events/{event_id}")
async def get_event(event_id: uuid.UUID, principal: Reader, session: SessionDep) -> EventOut:
    """One event the caller may read."""
    event = await service.get_event(
        session, tenant_id=principal.tenant_id, user_id=principal.user_id, event_id=event_id
    )
    return EventOut.model_validate(event)


@router.patch("/events/{event_id}")
async def update_event(
    event_id: uuid.UUID, data: EventUpdate, principal: Writer, actor: ActorDep, session: SessionDep
) -> EventOut:
    """Change one of the caller's events."""
    event = await service.update_event(
        session,
        tenant_id=principal.tenant_id,
        user_id=principal.user_id,
        event_id=event_id,
        data=data,
        actor=actor,
    )
    return EventOut.model_validate(event)


@router.delete("/events/{event_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_event(
    event_id: uuid.UUID, principal: Writer, actor: ActorDep, session: SessionDep
) -> None:
    """Delete one of the caller's events."""
    await service.delete_event(
        session,
        tenant_id=principal.tenant_id,
        user_id=principal.user_id,
        event_id=event_id,
        actor=actor,
    )
