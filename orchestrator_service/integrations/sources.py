"""Reading each provider incrementally, one page per call, from a cursor that says where the
last page ended:

- Gmail by `historyId`: a full listing (users.messages.list, each message by messages.get
  format=raw) starts from the profile's historyId; later syncs read users.history.list from
  it. A history id too old (404) means a full resync.
- Google Calendar by `syncToken`: events.list pages, the last one carrying nextSyncToken;
  `cancelled` events are deleted; 410 GONE means a full resync.
- Microsoft Graph by delta links: messages/delta and calendarView/delta pages follow
  @odata.nextLink to the @odata.deltaLink; `@removed` items are deleted. Links are followed
  only under the configured Graph base URL.

A provider that lies (a page bigger than asked, a page token it already gave, items of the
wrong shape) gets `IntegrationFailed`, never a loop or a crash.
"""

import base64
import binascii
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from email import policy
from email.parser import BytesParser
from email.utils import getaddresses, parsedate_to_datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from orchestrator_service.integrations.client import ApiClient, Gone, IntegrationFailed
from orchestrator_service.integrations.items import EventItem, MailItem, Page

GMAIL_PAGE = 100
CALENDAR_PAGE = 250
GRAPH_PAGE = 50
# More items on one page than any provider sends when asked for the sizes above.
MAX_ITEMS_PER_PAGE = 1000
MAX_TEXT = 1_000_000
# Outlook's calendarView/delta needs a window: this far back and ahead of the first sync.
CALENDAR_WINDOW = (timedelta(days=365), timedelta(days=2 * 365))

Source = Callable[[ApiClient, dict], Awaitable[Page]]


def _text(value: Any, limit: int = MAX_TEXT) -> str:
    """A provider's string as PostgreSQL can store it (no NUL), bounded."""
    return value.replace("\x00", "")[:limit] if isinstance(value, str) else ""


def _dict(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def _strings(value: Any) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def _dicts(value: Any) -> list[dict]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _items(data: dict, key: str, host: str) -> list[dict]:
    items = data.get(key, [])
    if not isinstance(items, list):
        raise IntegrationFailed(f"The API at {host} answered a page whose {key!r} is not a list")
    if len(items) > MAX_ITEMS_PER_PAGE:
        raise IntegrationFailed(
            f"The API at {host} answered {len(items)} items on one page (at most "
            f"{MAX_ITEMS_PER_PAGE} are accepted)"
        )
    return _dicts(items)


def _token(value: Any) -> str | None:
    return value if isinstance(value, str) and 0 < len(value) <= 4096 else None


def _next_page(cursor: dict, token: str | None, host: str) -> str | None:
    """The next page token, refused when the provider hands back one it already gave."""
    if token is None:
        return None
    seen = cursor.setdefault("seen_pages", [])
    if token in seen:
        raise IntegrationFailed(
            f"The API at {host} handed back a page token it had already given (a loop)"
        )
    seen.append(token)
    del seen[:-50]
    return token


def _host(api: ApiClient) -> str:
    return api.host


# --- Gmail ---------------------------------------------------------------------------------


def _parse_raw(raw: str) -> dict:
    """Subject, sender, recipients, date and text body of a base64url RFC 822 message."""
    try:
        data = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4))
    except (binascii.Error, ValueError):
        return {}
    try:
        message = BytesParser(policy=policy.default).parsebytes(data)
        parsed: dict[str, Any] = {
            "subject": str(message.get("subject", "")),
            "sender": str(message.get("from", "")),
            "recipients": [
                addr
                for _, addr in getaddresses([str(v) for v in message.get_all("to", [])])
                if addr
            ],
        }
        part = message.get_body(preferencelist=("plain", "html"))
        content = part.get_content() if part is not None else ""
        parsed["body"] = content if isinstance(content, str) else ""
    except Exception:  # the stdlib parser's failures on hostile mail are no closed set
        return {}
    try:
        sent_at = parsedate_to_datetime(str(message.get("date", "")))
        parsed["sent_at"] = sent_at if sent_at.tzinfo else sent_at.replace(tzinfo=UTC)
    except (TypeError, ValueError, IndexError):
        parsed["sent_at"] = None
    return parsed


