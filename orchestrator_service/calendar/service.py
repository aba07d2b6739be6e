"""Calendar events of a user: CRUD, range queries (overlap counts), recurring series expanded
within a range, and iCalendar import and export."""

import uuid
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import ColumnElement, and_, or_, true
from sqlalchemy.ext.asyncio import AsyncSession

from orchestrator_service.audit.service import Actor
from orchestrator_service.calendar import recurrence
from orchestrator_service.calendar.models import CalendarEvent
from orchestrator_service.calendar.schemas import (
    EventCreate,
    EventUpdate,
    Occurrence,
    Occurrences,
)
from orchestrator_service.db.personal import PersonalRepository
from orchestrator_service.errors import InvalidInput
from orchestrator_service.pagination import PageParams

MAX_RANGE = timedelta(days=366)
MAX_OCCURRENCES = 1000
# Rows a range query reads at most (each series expands within the range only).
MAX_ROWS = 2000
# Series a range query expands at most (each costs the range's periods).
MAX_SERIES = 200
MIN_YEAR, MAX_YEAR = 1900, 2200


class Events(PersonalRepository[CalendarEvent]):
    """The events a user may read."""

    model = CalendarEvent
    resource_type = "calendar_event"
    what = "Event"
    # Never the title or times: admins read the audit log, and the event may be private.
    audited = ("status", "visibility")
    conflicts = {
        "uq_calendar_events_tenant_id_owner_user_id_provider_external_id": (
            "An event with this external id already exists"
        )
    }


def zone_of(name: str) -> ZoneInfo:
    """The IANA time zone `name`, or 422."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise InvalidInput(
            f"Unknown time zone {name[:64]!r}: use an IANA name such as Europe/Madrid",
            details={"field": "timezone"},
        ) from None


def _instant(value: datetime | date, zone: ZoneInfo, field: str) -> datetime:
    """A start or end as an aware instant (a naive time is read in `zone`)."""
    if not isinstance(value, datetime):
        value = datetime.combine(value, time())
    if not MIN_YEAR <= value.year <= MAX_YEAR:
        raise InvalidInput(
            f"`{field}` must be within the years {MIN_YEAR}..{MAX_YEAR}", details={"field": field}
        )
    return value if value.tzinfo is not None else value.replace(tzinfo=zone)


def resolve_times(
    start: datetime | date, end: datetime | date | None, zone: ZoneInfo, all_day: bool
) -> tuple[datetime, datetime]:
    """(start, end) in UTC: an all-day event runs from midnight of its first day to midnight
    after its last one, in its zone; a timed event without an end lasts an hour."""
    if all_day:
        first = start.date() if isinstance(start, datetime) else start
        last = first if end is None else (end.date() if isinstance(end, datetime) else end)
        begin = _instant(first, zone, "start")
        _instant(last, zone, "end")
        if last < first:
            raise InvalidInput("`end` is before `start`", details={"field": "end"})
        finish = datetime.combine(last + timedelta(days=1), time(), tzinfo=zone)
    else:
        begin = _instant(start, zone, "start")
        finish = begin + timedelta(hours=1) if end is None else _instant(end, zone, "end")
        if finish < begin:
            raise InvalidInput("`end` is before `start`", details={"field": "end"})
    return begin.astimezone(UTC), finish.astimezone(UTC)


def series_of(event: CalendarEvent) -> recurrence.Recurrence | None:
    """The parsed series of an event (None when it does not recur)."""
    if not event.recurrence:
        return None
    zone = zone_of(event.timezone)
    return recurrence.parse(
        event.recurrence,
        event.start_time.astimezone(zone),
        zone,
        event.end_time - event.start_time,
        known_end=event.recurrence_end,
    )


def _apply_series(event: CalendarEvent) -> None:
    """Check the event's recurrence and record when the series ends."""
    event.recurrence_end = None  # resolved afresh from the lines
    series = series_of(event)
    event.recurrence_end = None if series is None or series.end is None else series.end


