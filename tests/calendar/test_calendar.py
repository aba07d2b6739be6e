"""Calendar: UTC storage with IANA zones, all-day events, overlap queries, bounded recurrence
(hostile RRULEs refused or cheap), .ics import/export, and create_event's confirmation."""

import httpx

from tests.helpers import Caller, error_of
from tests.workspace import member

API = "/api/v1/calendar"


async def test_times_are_stored_in_utc_and_all_day_events_span_local_days(
    client: httpx.AsyncClient, tenant_a: Caller
) -> None:
    alice = await member(client, tenant_a)
    timed = await client.post(
        f"{API}/events",
        json={"title": "Café", "start": "2026-07-01T10:00:00", "timezone": "Europe/Madrid"},
        headers=alice,
    )
    all_day = await client.post(
        f"{API}/events",
        json={
            "title": "Feria",
            "start": "2026-07-02",
            "end": "2026-07-03",
            "is_all_day": True,
            "timezone": "Europe/Madrid",
        },
        headers=alice,
    )

    assert timed.json()["start_time"].startswith("2026-07-01T08:00:00")
    assert timed.json()["end_time"].startswith("2026-07-01T09:00:00")
    assert all_day.json()["start_time"].startswith("2026-07-01T22:00:00")
    assert all_day.json()["end_time"].startswith("2026-07-03T22:00:00")


async def test_a_range_returns_events_that_overlap_it(
    client: httpx.AsyncClient, tenant_a: Caller
) -> None:
    alice = await member(client, tenant_a)
    for title, start, end in (
        ("before", "2026-05-01T08:00:00Z", "2026-05-01T09:00:00Z"),
        ("straddles", "2026-05-01T09:30:00Z", "2026-05-01T10:30:00Z"),
        ("inside", "2026-05-01T10:15:00Z", "2026-05-01T10:45:00Z"),
        ("after", "2026-05-01T11:00:00Z", "2026-05-01T12:00:00Z"),
    ):
        body = {"title": title, "start": start, "end": end}
        assert (await client.post(f"{API}/events", json=body, headers=alice)).status_code == 201
    window = {"start": "2026-05-01T10:00:00Z", "end": "2026-05-01T11:00:00Z"}

    occurrences = (await client.get(f"{API}/occurrences", params=window, headers=alice)).json()
    listed = (await client.get(f"{API}/events", params=window, headers=alice)).json()

    assert [o["title"] for o in occurrences["items"]] == ["straddles", "inside"]
    assert sorted(e["title"] for e in listed["items"]) == ["inside", "straddles"]


async def test_a_weekly_series_keeps_local_time_across_dst_and_honours_exdate(
    client: httpx.AsyncClient, tenant_a: Caller
) -> None:
    alice = await member(client, tenant_a)
    body = {
        "title": "Stand-up",
        "start": "2026-03-23T09:00:00",
        "timezone": "Europe/Madrid",
        "recurrence": [
            "RRULE:FREQ=WEEKLY;BYDAY=MO;COUNT=4",
            "EXDATE;TZID=Europe/Madrid:20260406T090000",
        ],
    }
    assert (await client.post(f"{API}/events", json=body, headers=alice)).status_code == 201
    window = {"start": "2026-03-01T00:00:00Z", "end": "2026-06-01T00:00:00Z"}

    found = (await client.get(f"{API}/occurrences", params=window, headers=alice)).json()

    starts = [o["start_time"][:19] for o in found["items"]]
    # 09:00 in Madrid: UTC+1 before 29 March, UTC+2 after; 6 April excluded; COUNT=4 ends it.
    assert starts == ["2026-03-23T08:00:00", "2026-03-30T07:00:00", "2026-04-13T07:00:00"]


