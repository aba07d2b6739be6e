"""Recurring events: the RRULE subset calendars use, expanded within a range by walking only
the rule's periods that can reach the range.

dateutil was measured unfit here: a rule whose parts never match (FREQ=DAILY;BYMONTH=2;
BYMONTHDAY=30) makes it walk day by day to the year 9999 (seconds to minutes of CPU, even with
UNTIL set, since UNTIL is checked only on matches). This expander computes which period (day,
week, month, year) is the first that can overlap a range and stops at the range's end, so its
work is bounded by the range, never by the rule or its start; COUNT is turned into the start of
its last occurrence once, within `SEARCH_YEARS`.

Accepted: FREQ=DAILY|WEEKLY|MONTHLY|YEARLY, INTERVAL, COUNT, UNTIL, BYMONTH, BYMONTHDAY,
BYDAY (with ordinals such as 1MO or -1FR in MONTHLY rules, and YEARLY rules with BYMONTH),
WKST; EXDATE and RDATE lines. Anything else is refused with a 422 that names it.
"""

import calendar as stdcalendar
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from icalendar.parser import Contentline
from icalendar.prop import vDDDLists, vRecur

from orchestrator_service.errors import InvalidInput

SEARCH_YEARS = 10
MAX_LINES = 20
MAX_RULES = 2
MAX_LINE_CHARS = 500
MAX_COUNT = 1000
MAX_INTERVAL = 1000
MAX_DATES = 500  # EXDATE and RDATE values of one series
MAX_DURATION = timedelta(days=366)
FREQUENCIES = ("DAILY", "WEEKLY", "MONTHLY", "YEARLY")
PARTS = {"FREQ", "INTERVAL", "COUNT", "UNTIL", "BYDAY", "BYMONTHDAY", "BYMONTH", "WKST"}
WEEKDAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")


def _refuse(message: str) -> InvalidInput:
    return InvalidInput(f"Recurrence: {message}", details={"field": "recurrence"})


@dataclass(frozen=True)
class Rule:
    """One RRULE, checked; `until` is a local wall-clock instant (COUNT already resolved)."""

    freq: str
    interval: int
    until: datetime | None
    months: frozenset[int]
    monthdays: frozenset[int]
    weekdays: frozenset[int]  # every such weekday of the period
    nth_weekdays: frozenset[tuple[int, int]]  # (ordinal, weekday): 1MO, -1FR
    wkst: int


@dataclass(frozen=True)
class Recurrence:
    """A series: its rules, extra dates and excluded dates (aware), and when it ends."""

    rules: tuple[Rule, ...]
    rdates: tuple[datetime, ...]
    exdates: frozenset[datetime]
    end: datetime | None  # the start of its last occurrence (None: never ends)


def _ints(values: list, high: int, name: str, *, signed: bool) -> frozenset[int]:
    """Numbers within 1..high (or -high..-1 too when `signed`)."""
    found = set()
    for value in values:
        try:
            number = int(value)
        except (TypeError, ValueError):
            raise _refuse(f"{name} holds {value!r}, not a number") from None
        if not 1 <= (abs(number) if signed else number) <= high:
            span = f"-{high}..-1 or 1..{high}" if signed else f"1..{high}"
            raise _refuse(f"{name} values must be within {span}")
        found.add(number)
    return frozenset(found)


def _byday(values: list, freq: str, months: frozenset[int]) -> tuple[frozenset, frozenset]:
    plain, nth = set(), set()
    for value in values:
        text = str(value).strip().upper()
        day, ordinal = text[-2:], text[:-2]
        if day not in WEEKDAYS:
            raise _refuse(f"BYDAY value {text!r} is not a weekday (MO..SU, optionally 1MO, -1FR)")
        if not ordinal:
            plain.add(WEEKDAYS.index(day))
            continue
        if freq not in ("MONTHLY", "YEARLY") or (freq == "YEARLY" and not months):
            raise _refuse("BYDAY ordinals (1MO, -1FR) need FREQ=MONTHLY, or YEARLY with BYMONTH")
        try:
            number = int(ordinal)
        except ValueError:
            raise _refuse(f"BYDAY value {text!r} has no valid ordinal") from None
        if not 1 <= abs(number) <= 5:
            raise _refuse("BYDAY ordinals must be within -5..5, not 0")
        nth.add((number, WEEKDAYS.index(day)))
    return frozenset(plain), frozenset(nth)


