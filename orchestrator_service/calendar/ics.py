"""iCalendar (.ics) import and export with the `icalendar` package, bounded in size and count.

An import upserts on the event's UID (provider `ical`), so importing a file twice changes
nothing; an event whose data cannot be used is skipped with the reason, never half-stored.
"""

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

from icalendar import Calendar, Component, Event
from icalendar.parser import Contentline
from icalendar.prop import vRecur
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from orchestrator_service.calendar.models import CalendarEvent
from orchestrator_service.calendar.recurrence import line_dates
from orchestrator_service.calendar.schemas import ImportResult
from orchestrator_service.calendar.service import (
    Events,
    resolve_times,
    series_of,
    zone_of,
)
from orchestrator_service.errors import InvalidInput
from orchestrator_service.rag.service import UploadTooLarge

MAX_ICS_BYTES = 5 * 1024 * 1024
MAX_EVENTS = 2000
_STATUSES = {"CONFIRMED": "confirmed", "TENTATIVE": "tentative", "CANCELLED": "cancelled"}
_CLASSES = {"PUBLIC": "public", "PRIVATE": "private", "CONFIDENTIAL": "confidential"}
# What a broken file makes icalendar raise (it has no single error class).
_PARSE_ERRORS = (ValueError, KeyError, IndexError, TypeError, AttributeError, RecursionError)


def _text(component: Any, name: str, limit: int) -> str | None:
    value = component.get(name)
    if value is None:
        return None
    return str(value).replace("\x00", "")[:limit] or None


def _when(component: Any, name: str) -> datetime | date | None:
    prop = component.get(name)
    if prop is None:
        return None
    value = prop.dt
    return value if isinstance(value, (datetime, date)) else None


def _zone_name(start: datetime | date) -> str:
    """The IANA zone of a DTSTART, UTC when it has none (or not an IANA one)."""
    tz = getattr(start, "tzinfo", None)
    key = getattr(tz, "key", None) or getattr(tz, "zone", None)
    if isinstance(key, str):
        try:
            zone_of(key)
        except InvalidInput:
            return "UTC"
        return key
    return "UTC"


def _recurrence(component: Component) -> list[str] | None:
    lines = []
    for name in ("RRULE", "EXDATE", "RDATE"):
        values = component.get(name)
        if values is None:
            continue
        for value in values if isinstance(values, list) else [values]:
            if name == "RRULE" and isinstance(value, vRecur):
                lines.append(f"RRULE:{value.to_ical().decode()}")
            else:
                lines.append(_dates_line(name, value))
    return lines or None