async def test_hostile_rrules_are_refused_or_cost_only_the_range(
    client: httpx.AsyncClient, tenant_a: Caller
) -> None:
    """Found while probing: with dateutil, FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30 walked day by
    day to the year 9999 (tens of seconds of CPU per query), UNTIL notwithstanding."""
    alice = await member(client, tenant_a)

    def event(rule: str) -> dict:
        return {"title": "x", "start": "1900-01-01T00:00:00Z", "recurrence": [rule]}

    for rule in (
        "RRULE:FREQ=SECONDLY",
        "RRULE:FREQ=MINUTELY;INTERVAL=1",
        "RRULE:FREQ=DAILY;BYHOUR=1,2,3",
        "RRULE:FREQ=DAILY;COUNT=1000000",
        "RRULE:FREQ=YEARLY;BYSETPOS=1",
        "RRULE:FREQ=DAILY;INTERVAL=0",
        "X-EVIL:1",
        "RRULE:" + "FREQ=DAILY;" * 60,
    ):
        response = await client.post(f"{API}/events", json=event(rule), headers=alice)
        assert "recurrence" in str(error_of(response, 422)["details"]), rule
    impossible = await client.post(
        f"{API}/events", json=event("RRULE:FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30"), headers=alice
    )
    every_day = await client.post(f"{API}/events", json=event("RRULE:FREQ=DAILY"), headers=alice)
    assert impossible.status_code == every_day.status_code == 201
    window = {"start": "2150-01-01T00:00:00Z", "end": "2151-01-01T00:00:00Z", "limit": "1000"}

    found = (await client.get(f"{API}/occurrences", params=window, headers=alice)).json()

    assert len(found["items"]) == 365 and not found["truncated"]
    assert {o["event_id"] for o in found["items"]} == {every_day.json()["id"]}
    capped = {**window, "limit": "10"}
    cut = (await client.get(f"{API}/occurrences", params=capped, headers=alice)).json()
    assert len(cut["items"]) == 10 and cut["truncated"]
    too_wide = {"start": "2026-01-01T00:00:00Z", "end": "2028-01-01T00:00:00Z"}
    error_of(await client.get(f"{API}/occurrences", params=too_wide, headers=alice), 422)


async def test_ics_import_is_idempotent_and_export_round_trips(
    client: httpx.AsyncClient, tenant_a: Caller
) -> None:
    alice, bob = await member(client, tenant_a), await member(client, tenant_a)
    ics = (
        b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//t//EN\r\n"
        b"BEGIN:VEVENT\r\nUID:one@example.com\r\nSUMMARY:Dentista\r\n"
        b"DTSTART;TZID=Europe/Madrid:20260610T170000\r\nDTEND;TZID=Europe/Madrid:20260610T180000\r\n"
        b"END:VEVENT\r\n"
        b"BEGIN:VEVENT\r\nUID:two@example.com\r\nSUMMARY:Yoga\r\nDTSTART:20260601T070000Z\r\n"
        b"DURATION:PT1H\r\nRRULE:FREQ=WEEKLY;COUNT=3\r\nEND:VEVENT\r\n"
        b"BEGIN:VEVENT\r\nUID:bad@example.com\r\nSUMMARY:Bad\r\nDTSTART:20260601T070000Z\r\n"
        b"RRULE:FREQ=SECONDLY\r\nEND:VEVENT\r\n"
        b"BEGIN:VEVENT\r\nSUMMARY:No uid\r\nDTSTART:20260601T070000Z\r\nEND:VEVENT\r\n"
        b"END:VCALENDAR\r\n"
    )
    files = {"file": ("cal.ics", ics, "text/calendar")}

    first = (await client.post(f"{API}/import", files=files, headers=alice)).json()
    again = (await client.post(f"{API}/import", files=files, headers=alice)).json()

    assert (first["created"], first["updated"], len(first["skipped"])) == (2, 0, 2)
    assert (again["created"], again["updated"]) == (0, 2)
    exported = await client.get(f"{API}/export", headers=alice)
    assert exported.status_code == 200 and b"SUMMARY:Dentista" in exported.content
    assert b"RRULE:FREQ=WEEKLY" in exported.content
    assert b"Dentista" not in (await client.get(f"{API}/export", headers=bob)).content