async def _gmail_message(api: ApiClient, message_id: str) -> MailItem | None:
    """One message by id (format=raw); None when it is gone meanwhile."""
    try:
        data = await api.get(
            f"{api.base}/users/me/messages/{_path_id(message_id)}", {"format": "raw"}
        )
    except IntegrationFailed as exc:
        if isinstance(exc.details, dict) and exc.details.get("status") == 404:
            return None
        raise
    parsed = _parse_raw(data["raw"]) if isinstance(data.get("raw"), str) else {}
    labels = [_text(label, 100) for label in _strings(data.get("labelIds"))]
    sent_at = parsed.get("sent_at")
    if sent_at is None and str(data.get("internalDate", "")).isdigit():
        sent_at = datetime.fromtimestamp(int(data["internalDate"]) / 1000, UTC)
    return MailItem(
        external_id=message_id,
        thread_id=_text(data.get("threadId"), 200) or None,
        subject=_text(parsed.get("subject"), 1000),
        sender=_text(parsed.get("sender"), 1000),
        recipients=[_text(r, 320) for r in parsed.get("recipients", [])][:100],
        sent_at=sent_at,
        body=_text(parsed.get("body")) or _text(data.get("snippet")),
        labels=labels[:100],
        is_read="UNREAD" not in labels,
        is_important="IMPORTANT" in labels or "STARRED" in labels,
    )


def _path_id(value: str) -> str:
    """A provider id as one path segment (ids are URL-safe; anything else is refused)."""
    if not value or len(value) > 512 or not all(c.isalnum() or c in "-_=.@+" for c in value):
        raise IntegrationFailed("The API answered an item id that is not a plain id")
    return value


async def gmail(api: ApiClient, cursor: dict) -> Page:
    """One page of Gmail: a full listing, or the history since `position`."""
    host = _host(api)
    page = Page(cursor=cursor)
    if cursor.get("mode") != "incremental":
        page.full = True
        if cursor.get("page") is None and cursor.get("pending_position") is None:
            profile = await api.get(f"{api.base}/users/me/profile")
            cursor["pending_position"] = _token(str(profile.get("historyId", ""))) or None
        params: dict[str, Any] = {"maxResults": GMAIL_PAGE}
        if cursor.get("page"):
            params["pageToken"] = cursor["page"]
        data = await api.get(f"{api.base}/users/me/messages", params)
        for entry in _items(data, "messages", host):
            message_id = _token(entry.get("id"))
            if message_id is None:
                continue
            item = await _gmail_message(api, message_id)
            if item is not None:
                page.items.append(item)
        cursor["page"] = _next_page(cursor, _token(data.get("nextPageToken")), host)
        if cursor["page"] is None:
            cursor.update(
                mode="incremental", position=cursor.pop("pending_position", None), page=None
            )
            page.done = True
        return page
    if not cursor.get("position"):
        raise Gone()
    params = {
        "startHistoryId": cursor["position"],
        "historyTypes": ["messageAdded", "messageDeleted", "labelAdded", "labelRemoved"],
    }
    if cursor.get("page"):
        params["pageToken"] = cursor["page"]
    try:
        data = await api.get(f"{api.base}/users/me/history", params)
    except IntegrationFailed as exc:
        # Gmail answers 404 for a startHistoryId it no longer keeps: a full resync.
        if isinstance(exc.details, dict) and exc.details.get("status") == 404:
            raise Gone() from None
        raise
    changed: dict[str, bool] = {}  # message id -> still there
    for record in _items(data, "history", host):
        for key in ("messagesAdded", "labelsAdded", "labelsRemoved"):
            for entry in _dicts(record.get(key)):
                message_id = _token(_dict(entry.get("message")).get("id"))
                if message_id is not None:
                    changed.setdefault(message_id, True)
        for entry in _dicts(record.get("messagesDeleted")):
            message_id = _token(_dict(entry.get("message")).get("id"))
            if message_id is not None:
                changed[message_id] = False
    if len(changed) > MAX_ITEMS_PER_PAGE:
        raise IntegrationFailed(f"The API at {host} answered too many changes on one page")
    for message_id, present in changed.items():
        item = await _gmail_message(api, message_id) if present else None
        if item is None:
            page.removed.append(message_id)
        else:
            page.items.append(item)
    cursor["page"] = _next_page(cursor, _token(data.get("nextPageToken")), host)
    if cursor["page"] is None:
        cursor["position"] = _token(str(data.get("historyId", ""))) or cursor["position"]
        page.done = True
    return page