async def create_event(
    session: AsyncSession,
    *,
    tenant_id: int,
    user_id: uuid.UUID | None,
    data: EventCreate,
    actor: Any,
) -> CalendarEvent:
    """Add an event to the user's calendar."""
    if user_id is None and data.visibility == "private":
        raise InvalidInput(
            "A key acting for no user cannot own a private event: use visibility 'tenant'",
            details={"field": "visibility"},
        )
    zone = zone_of(data.timezone)
    start, end = resolve_times(data.start, data.end, zone, data.is_all_day)
    event = CalendarEvent(
        tenant_id=tenant_id,
        owner_user_id=user_id,
        visibility=data.visibility,
        provider="local",
        title=data.title,
        description=data.description,
        location=data.location,
        start_time=start,
        end_time=end,
        timezone=data.timezone,
        is_all_day=data.is_all_day,
        status=data.status,
        event_visibility=data.event_visibility,
        recurrence=data.recurrence or None,
    )
    _apply_series(event)
    return await Events(session, tenant_id=tenant_id, user_id=user_id).create(event, actor=actor)


def _overlapping(range_start: datetime | None, range_end: datetime | None) -> ColumnElement[bool]:
    """Events (or series) with time inside [range_start, range_end)."""
    clauses = []
    if range_end is not None:
        clauses.append(CalendarEvent.start_time < range_end)
    if range_start is not None:
        duration = CalendarEvent.end_time - CalendarEvent.start_time
        clauses.append(
            or_(
                and_(CalendarEvent.recurrence.is_(None), CalendarEvent.end_time > range_start),
                and_(
                    CalendarEvent.recurrence.is_not(None),
                    or_(
                        CalendarEvent.recurrence_end.is_(None),
                        CalendarEvent.recurrence_end + duration > range_start,
                    ),
                ),
                # A zero-length event at the range's start.
                CalendarEvent.start_time >= range_start,
            )
        )
    return and_(true(), *clauses)


def _range(range_start: datetime | None, range_end: datetime | None) -> None:
    if range_start is not None and range_end is not None and range_end <= range_start:
        raise InvalidInput("`end` must be after `start`", details={"field": "end"})


async def list_events(
    session: AsyncSession,
    *,
    tenant_id: int,
    user_id: uuid.UUID | None,
    page: PageParams,
    range_start: datetime | None = None,
    range_end: datetime | None = None,
) -> tuple[list[CalendarEvent], str | None]:
    """The events (and series) the user may read that overlap the range, newest first."""
    _range(range_start, range_end)
    events = Events(session, tenant_id=tenant_id, user_id=user_id)
    return await events.page(page, events.select().where(_overlapping(range_start, range_end)))


