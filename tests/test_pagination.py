"""Keyset pagination through HTTP: every item once, newest first, across pages; bad params 422."""

import base64
import json

import httpx
from sqlalchemy.engine import URL

from tests.helpers import Caller, all_pages, create_key, create_user, outcome, sql

USERS = "/api/v1/users"


def _cursor(value: object) -> str:
    """A cursor in the service's encoding, wrapping any JSON value."""
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


async def test_pages_hold_every_user_once_newest_first(
    client: httpx.AsyncClient, tenant_a: Caller
) -> None:
    made = [await create_user(client, tenant_a.headers, f"u{n}@example.com") for n in range(7)]

    sizes, cursor, seen = [], None, []
    while True:
        params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = (await client.get(USERS, params=params, headers=tenant_a.headers)).json()
        sizes.append(len(page["items"]))
        seen.extend(u["id"] for u in page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            break

    assert sizes == [3, 3, 1]
    assert seen == [u["id"] for u in reversed(made)]
    whole = (await client.get(USERS, params={"limit": 200}, headers=tenant_a.headers)).json()
    assert [u["id"] for u in whole["items"]] == seen and whole["next_cursor"] is None


async def test_an_exact_last_page_has_no_next_cursor(
    client: httpx.AsyncClient, tenant_a: Caller
) -> None:
    for n in range(4):
        await create_user(client, tenant_a.headers, f"e{n}@example.com")

    first = (await client.get(USERS, params={"limit": 2}, headers=tenant_a.headers)).json()
    second = (
        await client.get(
            USERS, params={"limit": 2, "cursor": first["next_cursor"]}, headers=tenant_a.headers
        )
    ).json()

    assert len(first["items"]) == len(second["items"]) == 2
    assert second["next_cursor"] is None


async def test_a_cursor_survives_inserts_between_pages(
    client: httpx.AsyncClient, tenant_a: Caller
) -> None:
    made = [await create_user(client, tenant_a.headers, f"s{n}@example.com") for n in range(6)]
    first = (await client.get(USERS, params={"limit": 3}, headers=tenant_a.headers)).json()

    newer = [await create_user(client, tenant_a.headers, f"late{n}@example.com") for n in range(2)]
    rest = await all_pages(client, USERS, tenant_a.headers, limit=3, cursor=first["next_cursor"])

    ids = [u["id"] for u in first["items"]] + [u["id"] for u in rest]
    assert ids == [u["id"] for u in reversed(made)]
    assert not {u["id"] for u in newer} & set(ids)


async def test_rows_created_at_the_same_instant_are_neither_skipped_nor_repeated(
    client: httpx.AsyncClient, tenant_a: Caller, fresh_db: URL
) -> None:
    await sql(
        fresh_db,
        "INSERT INTO users (tenant_id, email) "
        "SELECT $1, 'tie' || g || '@example.com' FROM generate_series(1, 5) AS g",
        tenant_a.tenant_id,
    )

    paged = await all_pages(client, USERS, tenant_a.headers, limit=2)

    rows = await sql(fresh_db, "SELECT id::text AS id FROM users ORDER BY id DESC")
    assert len({u["created_at"] for u in paged}) == 1
    assert [u["id"] for u in paged] == [r["id"] for r in rows]


async def test_api_keys_and_tenants_page_the_same_way(
    client: httpx.AsyncClient, tenant_a: Caller, platform_admin: Caller
) -> None:
    keys = [await create_key(client, tenant_a.headers, f"k{n}") for n in range(4)]
    tenants = [
        (
            await client.post(
                "/api/v1/tenants", json={"name": f"t{n}"}, headers=platform_admin.headers
            )
        ).json()
        for n in range(3)
    ]

    paged_keys = await all_pages(client, "/api/v1/api-keys", tenant_a.headers, limit=2)
    paged_tenants = await all_pages(client, "/api/v1/tenants", platform_admin.headers, limit=1)

    assert [k["id"] for k in paged_keys][:4] == [k["id"] for k in reversed(keys)]
    assert [k["name"] for k in paged_keys][4:] == ["first admin key"]
    assert [t["id"] for t in paged_tenants] == [
        *(t["id"] for t in reversed(tenants)),
        tenant_a.tenant_id,
    ]


async def test_bad_pagination_parameters_are_422_everywhere(
    lenient_client: httpx.AsyncClient, tenant_a: Caller, platform_admin: Caller
) -> None:
    await create_user(lenient_client, tenant_a.headers, "x@example.com")
    stamp = "2024-01-01T00:00:00+00:00"
    params = {
        "limit=0": {"limit": "0"},
        "limit=-1": {"limit": "-1"},
        "limit=201": {"limit": "201"},
        "limit=1000": {"limit": "1000"},
        "limit=abc": {"limit": "abc"},
        "limit=1.5": {"limit": "1.5"},
        "limit empty": {"limit": ""},
        "cursor garbage": {"cursor": "garbage!!"},
        "cursor empty": {"cursor": ""},
        "cursor too long": {"cursor": "A" * 501},
        "cursor not a pair": {"cursor": _cursor(5)},
        "cursor bad time": {"cursor": _cursor(["yesterday", "1"])},
        "cursor time not a string": {"cursor": _cursor([1, "1"])},
        "cursor id not an id": {"cursor": _cursor([stamp, "not-an-id"])},
        "cursor id a number": {"cursor": _cursor([stamp, 123])},
        "cursor id infinite": {"cursor": _cursor([stamp, float("inf")])},
        "cursor id out of range": {"cursor": _cursor([stamp, 10**30])},
    }
    lists = {
        USERS: tenant_a.headers,
        "/api/v1/api-keys": tenant_a.headers,
        "/api/v1/audit-logs": tenant_a.headers,
        "/api/v1/tenants": platform_admin.headers,
    }

    outcomes = {
        f"{path} {label}": outcome(await lenient_client.get(path, params=query, headers=headers))
        for path, headers in lists.items()
        for label, query in params.items()
    }

    query_errors = {k for k in outcomes if " limit" in k or "too long" in k}
    expected = {
        k: (422, "validation_error" if k in query_errors else "invalid_input") for k in outcomes
    }
    # Cursors the API issues always spell the id as a string, so a bare number is refused too.
    assert outcomes == expected
