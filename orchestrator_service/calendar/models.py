"""Calendar events (seed 001's `calendar_events`): stored in UTC with the IANA zone they were
written in; local ones and those a provider sync writes (Google, Outlook, an .ics import)."""

import uuid
from datetime import datetime

from sqlalchemy import (
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from orchestrator_service.db.base import Base, TimestampMixin, UserOwnedMixin

STATUSES = ("confirmed", "tentative", "cancelled")
# The event's own classification (iCalendar CLASS, Google's `visibility`), not who may read
# the row: that is `visibility` ('private' | 'tenant') from UserOwnedMixin.
EVENT_VISIBILITIES = ("default", "public", "private", "confidential")


class CalendarEvent(UserOwnedMixin, TimestampMixin, Base):
    """One event, or the first occurrence of a recurring series (`recurrence`)."""

    __tablename__ = "calendar_events"
    __table_args__ = (
        # A sync (or an .ics import) upserts on this: one row per item of the provider.
        UniqueConstraint("tenant_id", "owner_user_id", "provider", "external_id"),
        Index(None, "tenant_id", "owner_user_id", "start_time"),
        Index(None, "tenant_id", "owner_user_id", "end_time"),
    )

    id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), primary_key=True, server_default=text("gen_random_uuid()")
    )
    tenant_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("tenants.id"), nullable=False, index=True
    )
    # Which integration synced it (None: made here or imported from a file).
    integration_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), index=True)
    # 'local', 'ical', 'google', 'outlook'.
    provider: Mapped[str] = mapped_column(String(32), nullable=False, server_default="local")
    external_id: Mapped[str | None] = mapped_column(String(255))
    external_calendar_id: Mapped[str | None] = mapped_column(String(255))
    etag: Mapped[str | None] = mapped_column(String(255))
    ical_uid: Mapped[str | None] = mapped_column(String(255))
    title: Mapped[str] = mapped_column(String(255), nullable=False)
    description: Mapped[str | None] = mapped_column(Text)
    location: Mapped[str | None] = mapped_column(String(500))
    # UTC instants; an all-day event runs from midnight of its first day to midnight after
    # its last one, in `timezone`.
    start_time: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    end_time: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    timezone: Mapped[str] = mapped_column(String(64), nullable=False, server_default="UTC")
    is_all_day: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("false"))
    status: Mapped[str] = mapped_column(String(20), nullable=False, server_default="confirmed")
    event_visibility: Mapped[str] = mapped_column(
        String(20), nullable=False, server_default="default"
    )
    # iCalendar lines as Google gives them: ["RRULE:FREQ=WEEKLY;BYDAY=MO", "EXDATE:..."].
    recurrence: Mapped[list[str] | None] = mapped_column(ARRAY(Text))
    # When the series ends (None: never, or not recurring): range queries skip ended series.
    recurrence_end: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # A provider's changed occurrence of a series: the series' external id and the start the
    # occurrence had.
    recurring_event_id: Mapped[str | None] = mapped_column(String(255))
    original_start_time: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    organizer: Mapped[str | None] = mapped_column(String(320))
    attendees: Mapped[list | None] = mapped_column(JSONB)
