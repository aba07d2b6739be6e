"""Helpers shared by the tests: the test databases and SQL on them, tenants and the callers
they are, the API calls many tests make, the one error body, and child processes of the
`orchestrator` command.

Plain functions and classes only; the fixtures live in the conftest.py files.
"""

import asyncio
import os
import socket
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import httpx
import uvicorn
from sqlalchemy.engine import URL

from orchestrator_service.audit.service import Actor
from orchestrator_service.bootstrap import Runtime
from orchestrator_service.db.urls import asyncpg_dsn, with_database
from orchestrator_service.tenants import service as tenant_service
from orchestrator_service.tenants.schemas import TenantCreate

REPO = Path(__file__).resolve().parent.parent
TEST_ACTOR = Actor(tenant_id=None, user_id=None, key_id=None, label="test")
PASSWORD = "correct-horse-battery-staple"
CLIENT_IP = "203.0.113.7"
ORCHESTRATOR = str(Path(sys.executable).parent / "orchestrator")

T = TypeVar("T")


# --- databases ------------------------------------------------------------------------------


def url_string(url: URL) -> str:
    """A URL as the command line and settings take it, password included."""
    return url.render_as_string(hide_password=False)


async def sql(url: URL, statement: str, *args: object) -> list[asyncpg.Record]:
    """Run one statement on its own connection and return the rows."""
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        return await conn.fetch(statement, *args)
    finally:
        await conn.close()


@dataclass
class DatabaseFactory:
    """Creates and drops the tests' databases on the test server: empty ones, and copies of
    the healed templates.

    CREATE DATABASE ... TEMPLATE fails while any session is connected to the template, so a
    template takes no connections once healed (ALLOW_CONNECTIONS false) and copies are made
    one at a time under a lock (tests of one process share the session's event loop)."""

    base: URL
    templates: dict[str, str] = field(default_factory=dict)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def execute(self, statement: str) -> None:
        """Run one statement on the server's `postgres` database."""
        admin = await asyncpg.connect(asyncpg_dsn(self.base))
        try:
            await admin.execute(statement)
        finally:
            await admin.close()

    async def create(self, prefix: str, template: str | None = None) -> URL:
        """A new database, empty or a copy of the named template."""
        name = f"{prefix}_{uuid.uuid4().hex[:12]}"
        if template is None:
            await self.execute(f'CREATE DATABASE "{name}"')
        else:
            async with self.lock:
                await self.execute(
                    f'CREATE DATABASE "{name}" TEMPLATE "{self.templates[template]}"'
                )
        return with_database(self.base, name)

    async def drop(self, url: URL) -> None:
        """Drop a database, cutting any session still on it."""
        await self.execute(f'DROP DATABASE IF EXISTS "{url.database}" WITH (FORCE)')

    async def add_template(self, key: str, heal_it: Callable[[URL], Awaitable[object]]) -> None:
        """Create the template `key`, heal it with `heal_it(url)`, then close it to sessions."""
        url = await self.create(f"tmpl_{key}")
        await heal_it(url)
        await self.execute(f'ALTER DATABASE "{url.database}" WITH ALLOW_CONNECTIONS false')
        self.templates[key] = url.database


@asynccontextmanager
async def concurrent_build_in_progress(url: URL, statement: str) -> AsyncIterator[None]:
    """Run `statement` (a CREATE INDEX CONCURRENTLY) on a connection of its own and hold it in
    its wait phase, as another replica's build in progress looks: the index exists, INVALID,
    and pg_stat_progress_create_index names it. On exit the build is let finish."""
    blocker = await asyncpg.connect(asyncpg_dsn(url))
    builder = await asyncpg.connect(asyncpg_dsn(url))
    try:
        # A snapshot held to the end of the transaction, which the build waits for before it
        # may mark the index valid.
        await blocker.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
        await blocker.execute("SELECT count(*) FROM pg_class")
        build = asyncio.create_task(builder.execute(statement))
        # Watched from fresh connections: a transaction sees the activity views as they were
        # when it first read them.
        await eventually(
            lambda: sql(
                url,
                "SELECT count(*) > 0 AS waiting FROM pg_stat_progress_create_index "
                "WHERE pid = $1 AND index_relid <> 0 AND phase LIKE 'waiting%'",
                builder.get_server_pid(),
            ),
            lambda rows: rows[0]["waiting"],
            attempts=600,
        )
        try:
            yield
        finally:
            await blocker.execute("ROLLBACK")
            await build
    finally:
        await blocker.close()
        await builder.close()


# --- callers --------------------------------------------------------------------------------


@dataclass
class Caller:
    """A tenant (or platform) identity the tests call the API as."""

    api_key: str
    tenant_id: int | None

    @property
    def headers(self) -> dict[str, str]:
        """The Authorization header for this caller."""
        return {"Authorization": f"Bearer {self.api_key}"}