async def occurrences(
    session: AsyncSession,
    *,
    tenant_id: int,
    user_id: uuid.UUID | None,
    range_start: datetime,
    range_end: datetime,
    limit: int = MAX_OCCURRENCES,
) -> Occurrences:
    """Every occurrence overlapping [range_start, range_end) (at most 366 days), recurring
    series expanded, by start; at most `limit`."""
    _range(range_start, range_end)
    if range_end - range_start > MAX_RANGE:
        raise InvalidInput("A range may span at most 366 days", details={"field": "end"})
    stmt = (
        Events(session, tenant_id=tenant_id, user_id=user_id)
        .select()
        .where(_overlapping(range_start, range_end))
        .order_by(CalendarEvent.start_time, CalendarEvent.id)
        .limit(MAX_ROWS + 1)
    )
    rows = list((await session.scalars(stmt)).all())
    truncated = len(rows) > MAX_ROWS
    rows = rows[:MAX_ROWS]
    # A provider's changed occurrence replaces the one its series would have produced.
    moved = {
        (r.recurring_event_id, r.original_start_time)
        for r in rows
        if r.recurring_event_id is not None and r.original_start_time is not None
    }
    found: list[Occurrence] = []
    expanded = 0
    for event in rows:
        duration = event.end_time - event.start_time
        try:
            series = series_of(event)
        except InvalidInput:
            series = None  # a rule this service refuses (a sync wrote it): its first occurrence
        if series is not None and expanded >= MAX_SERIES:
            truncated = True
            continue
        if series is None:
            overlaps = event.end_time > range_start or event.start_time >= range_start
            starts = [event.start_time] if overlaps and event.start_time < range_end else []
        else:
            expanded += 1
            zone = zone_of(event.timezone)
            expansion = recurrence.expand(
                series, event.start_time, zone, duration, range_start, range_end, limit=limit
            )
            truncated = truncated or expansion.truncated
            starts = [
                s for s in expansion.starts if (event.external_id, s.astimezone(UTC)) not in moved
            ]
        found.extend(
            Occurrence(
                event_id=event.id,
                title=event.title,
                location=event.location,
                start_time=s.astimezone(UTC),
                end_time=(s + duration).astimezone(UTC),
                timezone=event.timezone,
                is_all_day=event.is_all_day,
                status=event.status,
                recurring=series is not None,
            )
            for s in starts
        )
    found.sort(key=lambda o: (o.start_time, str(o.event_id)))
    return Occurrences(items=found[:limit], truncated=truncated or len(found) > limit)


async def get_event(
    session: AsyncSession, *, tenant_id: int, user_id: uuid.UUID | None, event_id: uuid.UUID
) -> CalendarEvent:
    """One event the user may read, or 404."""
    return await Events(session, tenant_id=tenant_id, user_id=user_id).get(event_id)


async def update_event(
    session: AsyncSession,
    *,
    tenant_id: int,
    user_id: uuid.UUID | None,
    event_id: uuid.UUID,
    data: EventUpdate,
    actor: Actor,
) -> CalendarEvent:
    """Change one of the user's events; the times are re-read together."""
    events = Events(session, tenant_id=tenant_id, user_id=user_id)
    event = await events.get_own(event_id)
    changes = data.model_dump(exclude_unset=True)
    if changes.get("visibility") == "private" and user_id is None:
        raise InvalidInput("A key acting for no user cannot make an event private")
    timing = {"start", "end", "timezone", "is_all_day"}
    if timing & changes.keys():
        zone_name = changes.get("timezone", event.timezone)
        zone = zone_of(zone_name)
        all_day = changes.get("is_all_day", event.is_all_day)
        start = changes.pop("start", event.start_time.astimezone(zone))
        if "end" in changes:
            end = changes.pop("end")
        elif "start" in data.model_fields_set:
            end = None  # a new start without an end: the default length
        elif all_day:
            end = (event.end_time.astimezone(zone) - timedelta(days=1)).date()
        else:
            end = event.end_time
        changes["start_time"], changes["end_time"] = resolve_times(start, end, zone, all_day)
    changes.pop("start", None)
    changes.pop("end", None)
    async with events.changing(event, actor=actor):
        for field, value in changes.items():
            setattr(event, field, value)
        _apply_series(event)
    return event


async def delete_event(
    session: AsyncSession,
    *,
    tenant_id: int,
    user_id: uuid.UUID | None,
    event_id: uuid.UUID,
    actor: Actor,
) -> None:
    """Delete one of the user's events."""
    events = Events(session, tenant_id=tenant_id, user_id=user_id)
    await events.delete(await events.get_own(event_id), actor=actor)


def as_utc_range(start: datetime, end: datetime) -> tuple[datetime, datetime]:
    """A query range as aware UTC instants (naive values are UTC)."""
    return tuple(  # type: ignore[return-value]
        (v if v.tzinfo else v.replace(tzinfo=UTC)).astimezone(UTC) for v in (start, end)
    )