def _dates_line(name: str, value: Any) -> str:
    """An EXDATE/RDATE property as one line in UTC (dates kept as dates)."""
    items = []
    for entry in value.dts:
        dt = entry.dt
        if isinstance(dt, datetime):
            aware = dt if dt.tzinfo else dt.replace(tzinfo=UTC)
            items.append(aware.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ"))
        elif isinstance(dt, date):
            items.append(dt.strftime("%Y%m%d"))
    if not items:
        raise ValueError(f"{name} holds no dates")
    all_dates = all(len(i) == 8 for i in items)
    return f"{name}{';VALUE=DATE' if all_dates else ''}:{','.join(items)}"


def _fields(component: Component) -> dict:
    """The columns of one VEVENT, or ValueError/InvalidInput saying why it cannot be used."""
    uid = _text(component, "UID", 200)
    if not uid:
        raise ValueError("no UID")
    start = _when(component, "DTSTART")
    if start is None:
        raise ValueError("no DTSTART")
    all_day = not isinstance(start, datetime)
    zone_name = _zone_name(start)
    zone = zone_of(zone_name)
    end = _when(component, "DTEND")
    duration = component.get("DURATION")
    if end is None and duration is not None and isinstance(duration.dt, timedelta):
        end = start + duration.dt
    if all_day and end is not None and not isinstance(end, datetime):
        end = end - timedelta(days=1)  # DTEND of an all-day event is exclusive
    begin, finish = resolve_times(start, end, zone, all_day)
    recurrence_id = _when(component, "RECURRENCE-ID")
    external_id = uid
    original = None
    if recurrence_id is not None:
        original = resolve_times(recurrence_id, None, zone, all_day)[0]
        external_id = f"{uid}/{original.strftime('%Y%m%dT%H%M%SZ')}"
    return {
        "external_id": external_id,
        "ical_uid": uid,
        "title": _text(component, "SUMMARY", 255) or "(no title)",
        "description": _text(component, "DESCRIPTION", 20_000),
        "location": _text(component, "LOCATION", 500),
        "start_time": begin,
        "end_time": finish,
        "timezone": zone_name,
        "is_all_day": all_day,
        "status": _STATUSES.get(str(component.get("STATUS", "")).upper(), "confirmed"),
        "event_visibility": _CLASSES.get(str(component.get("CLASS", "")).upper(), "default"),
        "recurrence": _recurrence(component),
        "recurring_event_id": uid if recurrence_id is not None else None,
        "original_start_time": original,
        "organizer": _text(component, "ORGANIZER", 320),
    }


def check_size(data: bytes) -> None:
    """Refuse a file over MAX_ICS_BYTES (413)."""
    if len(data) > MAX_ICS_BYTES:
        raise UploadTooLarge(f"An .ics file may be at most {MAX_ICS_BYTES} bytes")


def parse_calendar(data: bytes) -> list[Component]:
    """The VEVENTs of an .ics file, or 422 when it is not one."""
    try:
        calendar = Calendar.from_ical(data)
        events = [c for c in calendar.walk("VEVENT")]
    except _PARSE_ERRORS:
        raise InvalidInput(
            "The file is not a valid iCalendar (.ics) file", details={"field": "file"}
        ) from None
    if len(events) > MAX_EVENTS:
        raise InvalidInput(
            f"The file holds more than {MAX_EVENTS} events", details={"field": "file"}
        )
    return events


async def import_ics(
    session: AsyncSession,
    *,
    tenant_id: int,
    user_id: uuid.UUID | None,
    data: bytes,
    actor: Any,
) -> ImportResult:
    """Upsert the file's events into the user's calendar, by UID."""
    events = Events(session, tenant_id=tenant_id, user_id=user_id)
    created = updated = 0
    skipped: list[dict] = []
    for component in parse_calendar(data):
        try:
            fields = _fields(component)
            series = series_of(CalendarEvent(**fields))
        except InvalidInput as exc:
            skipped.append({"uid": _text(component, "UID", 200), "reason": exc.message})
            continue
        except _PARSE_ERRORS as exc:
            skipped.append({"uid": _text(component, "UID", 200), "reason": str(exc)[:200]})
            continue
        fields["recurrence_end"] = None if series is None else series.end
        existing = await session.scalar(
            select(CalendarEvent).where(
                CalendarEvent.tenant_id == tenant_id,
                CalendarEvent.owner_user_id == user_id,
                CalendarEvent.provider == "ical",
                CalendarEvent.external_id == fields["external_id"],
            )
        )
        if existing is None:
            event = CalendarEvent(
                tenant_id=tenant_id,
                owner_user_id=user_id,
                provider="ical",
                visibility="private" if user_id else "tenant",
                **fields,
            )
            await events.create(event, actor=actor)
            created += 1
        else:
            await events.update(existing, fields, actor=actor)
            updated += 1
    return ImportResult(created=created, updated=updated, skipped=skipped[:100])


def export_ics(events: list[CalendarEvent]) -> bytes:
    """An .ics file of these events."""
    calendar = Calendar()
    calendar.add("prodid", "-//orchestrator_service//calendar//EN")
    calendar.add("version", "2.0")
    for event in events:
        item = Event()
        item.add("uid", event.ical_uid or f"{event.id}@orchestrator")
        item.add("summary", event.title)
        item.add("dtstamp", datetime.now(UTC))
        zone = zone_of(event.timezone)
        if event.is_all_day:
            item.add("dtstart", event.start_time.astimezone(zone).date())
            item.add("dtend", event.end_time.astimezone(zone).date())
        else:
            item.add("dtstart", event.start_time.astimezone(zone))
            item.add("dtend", event.end_time.astimezone(zone))
        if event.description:
            item.add("description", event.description)
        if event.location:
            item.add("location", event.location)
        item.add("status", event.status.upper())
        if event.event_visibility != "default":
            item.add("class", event.event_visibility.upper())
        for line in event.recurrence or []:
            name, params, value = Contentline(line).parts()
            if name.upper() == "RRULE":
                item.add("rrule", vRecur.from_ical(value))
            else:
                item.add(name.lower(), line_dates(line, value, params, zone))
        calendar.add_component(item)
    return calendar.to_ical()