async def new_tenant(runtime: Runtime, name: str) -> Caller:
    """Create a tenant with its first admin key, as `orchestrator tenant create` does."""
    async with runtime.sessionmaker.begin() as session:
        tenant, api_key = await tenant_service.create_tenant(
            session, data=TenantCreate(name=name), actor=TEST_ACTOR
        )
    return Caller(api_key=api_key, tenant_id=tenant.id)


def bearer(token: str) -> dict[str, str]:
    """The Authorization header for an API key or a session token."""
    return {"Authorization": f"Bearer {token}"}


# --- responses ------------------------------------------------------------------------------


def error_of(response: httpx.Response, status: int, code: str | None = None) -> dict:
    """Assert `response` is the one error body with this status (and code); return the error."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert set(error) == {"code", "message", "details"}, error
    assert isinstance(error["message"], str) and error["message"]
    if code is not None:
        assert error["code"] == code, error
    return error


def outcome(response: httpx.Response) -> tuple[int, str]:
    """The status and error code of a response, or a note when the body is not the error body."""
    try:
        error = response.json()["error"]
    except (ValueError, KeyError, TypeError):
        return response.status_code, "<no error body>"
    if not isinstance(error, dict) or set(error) != {"code", "message", "details"}:
        return response.status_code, "<no error body>"
    return response.status_code, error["code"]


# --- API calls ------------------------------------------------------------------------------


async def create_user(
    client: httpx.AsyncClient, headers: dict[str, str], email: str, **fields: object
) -> dict:
    """Create a user through the API and return its body."""
    response = await client.post("/api/v1/users", json={"email": email, **fields}, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


async def login(client: httpx.AsyncClient, email: str, password: str = PASSWORD) -> str:
    """Log in through the API and return the session token."""
    response = await client.post("/api/v1/auth/login", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    return response.json()["token"]


async def create_key(
    client: httpx.AsyncClient, headers: dict[str, str], name: str, **fields: object
) -> dict:
    """Create an API key through the API and return the 201 body (with the plaintext)."""
    response = await client.post("/api/v1/api-keys", json={"name": name, **fields}, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


async def create_agent(client: httpx.AsyncClient, caller: Caller, **fields: Any) -> dict:
    """Create an agent through the API (a minimal valid one, overridden by `fields`)."""
    body = {"name": "Sales bot", "system_prompt_template": "You help {{ customer }}.", **fields}
    response = await client.post("/api/v1/agents", headers=caller.headers, json=body)
    assert response.status_code == 201, response.text
    return response.json()


async def all_pages(
    client: httpx.AsyncClient, path: str, headers: dict[str, str], **params: object
) -> list[dict]:
    """Follow `next_cursor` from the first page to the last and return every item in order."""
    items: list[dict] = []
    cursor = None
    for _ in range(1000):
        query = {**params, **({"cursor": cursor} if cursor else {})}
        response = await client.get(path, params=query, headers=headers)
        assert response.status_code == 200, response.text
        page = response.json()
        items.extend(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            return items
    raise AssertionError(f"{path} never reached its last page")


# --- waiting for something that happens in the background ----------------------------------


async def eventually(
    fetch: Callable[[], Awaitable[T]],
    done: Callable[[T], bool],
    *,
    attempts: int = 200,
    interval: float = 0.1,
) -> T:
    """Poll `fetch` until `done` holds for its value, at most `attempts` times `interval`
    apart; the value (AssertionError when it never holds)."""
    for _ in range(attempts):
        value = await fetch()
        if done(value):
            return value
        await asyncio.sleep(interval)
    raise AssertionError(f"still not done after {attempts} polls: {value}")


# --- the `orchestrator` command as a child process ------------------------------------------


def cli_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The environment of a child process: no inherited ORCH_ settings, a private data dir."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORCH_")}
    env.update(ORCH_DATA_DIR=str(tmp_path / "data"), **extra)
    return env


def run_cli(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    """Run the command to completion."""
    return subprocess.run(
        [ORCHESTRATOR, *args],
        env=cli_env(tmp_path, **env),
        capture_output=True,
        text=True,
        timeout=60,
    )


async def finish(process: subprocess.Popen, timeout: float = 120) -> tuple[int, str, str]:
    """Wait for a child without blocking the event loop."""
    out, err = await asyncio.to_thread(process.communicate, timeout=timeout)
    return process.returncode, out, err


def free_port() -> int:
    """A loopback port free right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def wait_ready(client: httpx.AsyncClient, process: subprocess.Popen) -> httpx.Response:
    """Poll `/health/ready` of a serving child until it answers 200 (the child must stay up)."""
    for _ in range(600):  # 0.2 s apart: two minutes for a first boot with initdb
        assert process.poll() is None, process.stderr.read() if process.stderr else ""
        try:
            response = await client.get("/health/ready")
            if response.status_code == 200:
                return response
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.2)
    raise AssertionError("the service never became ready")


@asynccontextmanager
async def served_over_http(app: Any) -> AsyncIterator[str]:
    """Serve an ASGI app with uvicorn on a free loopback port, in this event loop (so it shares
    the test's database pools), lifespan included; yields its base URL."""
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            assert not task.done(), "the server stopped while starting"
            await asyncio.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
