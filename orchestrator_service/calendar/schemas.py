"""Request and response bodies of /calendar."""

import uuid
from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from orchestrator_service.schemas import Input, Output, Patch

Status = Literal["confirmed", "tentative", "cancelled"]
EventVisibility = Literal["default", "public", "private", "confidential"]
Visibility = Literal["private", "tenant"]
Title = Annotated[str, StringConstraints(min_length=1, max_length=255)]
Line = Annotated[str, StringConstraints(min_length=1, max_length=500)]
Zone = Annotated[str, StringConstraints(min_length=1, max_length=64)]


class EventCreate(Input):
    """A new event. `start`/`end` without an offset are read in `timezone`; an all-day event
    takes dates (or date-times, whose date counts) and ends after its `end` day (default: the
    start day). `recurrence` holds iCalendar lines (RRULE, EXDATE, RDATE)."""

    title: Title
    description: Annotated[str, StringConstraints(max_length=20_000)] | None = None
    location: Annotated[str, StringConstraints(max_length=500)] | None = None
    start: datetime | date
    end: datetime | date | None = None
    timezone: Zone = "UTC"
    is_all_day: bool = False
    status: Status = "confirmed"
    event_visibility: EventVisibility = "default"
    recurrence: Annotated[list[Line], Field(max_length=20)] | None = None
    visibility: Visibility = "private"


class EventUpdate(Patch):
    """Changes to an event; omitted fields stay as they are (times are re-read together)."""

    nullable = frozenset({"description", "location", "recurrence", "end"})

    title: Title | None = None
    description: Annotated[str, StringConstraints(max_length=20_000)] | None = None
    location: Annotated[str, StringConstraints(max_length=500)] | None = None
    start: datetime | date | None = None
    end: datetime | date | None = None
    timezone: Zone | None = None
    is_all_day: bool | None = None
    status: Status | None = None
    event_visibility: EventVisibility | None = None
    recurrence: Annotated[list[Line], Field(max_length=20)] | None = None
    visibility: Visibility | None = None


class EventOut(Output):
    """An event (the first occurrence of a series when `recurrence` is set); times in UTC."""

    id: uuid.UUID
    title: str
    description: str | None
    location: str | None
    start_time: datetime
    end_time: datetime
    timezone: str
    is_all_day: bool
    status: str
    event_visibility: str
    recurrence: list[str] | None
    visibility: str
    owner_user_id: uuid.UUID | None
    provider: str
    external_id: str | None
    created_at: datetime | None
    updated_at: datetime | None


class Occurrence(Output):
    """One occurrence of an event in a range."""

    event_id: uuid.UUID
    title: str
    location: str | None
    start_time: datetime
    end_time: datetime
    timezone: str
    is_all_day: bool
    status: str
    recurring: bool


class Occurrences(Output):
    """The occurrences overlapping a range, by start; `truncated` when the cap cut them."""

    items: list[Occurrence]
    truncated: bool


class ImportResult(Output):
    """What an .ics import did: events created and updated (matched by UID), and those
    skipped with the reason."""

    created: int
    updated: int
    skipped: list[dict]
