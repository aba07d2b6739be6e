"""Login throttling: per account and per client address, with a backoff, kept in PostgreSQL
(two booted services on one database count the same attempts), blind to whether an email
exists; and password hashing off the event loop, in a bounded pool of threads."""

import asyncio
import re
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest

from orchestrator_service.bootstrap import Runtime, boot
from orchestrator_service.config import Settings
from orchestrator_service.main import create_app
from tests.helpers import PASSWORD, Caller, create_user, error_of, new_tenant

LOGIN = "/api/v1/auth/login"
ACCOUNT_LIMIT = 5
ADDRESS_LIMIT = 8


BACKOFF = 60
MESSAGE = re.compile(r"Too many failed sign-in attempts; try again in (\d+) seconds")


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The limits the tests count to; a backoff no test outlasts by accident."""
    return settings.model_copy(
        update={
            "login_max_failures_per_account": ACCOUNT_LIMIT,
            "login_max_failures_per_address": ADDRESS_LIMIT,
            "login_backoff_seconds": BACKOFF,
        }
    )


@asynccontextmanager
async def _short_backoff(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """A service of its own on the test's database whose backoff is 2 s (4 s the longest),
    short enough for a test to wait one out, and a user there with the right password. Its
    address limit is out of the way: these tests count one account's attempts."""
    short = settings.model_copy(
        update={
            "login_backoff_seconds": 2.0,
            "login_max_backoff_seconds": 4.0,
            "login_max_failures_per_address": 100,
        }
    )
    async with boot(short) as runtime, _client_from(short, runtime, "203.0.113.7") as client:
        tenant = await new_tenant(runtime, "short-backoff")
        await create_user(client, tenant.headers, "eve@example.com", password=PASSWORD)
        yield client


