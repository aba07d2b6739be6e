"""The request pool survives connections the database closed (a restart, a terminated backend)
without pool_pre_ping's round trips: the next requests are served, none is a 500 or a 503."""

import asyncio
import contextlib

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from orchestrator_service.bootstrap import Runtime
from orchestrator_service.db.connect import connect
from tests.helpers import Caller

HELD = 5


async def _backends(runtime: Runtime) -> list[tuple[int, object]]:
    """Check out HELD connections at once (so the pool keeps that many), note their server
    process ids and driver connections, and give them back."""
    held: list[tuple[int, object]] = []
    async with contextlib.AsyncExitStack() as stack:
        for _ in range(HELD):
            connection: AsyncConnection = await stack.enter_async_context(runtime.engine.connect())
            pid = (await connection.execute(text("SELECT pg_backend_pid()"))).scalar_one()
            raw = await connection.get_raw_connection()
            held.append((pid, raw.driver_connection))
    return held


async def _terminate(runtime: Runtime, pids: list[int]) -> None:
    """End those server processes from a connection of its own, as a restart would."""
    killer = await connect(runtime.engine.url, timeout=5)
    try:
        await killer.execute("SELECT pg_terminate_backend(pid) FROM unnest($1::int[]) pid", pids)
    finally:
        await killer.close()


async def test_connections_the_server_closed_are_replaced_at_checkout(
    runtime: Runtime, client: httpx.AsyncClient, tenant_a: Caller
) -> None:
    held = await _backends(runtime)
    pids = [pid for pid, _ in held]
    await _terminate(runtime, pids)
    # The server's goodbye reaches each idle connection of the pool (no query is sent).
    for _ in range(200):
        if all(driver.is_closed() for _, driver in held):  # type: ignore[attr-defined]
            break
        await asyncio.sleep(0.05)
    assert all(driver.is_closed() for _, driver in held)  # type: ignore[attr-defined]

    statuses = [
        (await client.get("/api/v1/me", headers=tenant_a.headers)).status_code
        for _ in range(2 * HELD)
    ]

    assert statuses == [200] * (2 * HELD)
    serving = {pid for pid, _ in await _backends(runtime)}
    assert not serving & set(pids)
