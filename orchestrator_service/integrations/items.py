"""What a sync brings home, whatever the provider: mail messages and calendar events in one
shape each, and a page of them with the cursor reached after it."""

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class MailItem:
    """One mail message of the provider."""

    external_id: str
    thread_id: str | None
    subject: str
    sender: str
    recipients: list[str]
    sent_at: datetime | None
    body: str
    labels: list[str]
    is_read: bool
    is_important: bool


@dataclass(frozen=True)
class EventItem:
    """One calendar event of the provider (times in UTC; `timezone` is the event's own)."""

    external_id: str
    title: str
    description: str
    location: str
    starts_at: datetime
    ends_at: datetime
    all_day: bool
    timezone: str
    status: str


@dataclass
class Page:
    """One page of a sync: items to store, provider ids deleted there, and the cursor after it
    (`done`: the provider has nothing more; `full`: the page belongs to a full listing)."""

    items: list[MailItem | EventItem] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    cursor: dict = field(default_factory=dict)
    done: bool = False
    full: bool = False