@asynccontextmanager
async def _client_from(
    settings: Settings, runtime: Runtime, ip: str
) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the app on `runtime`, calling from address `ip`."""
    transport = httpx.ASGITransport(app=create_app(settings, runtime=runtime), client=(ip, 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://login.test") as client:
        yield client


async def _attempt(client: httpx.AsyncClient, email: str, password: str) -> httpx.Response:
    return await client.post(LOGIN, json={"email": email, "password": password})


def _throttled(response: httpx.Response) -> int:
    """Assert `response` is the one 429 of the throttle; its Retry-After in seconds."""
    error = error_of(response, 429, "rate_limited")
    match = MESSAGE.fullmatch(error["message"])
    assert match, error["message"]
    seconds = int(response.headers["retry-after"])
    assert int(match[1]) == seconds == error["details"]["retry_after"]
    assert error["details"] == {"retry_after": seconds}
    assert 1 <= seconds <= BACKOFF
    return seconds


def _seen(response: httpx.Response) -> tuple:
    """What a caller sees of a refused attempt: status, code, message (its number of seconds
    left out: it counts down), which headers."""
    error = response.json()["error"]
    headers = sorted(k for k in response.headers if k not in ("x-request-id", "content-length"))
    return response.status_code, error["code"], re.sub(r"\d+", "<n>", error["message"]), headers


async def test_an_account_is_throttled_after_n_failures_with_retry_after(
    client: httpx.AsyncClient, tenant_a: Caller
) -> None:
    await create_user(client, tenant_a.headers, "ann@example.com", password=PASSWORD)

    for _ in range(ACCOUNT_LIMIT):
        error_of(await _attempt(client, "ann@example.com", "wrong"), 401, "unauthorized")
    refused = await _attempt(client, "ann@example.com", "wrong")
    # While the backoff runs, even the right password is not checked.
    right = await _attempt(client, "ann@example.com", PASSWORD)

    _throttled(refused)
    _throttled(right)
    # Other accounts from the same address are not held back.
    await create_user(client, tenant_a.headers, "bob@example.com", password=PASSWORD)
    assert (await _attempt(client, "bob@example.com", PASSWORD)).status_code == 200


async def test_an_unknown_email_is_throttled_exactly_like_a_known_one(
    settings: Settings, runtime: Runtime, client: httpx.AsyncClient, tenant_a: Caller
) -> None:
    await create_user(client, tenant_a.headers, "kim@example.com", password=PASSWORD)

    known = [_seen(await _attempt(client, "kim@example.com", "wrong")) for _ in range(7)]
    async with _client_from(settings, runtime, "198.51.100.20") as elsewhere:
        unknown = [
            _seen(await _attempt(elsewhere, "nobody@example.com", "wrong")) for _ in range(7)
        ]

    assert known == unknown
    assert [status for status, *_ in known] == [401] * ACCOUNT_LIMIT + [429] * 2


async def test_the_right_password_after_the_backoff_works_and_starts_the_count_afresh(
    settings: Settings,
) -> None:
    async with _short_backoff(settings) as client:
        for _ in range(ACCOUNT_LIMIT):
            await _attempt(client, "eve@example.com", "wrong")
        refused = await _attempt(client, "eve@example.com", PASSWORD)
        error_of(refused, 429, "rate_limited")

        await asyncio.sleep(int(refused.headers["retry-after"]))
        response = await _attempt(client, "eve@example.com", PASSWORD)

        assert response.status_code == 200, response.text
        for _ in range(ACCOUNT_LIMIT):  # a fresh count: checked again, not refused
            error_of(await _attempt(client, "eve@example.com", "wrong"), 401, "unauthorized")


async def test_a_failure_after_the_backoff_brings_a_longer_one(settings: Settings) -> None:
    async with _short_backoff(settings) as client:
        for _ in range(ACCOUNT_LIMIT):
            await _attempt(client, "eve@example.com", "wrong")
        first = await _attempt(client, "eve@example.com", "wrong")
        error_of(first, 429, "rate_limited")
        await asyncio.sleep(int(first.headers["retry-after"]))

        checked = await _attempt(client, "eve@example.com", "wrong")  # checked again; fails
        second = await _attempt(client, "eve@example.com", PASSWORD)

        error_of(checked, 401, "unauthorized")
        error_of(second, 429, "rate_limited")
        assert int(second.headers["retry-after"]) > 2  # doubled: 4 s, less what has passed


async def test_an_address_is_throttled_after_n_failures_across_accounts(
    settings: Settings, runtime: Runtime, client: httpx.AsyncClient, tenant_a: Caller
) -> None:
    await create_user(client, tenant_a.headers, "amy@example.com", password=PASSWORD)
    for i in range(ADDRESS_LIMIT):  # one failure each: no account comes near its limit
        error_of(await _attempt(client, f"guess{i}@example.com", "wrong"), 401, "unauthorized")

    refused = await _attempt(client, "amy@example.com", PASSWORD)

    _throttled(refused)
    async with _client_from(settings, runtime, "198.51.100.9") as elsewhere:
        assert (await _attempt(elsewhere, "amy@example.com", PASSWORD)).status_code == 200


async def test_ipv6_clients_are_counted_by_their_64(
    settings: Settings, runtime: Runtime, client: httpx.AsyncClient
) -> None:
    for i in range(ADDRESS_LIMIT):
        async with _client_from(settings, runtime, f"2001:db8:1:2::{i + 1:x}") as rotating:
            await _attempt(rotating, f"v6-{i}@example.com", "wrong")

    async with _client_from(settings, runtime, "2001:db8:1:2:ffff::1") as same_64:
        _throttled(await _attempt(same_64, "v6-last@example.com", "wrong"))
    async with _client_from(settings, runtime, "2001:db8:1:3::1") as next_64:
        error_of(await _attempt(next_64, "v6-last@example.com", "wrong"), 401, "unauthorized")


async def test_a_burst_of_parallel_guesses_gets_no_more_checks_than_the_limit(
    client: httpx.AsyncClient, tenant_a: Caller
) -> None:
    await create_user(client, tenant_a.headers, "max@example.com", password=PASSWORD)

    burst = await asyncio.gather(
        *(_attempt(client, "max@example.com", f"guess-{i}") for i in range(20))
    )

    statuses = sorted(r.status_code for r in burst)
    assert statuses == [401] * ACCOUNT_LIMIT + [429] * (20 - ACCOUNT_LIMIT)


async def test_two_services_on_one_database_count_the_same_attempts(
    settings: Settings, client: httpx.AsyncClient, tenant_a: Caller
) -> None:
    await create_user(client, tenant_a.headers, "sam@example.com", password=PASSWORD)
    async with boot(settings) as other, _client_from(settings, other, "203.0.113.7") as replica:
        for attempt in range(ACCOUNT_LIMIT):
            on = client if attempt % 2 else replica
            error_of(await _attempt(on, "sam@example.com", "wrong"), 401, "unauthorized")

        _throttled(await _attempt(client, "sam@example.com", "wrong"))
        _throttled(await _attempt(replica, "sam@example.com", "wrong"))


class _HeldHasher:
    """A password hasher whose checks wait until released, counting how many run at once."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.lock = threading.Lock()
        self.running = self.most = self.done = 0
        self.threads: set[str] = set()

    def verify(self, password_hash: str, password: str) -> bool:
        with self.lock:
            self.running += 1
            self.most = max(self.most, self.running)
            self.threads.add(threading.current_thread().name)
        self.release.wait(60)
        with self.lock:
            self.running -= 1
            self.done += 1
        return False


async def test_logins_hash_off_the_loop_in_a_bounded_pool_while_health_answers(
    runtime: Runtime, client: httpx.AsyncClient, tenant_a: Caller
) -> None:
    for i in range(4):
        await create_user(client, tenant_a.headers, f"u{i}@example.com", password=PASSWORD)
    held = _HeldHasher()
    runtime.passwords._hasher = held  # type: ignore[assignment]

    logins = [
        asyncio.create_task(_attempt(client, f"u{i}@example.com", PASSWORD)) for i in range(4)
    ]
    for _ in range(3000):  # until both threads of the pool are hashing
        if held.running == 2 or any(login.done() for login in logins):
            break
        await asyncio.sleep(0.01)
    answers = [(await client.get("/health/live")).status_code for _ in range(20)]
    hashing_meanwhile = held.running
    held.release.set()
    done = await asyncio.gather(*logins)

    assert answers == [200] * 20
    assert hashing_meanwhile == 2  # the health checks were answered while both hashes ran
    assert held.most == 2  # never more hashes at once than the pool has threads
    assert held.done == 4
    assert all(name.startswith("argon2") for name in held.threads)
    assert [r.status_code for r in done] == [401] * 4