def _rule(value: str, start: datetime, zone: ZoneInfo, known_end: datetime | None) -> Rule:
    """One RRULE, checked, its COUNT resolved into UNTIL (`known_end`, when the series' end
    was resolved before, spares the walk)."""
    try:
        recur = vRecur.from_ical(value)
    except (ValueError, TypeError, KeyError):
        raise _refuse(f"{value[:80]!r} is not a valid RRULE") from None
    parts = {str(k).upper(): v for k, v in recur.items()}
    unknown = set(parts) - PARTS
    if unknown:
        raise _refuse(
            f"{', '.join(sorted(unknown))} not supported (supported: {', '.join(sorted(PARTS))})"
        )
    freq = str((parts.get("FREQ") or [""])[0]).upper()
    if freq not in FREQUENCIES:
        raise _refuse("FREQ must be DAILY, WEEKLY, MONTHLY or YEARLY")
    numbers = {}
    for name, limit in (("INTERVAL", MAX_INTERVAL), ("COUNT", MAX_COUNT)):
        raw = (parts.get(name) or [None])[0]
        if raw is not None and not (isinstance(raw, int) and 1 <= raw <= limit):
            raise _refuse(f"{name} must be a whole number from 1 to {limit}")
        numbers[name] = raw
    if numbers["COUNT"] is not None and "UNTIL" in parts:
        raise _refuse("COUNT and UNTIL cannot both be given")
    months = _ints(parts.get("BYMONTH", []), 12, "BYMONTH", signed=False)
    monthdays = _ints(parts.get("BYMONTHDAY", []), 31, "BYMONTHDAY", signed=True)
    if monthdays and freq == "WEEKLY":
        raise _refuse("BYMONTHDAY cannot be used with FREQ=WEEKLY")
    weekdays, nth = _byday(parts.get("BYDAY", []), freq, months)
    wkst_text = str((parts.get("WKST") or ["MO"])[0]).upper()
    if wkst_text not in WEEKDAYS:
        raise _refuse("WKST must be a weekday (MO..SU)")
    until = _until((parts.get("UNTIL") or [None])[0], start, zone)
    local = start.astimezone(zone).replace(tzinfo=None)
    if freq == "WEEKLY" and not weekdays:
        weekdays = frozenset({local.weekday()})
    rule = Rule(
        freq,
        numbers["INTERVAL"] or 1,
        until,
        months,
        monthdays,
        weekdays,
        nth,
        WEEKDAYS.index(wkst_text),
    )
    if numbers["COUNT"] is not None and known_end is not None:
        rule = replace(rule, until=known_end.astimezone(zone).replace(tzinfo=None))
    elif numbers["COUNT"] is not None:
        # Not local.replace(year=...): a series starting on 29 February has no such day then.
        horizon = local + timedelta(days=366 * SEARCH_YEARS)
        last = None
        for index, occurrence in enumerate(_walk(rule, local, local, horizon)):
            last = occurrence
            if index + 1 >= numbers["COUNT"]:
                break
        rule = replace(rule, until=last or local)
    return rule


def _until(raw: object, start: datetime, zone: ZoneInfo) -> datetime | None:
    """UNTIL as a local wall-clock instant: a UTC time converted, a floating one or a date
    read in the event's zone (a date includes its whole day)."""
    if raw is None:
        return None
    if isinstance(raw, datetime):
        if raw.tzinfo is not None:
            return raw.astimezone(zone).replace(tzinfo=None)
        return raw
    if isinstance(raw, date):
        return datetime.combine(raw, time(23, 59, 59))
    raise _refuse("UNTIL is not a date or a date-time")


def line_dates(line: str, value: str, params: dict, zone: ZoneInfo) -> list[datetime]:
    """The dates of an EXDATE or RDATE line (aware; a date is its midnight in `zone`)."""
    try:
        parsed = vDDDLists.from_ical(value, params.get("TZID"))
    except (ValueError, TypeError, KeyError):
        raise _refuse(f"{line[:80]!r} holds no valid dates") from None
    found = []
    for item in parsed:
        if isinstance(item, datetime):
            found.append(item if item.tzinfo else item.replace(tzinfo=zone))
        elif isinstance(item, date):
            found.append(datetime(item.year, item.month, item.day, tzinfo=zone))
        else:
            raise _refuse(f"{line[:80]!r}: periods are not supported")
    return found


