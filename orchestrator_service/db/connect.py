"""Raw driver connections with a bounded wait and a readable failure."""

import asyncio

import asyncpg
from sqlalchemy.engine import URL

from orchestrator_service.db.urls import asyncpg_dsn, describe_location
from orchestrator_service.errors import DatabaseUnreachable


async def connect(url: URL, *, timeout: float) -> asyncpg.Connection:
    """Open one asyncpg connection, or raise `DatabaseUnreachable` naming where and why."""
    try:
        # asyncpg leaves `timeout` unannotated, so it is inferred as int from its default (60).
        connecting = asyncpg.connect(asyncpg_dsn(url), timeout=timeout)  # pyright: ignore[reportArgumentType]
        return await asyncio.wait_for(connecting, timeout)
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        reason = str(exc) or type(exc).__name__
        if isinstance(exc, TimeoutError):
            reason = f"no answer within {timeout:g} s"
        raise DatabaseUnreachable(
            f"Cannot reach the database at {describe_location(url)} as user "
            f"{url.username or '(default)'}: {reason}. Check that the server is running and "
            "that the URL, credentials and network allow this connection; the wait is bounded by "
            "ORCH_CONNECT_TIMEOUT.",
            details={"host": url.host, "port": url.port, "database": url.database},
        ) from exc