# --- Google Calendar ------------------------------------------------------------------------


def _zone(name: Any) -> ZoneInfo | None:
    if not isinstance(name, str) or not name or len(name) > 64:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def _when(value: Any, zone: ZoneInfo | None) -> tuple[datetime, bool] | None:
    """A Google or Graph start/end: (UTC time, all-day) or None when unreadable."""
    if not isinstance(value, dict):
        return None
    zone = _zone(value.get("timeZone")) or zone or ZoneInfo("UTC")
    text = value.get("dateTime")
    all_day = False
    if not isinstance(text, str) and isinstance(value.get("date"), str):
        text, all_day = value["date"], True
    if not isinstance(text, str) or len(text) > 64:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        # Graph sends seven fractional digits, which fromisoformat refuses before 3.11.
        try:
            moment = datetime.fromisoformat(text[:26])
        except ValueError:
            return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    return moment.astimezone(UTC), all_day


def _event(
    external_id: str, fields: dict[str, Any], start: Any, end: Any, zone_name: Any
) -> EventItem | None:
    zone = _zone(zone_name)
    began, ended = _when(start, zone), _when(end, zone)
    if began is None or ended is None:
        return None
    return EventItem(
        external_id=external_id,
        title=_text(fields.get("title"), 1000),
        description=_text(fields.get("description")),
        location=_text(fields.get("location"), 1000),
        starts_at=began[0],
        ends_at=max(ended[0], began[0]),
        all_day=began[1] or bool(fields.get("all_day")),
        timezone=zone.key if zone is not None else "UTC",
        status=_text(fields.get("status"), 32) or "confirmed",
    )


async def google_calendar(api: ApiClient, cursor: dict) -> Page:
    """One page of the primary calendar's events: all of them, or the changes since the
    sync token."""
    host = _host(api)
    page = Page(cursor=cursor, full=cursor.get("mode") != "incremental")
    params: dict[str, Any] = {"maxResults": CALENDAR_PAGE}
    if not page.full:
        if not cursor.get("position"):
            raise Gone()
        params["syncToken"] = cursor["position"]
    if cursor.get("page"):
        params["pageToken"] = cursor["page"]
    data = await api.get(f"{api.base}/calendars/primary/events", params)
    default_zone = data.get("timeZone")
    for entry in _items(data, "items", host):
        event_id = _token(entry.get("id"))
        if event_id is None:
            continue
        if entry.get("status") == "cancelled":
            page.removed.append(event_id)
            continue
        item = _event(
            event_id,
            {
                "title": entry.get("summary"),
                "description": entry.get("description"),
                "location": entry.get("location"),
                "status": entry.get("status"),
            },
            entry.get("start"),
            entry.get("end"),
            _dict(entry.get("start")).get("timeZone") or default_zone,
        )
        if item is not None:
            page.items.append(item)
    cursor["page"] = _next_page(cursor, _token(data.get("nextPageToken")), host)
    if cursor["page"] is None:
        sync_token = _token(data.get("nextSyncToken"))
        if sync_token is None:
            raise IntegrationFailed(f"The API at {host} ended a listing without nextSyncToken")
        cursor.update(mode="incremental", position=sync_token)
        page.done = True
    return page


# --- Microsoft Graph ------------------------------------------------------------------------

_MAIL_FIELDS = (
    "subject,from,toRecipients,receivedDateTime,body,bodyPreview,isRead,importance,"
    "conversationId,categories"
)


def _address(value: Any) -> str:
    email = _dict(_dict(value).get("emailAddress"))
    name, address = _text(email.get("name"), 300), _text(email.get("address"), 320)
    return f"{name} <{address}>" if name and address else address or name