def parse(
    lines: list[str],
    start: datetime,
    zone: ZoneInfo,
    duration: timedelta,
    known_end: datetime | None = None,
) -> Recurrence:
    """Check and parse a series' iCalendar lines (RRULE, EXDATE, RDATE) for an event starting
    at `start` in `zone`, or `InvalidInput` saying what is wrong. `known_end` is the series'
    end as parsed before (a stored `recurrence_end`)."""
    if len(lines) > MAX_LINES:
        raise _refuse(f"at most {MAX_LINES} lines")
    names = [line.partition(":")[0].partition(";")[0].upper() for line in lines]
    if names.count("RRULE") > MAX_RULES:
        raise _refuse(f"at most {MAX_RULES} RRULE lines")
    # The stored end is the single COUNT rule's last occurrence only without RDATEs after it.
    if names.count("RRULE") != 1 or "RDATE" in names:
        known_end = None
    if duration > MAX_DURATION:
        raise _refuse("a recurring event may last at most 366 days")
    rules: list[Rule] = []
    rdates: list[datetime] = []
    exdates: list[datetime] = []
    for line in lines:
        if len(line) > MAX_LINE_CHARS:
            raise _refuse(f"a line is longer than {MAX_LINE_CHARS} characters")
        try:
            name, params, value = Contentline(line).parts()
        except ValueError:
            raise _refuse(f"{line[:80]!r} is not an iCalendar line (NAME:VALUE)") from None
        name = name.upper()
        if name == "RRULE":
            rules.append(_rule(value, start, zone, known_end))
        elif name in ("EXDATE", "RDATE"):
            (exdates if name == "EXDATE" else rdates).extend(line_dates(line, value, params, zone))
        else:
            raise _refuse(f"{name} lines are not supported (RRULE, EXDATE and RDATE are)")
        if len(rdates) + len(exdates) > MAX_DATES:
            raise _refuse(f"at most {MAX_DATES} EXDATE and RDATE values")
    if not rules and not rdates:
        raise _refuse("no RRULE or RDATE line")
    end = None
    if all(r.until is not None for r in rules):
        local_ends = [r.until.replace(tzinfo=zone) for r in rules if r.until is not None]
        end = max([*local_ends, *rdates, start])
    return Recurrence(tuple(rules), tuple(rdates), frozenset(exdates), end)


def _month_days(rule: Rule, year: int, month: int, default_day: int) -> list[int]:
    """The days of one month a MONTHLY (or YEARLY) rule picks."""
    length = stdcalendar.monthrange(year, month)[1]
    by_monthday = {d if d > 0 else length + d + 1 for d in rule.monthdays}
    if rule.weekdays or rule.nth_weekdays:
        first = date(year, month, 1).weekday()
        by_weekday = {d for d in range(1, length + 1) if (first + d - 1) % 7 in rule.weekdays}
        for ordinal, weekday in rule.nth_weekdays:
            matches = [d for d in range(1, length + 1) if (first + d - 1) % 7 == weekday]
            if ordinal <= len(matches):
                by_weekday.add(matches[ordinal - 1] if ordinal > 0 else matches[ordinal])
        days = by_weekday & by_monthday if rule.monthdays else by_weekday
    elif rule.monthdays:
        days = by_monthday
    else:
        days = {default_day}
    return sorted(d for d in days if 1 <= d <= length)


def _period_dates(rule: Rule, index: int, first: date) -> Iterator[date]:
    """The dates period `index` of the rule picks (period 0 holds the series' first date)."""
    if rule.freq == "DAILY":
        day = first + timedelta(days=index * rule.interval)
        keep = (not rule.months or day.month in rule.months) and (
            not rule.weekdays or day.weekday() in rule.weekdays
        )
        if keep and rule.monthdays:
            length = stdcalendar.monthrange(day.year, day.month)[1]
            keep = day.day in {d if d > 0 else length + d + 1 for d in rule.monthdays}
        if keep:
            yield day
    elif rule.freq == "WEEKLY":
        week = first - timedelta(days=(first.weekday() - rule.wkst) % 7)
        week += timedelta(weeks=index * rule.interval)
        for offset in range(7):
            day = week + timedelta(days=offset)
            if day.weekday() in rule.weekdays and (not rule.months or day.month in rule.months):
                yield day
    elif rule.freq == "MONTHLY":
        serial = first.year * 12 + first.month - 1 + index * rule.interval
        year, month = divmod(serial, 12)
        if 1 <= year <= 9999 and (not rule.months or month + 1 in rule.months):
            for d in _month_days(rule, year, month + 1, first.day):
                yield date(year, month + 1, d)
    else:
        year = first.year + index * rule.interval
        if not 1 <= year <= 9999:
            return
        if rule.months:
            months = sorted(rule.months)
        elif rule.monthdays or rule.weekdays:
            months = list(range(1, 13))
        else:
            months = [first.month]
        for month in months:
            for d in _month_days(rule, year, month, first.day):
                yield date(year, month, d)