async def test_malformed_ics_files_are_clear_4xx(
    client: httpx.AsyncClient, tenant_a: Caller
) -> None:
    alice = await member(client, tenant_a)
    for content in (
        b"not a calendar",
        b"BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\n",
        b"\xff\xfe\x00garbage",
    ):
        response = await client.post(
            f"{API}/import", files={"file": ("x.ics", content)}, headers=alice
        )
        assert response.status_code in (200, 422), response.text
        if response.status_code == 200:
            assert response.json()["created"] == 0
    error_of(
        await client.post(
            f"{API}/events",
            json={"title": "x", "start": "2026-01-01T00:00:00", "timezone": "Mars/Olympus"},
            headers=alice,
        ),
        422,
    )
    error_of(
        await client.post(
            f"{API}/events",
            json={"title": "x", "start": "2026-01-02T00:00:00Z", "end": "2026-01-01T00:00:00Z"},
            headers=alice,
        ),
        422,
    )


async def test_create_event_tool_needs_confirmation(
    client: httpx.AsyncClient, tenant_a: Caller
) -> None:
    alice = await member(client, tenant_a)
    agent = await client.post(
        "/api/v1/agents",
        json={
            "name": "cal",
            "system_prompt_template": "x",
            "enabled_tools": ["create_event", "list_events"],
        },
        headers=tenant_a.headers,
    )
    url = f"/api/v1/agents/{agent.json()['id']}/tools"
    arguments = {"title": "Cena", "start": "2030-05-05T20:00:00", "timezone": "Europe/Madrid"}

    refused = await client.post(
        f"{url}/create_event/invoke", json={"arguments": arguments}, headers=alice
    )
    error_of(refused, 409, "confirmation_required")
    assert (await client.get(f"{API}/events", headers=alice)).json()["items"] == []
    done = await client.post(
        f"{url}/create_event/invoke", json={"arguments": arguments, "confirm": True}, headers=alice
    )
    assert done.status_code == 200, done.text
    listed = await client.post(
        f"{url}/list_events/invoke",
        json={"arguments": {"start": "2030-05-01T00:00:00Z", "end": "2030-05-10T00:00:00Z"}},
        headers=alice,
    )
    assert [o["title"] for o in listed.json()["output"]["items"]] == ["Cena"]


async def test_another_members_events_are_404_and_never_listed(
    client: httpx.AsyncClient, tenant_a: Caller
) -> None:
    alice, bob = await member(client, tenant_a), await member(client, tenant_a)
    body = {"title": "Médico", "start": "2026-09-09T09:00:00Z", "recurrence": ["RRULE:FREQ=DAILY"]}
    event = (await client.post(f"{API}/events", json=body, headers=alice)).json()
    window = {"start": "2026-09-01T00:00:00Z", "end": "2026-09-30T00:00:00Z"}

    error_of(await client.get(f"{API}/events/{event['id']}", headers=bob), 404)
    error_of(
        await client.patch(f"{API}/events/{event['id']}", json={"title": "x"}, headers=bob), 404
    )
    error_of(await client.delete(f"{API}/events/{event['id']}", headers=bob), 404)
    assert (await client.get(f"{API}/occurrences", params=window, headers=bob)).json()[
        "items"
    ] == []
    assert (await client.get(f"{API}/events", headers=bob)).json()["items"] == []
    mine = (await client.get(f"{API}/occurrences", params=window, headers=alice)).json()
    assert len(mine["items"]) == 21  # 9..29 September (the range ends at the 30th's start)


async def test_a_counted_series_starting_on_29_february_ends_on_its_last_leap_day(
    client: httpx.AsyncClient, tenant_a: Caller
) -> None:
    """Found while probing: resolving COUNT searched ten years ahead with `replace(year=...)`,
    which has no 29 February in most years (a 500)."""
    alice = await member(client, tenant_a)
    body = {
        "title": "Bisiesto",
        "start": "2024-02-29T09:00:00Z",
        "recurrence": ["RRULE:FREQ=YEARLY;COUNT=3"],
    }
    created = await client.post(f"{API}/events", json=body, headers=alice)
    assert created.status_code == 201, created.text
    window = {"start": "2031-06-01T00:00:00Z", "end": "2032-06-01T00:00:00Z"}

    found = (await client.get(f"{API}/occurrences", params=window, headers=alice)).json()
    later = {"start": "2035-06-01T00:00:00Z", "end": "2036-06-01T00:00:00Z"}
    after_the_end = (await client.get(f"{API}/occurrences", params=later, headers=alice)).json()

    assert [o["start_time"][:10] for o in found["items"]] == ["2032-02-29"]
    assert after_the_end["items"] == []