def _graph_mail(entry: dict, external_id: str) -> MailItem:
    body = _dict(entry.get("body"))
    received = entry.get("receivedDateTime")
    when = _when({"dateTime": received, "timeZone": "UTC"}, None) if received else None
    categories = [_text(c, 100) for c in _strings(entry.get("categories"))]
    return MailItem(
        external_id=external_id,
        thread_id=_text(entry.get("conversationId"), 200) or None,
        subject=_text(entry.get("subject"), 1000),
        sender=_address(entry.get("from")),
        recipients=[_address(r) for r in _dicts(entry.get("toRecipients"))][:100],
        sent_at=when[0] if when else None,
        body=_text(body.get("content")) or _text(entry.get("bodyPreview")),
        labels=categories[:100],
        is_read=bool(entry.get("isRead")),
        is_important=entry.get("importance") == "high",
    )


def _graph_event(entry: dict, external_id: str) -> EventItem | None:
    location = _dict(entry.get("location"))
    return _event(
        external_id,
        {
            "title": entry.get("subject"),
            "description": entry.get("bodyPreview"),
            "location": location.get("displayName"),
            "status": "cancelled" if entry.get("isCancelled") else "confirmed",
            "all_day": entry.get("isAllDay"),
        },
        entry.get("start"),
        entry.get("end"),
        (entry.get("originalStartTimeZone") or None),
    )


async def _graph_delta(api: ApiClient, cursor: dict, first: tuple[str, dict]) -> Page:
    """One page of a Graph delta query, started at `first` (url, params) on a full sync."""
    host = _host(api)
    page = Page(cursor=cursor, full=cursor.get("mode") != "incremental")
    link = cursor.get("page") or (None if page.full else cursor.get("position"))
    if link is None and not page.full:
        raise Gone()
    if link is not None and not api.within(link):
        raise IntegrationFailed(
            f"The API at {host} handed back a link outside its configured base URL"
        )
    url, params = (link, None) if link is not None else first
    data = await api.get(url, params)
    for entry in _items(data, "value", host):
        item_id = _token(entry.get("id"))
        if item_id is None:
            continue
        if "@removed" in entry:
            page.removed.append(item_id)
            continue
        item = (
            _graph_mail(entry, item_id)
            if api.kind == "outlook_mail"
            else _graph_event(entry, item_id)
        )
        if item is None or (isinstance(item, EventItem) and item.status == "cancelled"):
            page.removed.append(item_id)
        else:
            page.items.append(item)
    next_link = _token(data.get("@odata.nextLink"))
    delta_link = _token(data.get("@odata.deltaLink"))
    cursor["page"] = _next_page(cursor, next_link, host)
    if cursor["page"] is None:
        if delta_link is None:
            raise IntegrationFailed(f"The API at {host} ended a delta round without a deltaLink")
        cursor.update(mode="incremental", position=delta_link)
        page.done = True
    return page


async def outlook_mail(api: ApiClient, cursor: dict) -> Page:
    """One page of the inbox's message delta."""
    first = (
        f"{api.base}/me/mailFolders/inbox/messages/delta",
        {"$select": _MAIL_FIELDS, "$top": GRAPH_PAGE},
    )
    return await _graph_delta(api, cursor, first)


async def outlook_calendar(api: ApiClient, cursor: dict) -> Page:
    """One page of the calendar view's delta, over a window around the first sync."""
    now = datetime.now(UTC).replace(microsecond=0)
    window = {
        "startDateTime": (now - CALENDAR_WINDOW[0]).isoformat().replace("+00:00", "Z"),
        "endDateTime": (now + CALENDAR_WINDOW[1]).isoformat().replace("+00:00", "Z"),
    }
    return await _graph_delta(api, cursor, (f"{api.base}/me/calendarView/delta", window))


SOURCES: dict[str, Source] = {
    "gmail": gmail,
    "google_calendar": google_calendar,
    "outlook_mail": outlook_mail,
    "outlook_calendar": outlook_calendar,
}