def _first_index(rule: Rule, first: date, earliest: date) -> int:
    """The first period that can hold a date on or after `earliest`."""
    if earliest <= first:
        return 0
    if rule.freq == "DAILY":
        return (earliest - first).days // rule.interval
    if rule.freq == "WEEKLY":
        week = first - timedelta(days=(first.weekday() - rule.wkst) % 7)
        return (earliest - week).days // (7 * rule.interval)
    if rule.freq == "MONTHLY":
        months = (earliest.year - first.year) * 12 + earliest.month - first.month
        return months // rule.interval
    return (earliest.year - first.year) // rule.interval


def _walk(
    rule: Rule, local_start: datetime, earliest: datetime, last: datetime
) -> Iterator[datetime]:
    """The rule's occurrences (local wall-clock) from `earliest` to `last`, in order; only the
    periods between the two are visited."""
    first = local_start.date()
    stop = min(last, rule.until) if rule.until is not None else last
    index = _first_index(rule, first, earliest.date())
    while True:
        dates = list(_period_dates(rule, index, first))
        period_started = False
        for day in dates:
            occurrence = datetime.combine(day, local_start.time())
            if occurrence > stop:
                return
            period_started = True
            if occurrence >= local_start and occurrence >= earliest:
                yield occurrence
        if not period_started and _period_start(rule, index, first) > stop.date():
            return
        index += 1


def _period_start(rule: Rule, index: int, first: date) -> date:
    """The first day of period `index`."""
    if rule.freq == "DAILY":
        return first + timedelta(days=index * rule.interval)
    if rule.freq == "WEEKLY":
        week = first - timedelta(days=(first.weekday() - rule.wkst) % 7)
        return week + timedelta(weeks=index * rule.interval)
    if rule.freq == "MONTHLY":
        year, month = divmod(first.year * 12 + first.month - 1 + index * rule.interval, 12)
        return date(min(year, 9999), month + 1, 1) if year >= 1 else date.max
    year = first.year + index * rule.interval
    return date(year, 1, 1) if year <= 9999 else date.max


def _overlaps(occurrence: datetime, duration: timedelta, range_start: datetime) -> bool:
    """True when an occurrence ends after the range starts (or, lasting no time, is in it)."""
    return occurrence >= range_start or occurrence + duration > range_start


@dataclass(frozen=True)
class Expansion:
    """The occurrence starts in a range, and whether the cap cut them short."""

    starts: list[datetime]
    truncated: bool


def expand(
    series: Recurrence,
    start: datetime,
    zone: ZoneInfo,
    duration: timedelta,
    range_start: datetime,
    range_end: datetime,
    *,
    limit: int,
) -> Expansion:
    """The starts (aware, in `zone`) of the occurrences overlapping [range_start, range_end),
    at most `limit`."""
    local_start = start.astimezone(zone).replace(tzinfo=None)
    # Local wall-clock bounds a day wider than the range: offsets differ by less than a day.
    earliest = (range_start - duration).astimezone(zone).replace(tzinfo=None) - timedelta(days=1)
    last = range_end.astimezone(zone).replace(tzinfo=None) + timedelta(days=1)
    candidates = [start, *series.rdates]
    for rule in series.rules:
        for occurrence in _walk(rule, local_start, max(earliest, local_start), last):
            candidates.append(occurrence.replace(tzinfo=zone))
            if len(candidates) > 4 * limit + len(series.rdates) + 1:
                break
    found = {
        c
        for c in candidates
        if c < range_end and _overlaps(c, duration, range_start) and c not in series.exdates
    }
    ordered = sorted(found)
    return Expansion(ordered[:limit], len(ordered) > limit)
