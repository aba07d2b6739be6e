"""The request pool's defence against connections the server has closed, without a round trip.

`pool_pre_ping` costs three round trips on every checkout with asyncpg (BEGIN, a ping,
ROLLBACK), and a search checks out three connections. Instead, at checkout the pool asks the
driver whether the server has closed the socket (asyncpg notices the server's goodbye, a
restart's or a `pg_terminate_backend`'s, as soon as it arrives): such a connection is
discarded with every other connection of the pool opened before it, and a fresh one is handed
out. A connection whose peer vanished without a word (a network partition) is not seen here:
its first statement fails, SQLAlchemy's disconnect handling then recycles the pool, and the
request gets a 503; `pool_recycle` bounds how old any connection can be.
"""

from sqlalchemy import event
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.exc import InvalidatePoolError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry, PoolProxiedConnection

# Seconds after which a pooled connection is replaced at its next checkout.
RECYCLE_SECONDS = 1800


def discard_closed_connections(engine: AsyncEngine) -> None:
    """Make `engine`'s pool replace, at checkout, connections the server has closed."""

    @event.listens_for(engine.sync_engine, "checkout")
    def _closed_by_server(
        dbapi_connection: DBAPIConnection,
        record: ConnectionPoolEntry,
        proxy: PoolProxiedConnection,
    ) -> None:
        if dbapi_connection.driver_connection.is_closed():  # pyright: ignore[reportAttributeAccessIssue]
            # A closed connection usually means a restart: its pool-mates are gone too.
            raise InvalidatePoolError("the database closed this pooled connection")


def autocommit_sessions(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> async_sessionmaker[AsyncSession]:
    """Sessions on the same pool whose statements each commit on their own: no BEGIN and no
    COMMIT or ROLLBACK round trips. For a request's single reads (and a write that stands
    alone); anything that must be atomic uses `sessionmaker` and its transaction."""
    engine = sessionmaker.kw["bind"]
    return async_sessionmaker(
        engine.execution_options(isolation_level="AUTOCOMMIT"), expire_on_commit=False
    )
