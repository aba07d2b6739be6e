"""The live hub of one replica: one LISTEN connection, fanning committed events out to the
streams open on this replica.

Across replicas: `publish` writes the event as a row and NOTIFYs its id on commit; every
replica's hub hears the id, reads the row and hands it to its subscribers whose tenant and user
match. A hub whose LISTEN connection drops reconnects and catches up from the table (ids above
the last it saw), and a client that reconnects with `Last-Event-ID` gets what it missed replayed
from the table, within the retention.
"""

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import asyncpg
from sqlalchemy import ColumnElement, delete, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from orchestrator_service.errors import DatabaseUnreachable, TooManyRequests
from orchestrator_service.live.models import LiveEvent
from orchestrator_service.live.publish import CHANNEL

log = logging.getLogger(__name__)

QUEUE_SIZE = 256  # events a slow stream may fall behind before it is closed (it then replays)
REPLAY_LIMIT = 500  # events replayed to a reconnecting stream at most
_RECONNECT_WAIT = 1.0
APPLICATION_NAME = "orchestrator-live"  # how the LISTEN connection shows in pg_stat_activity


@dataclass(frozen=True)
class Event:
    """A committed live event, as a stream sends it."""

    id: int
    tenant_id: int
    user_id: uuid.UUID | None
    event: str
    scope: str | None
    data: dict

    @classmethod
    def of(cls, row: LiveEvent) -> "Event":
        """The event of a `live_events` row."""
        return cls(row.id, row.tenant_id, row.user_id, row.event, row.scope, row.data)


@dataclass(frozen=True)
class HubLimits:
    """How many streams one user may hold on a replica, how long events are kept, and how often
    an idle stream sends a keep-alive (and checks its key is still good)."""

    streams_per_user: int = 5
    retention_seconds: float = 3600.0
    heartbeat_seconds: float = 15.0


@dataclass(eq=False)
class Subscription:
    """One open stream: its tenant, its user (None: a key acting for no user), what its key
    may read, and its queue (None in the queue: fell too far behind, closed)."""

    tenant_id: int
    user_id: uuid.UUID | None
    allows: Callable[[str], bool]
    queue: asyncio.Queue[Event | None] = field(
        default_factory=lambda: asyncio.Queue(QUEUE_SIZE + 1)
    )

    def wants(self, event: Event) -> bool:
        """True when this stream may receive `event`: same tenant, addressed to every member
        or to this very user, and a key that grants the event's scope."""
        if event.tenant_id != self.tenant_id:
            return False
        if event.user_id is not None and event.user_id != self.user_id:
            return False
        return event.scope is None or self.allows(event.scope)


def _readable(tenant_id: int, user_id: uuid.UUID | None) -> ColumnElement[bool]:
    addressed = LiveEvent.user_id.is_(None)
    if user_id is not None:
        addressed = or_(addressed, LiveEvent.user_id == user_id)
    return (LiveEvent.tenant_id == tenant_id) & addressed


class LiveHub:
    """Subscriptions of this replica's streams, fed by one LISTEN connection (opened with the
    first subscription)."""

    def __init__(
        self,
        *,
        dsn: str,
        sessionmaker: async_sessionmaker[AsyncSession],
        connect_timeout: float,
        limits: HubLimits,
    ) -> None:
        self._dsn = dsn
        self._sessionmaker = sessionmaker
        self._connect_timeout = connect_timeout
        self.limits = limits
        self._subscriptions: set[Subscription] = set()
        self._ids: asyncio.Queue[int | None] = asyncio.Queue()
        self._listening = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._last_seen = 0

    def open_streams(self, tenant_id: int, user_id: uuid.UUID | None) -> int:
        """How many streams this user (or the tenant's no-user keys) has open here."""
        return sum(
            1 for s in self._subscriptions if (s.tenant_id, s.user_id) == (tenant_id, user_id)
        )

    def check_room(self, tenant_id: int, user_id: uuid.UUID | None) -> None:
        """`TooManyRequests` when this user holds as many streams here as one may."""
        if self.open_streams(tenant_id, user_id) >= self.limits.streams_per_user:
            raise TooManyRequests(
                f"This user already has {self.limits.streams_per_user} event streams open "
                "(ORCH_LIVE_MAX_STREAMS_PER_USER): close one first",
                retry_after=5,
            )

    @contextlib.asynccontextmanager
    async def subscribe(
        self,
        *,
        tenant_id: int,
        user_id: uuid.UUID | None,
        allows: Callable[[str], bool],
        after: int | None = None,
    ) -> AsyncIterator[Subscription]:
        """A subscription for the block, listening before it is given (so nothing committed
        from then on is missed); with `after`, the user's events after that id are queued
        first. More than the per-user limit of open streams is `TooManyRequests`."""
        self.check_room(tenant_id, user_id)
        subscription = Subscription(tenant_id=tenant_id, user_id=user_id, allows=allows)
        self._subscriptions.add(subscription)
        try:
            await self._ensure_listening()
            if after is not None:
                for event in await self._since(tenant_id, user_id, after):
                    if subscription.wants(event):
                        subscription.queue.put_nowait(event)
            yield subscription
        finally:
            self._subscriptions.discard(subscription)

    async def close(self) -> None:
        """Stop listening; open streams end."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        for subscription in list(self._subscriptions):
            self._offer(subscription, None)

    async def purge(self) -> int:
        """Delete events older than the retention; how many went."""
        cutoff = datetime.now(UTC) - timedelta(seconds=self.limits.retention_seconds)
        async with self._sessionmaker.begin() as session:
            result = await session.execute(delete(LiveEvent).where(LiveEvent.created_at < cutoff))
        return getattr(result, "rowcount", 0) or 0

    async def purge_periodically(self, interval: float) -> None:
        """Purge old events now and every `interval` seconds, until cancelled."""
        while True:
            try:
                await self.purge()
            except Exception:  # retried at the next round
                log.exception("purging live events failed")
            await asyncio.sleep(interval)

    async def _ensure_listening(self) -> None:
        if self._task is None or self._task.done():
            self._listening.clear()
            self._task = asyncio.create_task(self._listen(), name="live-hub")
        try:
            await asyncio.wait_for(self._listening.wait(), timeout=self._connect_timeout * 2)
        except TimeoutError:
            raise DatabaseUnreachable(
                "Live events are unavailable: the database does not take LISTEN connections"
            ) from None

    async def _since(self, tenant_id: int, user_id: uuid.UUID | None, after: int) -> list[Event]:
        async with self._sessionmaker() as session:
            rows = await session.scalars(
                select(LiveEvent)
                .where(_readable(tenant_id, user_id), LiveEvent.id > after)
                .order_by(LiveEvent.id)
                .limit(REPLAY_LIMIT)
            )
            return [Event.of(row) for row in rows]

    async def _listen(self) -> None:
        """Hold the LISTEN connection (reconnecting after a loss, then catching up from the
        table) and dispatch every id it hears."""
        while True:
            try:
                connection = await asyncpg.connect(
                    self._dsn,
                    timeout=int(self._connect_timeout) or 1,
                    server_settings={"application_name": APPLICATION_NAME},
                )
            except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
                log.warning("live events: cannot LISTEN (%s); retrying", type(exc).__name__)
                await asyncio.sleep(_RECONNECT_WAIT)
                continue
            lost = asyncio.Event()
            connection.add_termination_listener(lambda _, lost=lost: lost.set())
            try:
                await connection.add_listener(CHANNEL, self._heard)
                if self._last_seen == 0:
                    self._last_seen = await connection.fetchval(
                        "SELECT coalesce(max(id), 0) FROM live_events"
                    )
                else:  # what was committed while we were not listening
                    await self._dispatch_after(self._last_seen)
                self._listening.set()
                await self._pump(lost)
            except (OSError, asyncpg.PostgresError) as exc:
                log.warning("live events: LISTEN lost (%s); reconnecting", type(exc).__name__)
            finally:
                with contextlib.suppress(Exception):
                    await connection.close(timeout=1)
            await asyncio.sleep(_RECONNECT_WAIT)

    def _heard(self, _connection: object, _pid: int, _channel: str, payload: str) -> None:
        if payload.isdigit():
            self._ids.put_nowait(int(payload))

    async def _pump(self, lost: asyncio.Event) -> None:
        """Read the events whose ids were heard, in batches, until the connection is lost."""
        while not lost.is_set():
            getter = asyncio.ensure_future(self._ids.get())
            waiter = asyncio.ensure_future(lost.wait())
            done, _ = await asyncio.wait({getter, waiter}, return_when=asyncio.FIRST_COMPLETED)
            if getter not in done:
                getter.cancel()
                return
            waiter.cancel()
            ids = {getter.result()}
            while not self._ids.empty():
                ids.add(self._ids.get_nowait())
            ids.discard(None)
            await self._dispatch_ids(sorted(i for i in ids if i is not None))

    async def _dispatch_ids(self, ids: list[int]) -> None:
        async with self._sessionmaker() as session:
            rows = await session.scalars(
                select(LiveEvent).where(LiveEvent.id.in_(ids)).order_by(LiveEvent.id)
            )
            events = [Event.of(row) for row in rows]
        self._deliver(events)

    async def _dispatch_after(self, after: int) -> None:
        async with self._sessionmaker() as session:
            rows = await session.scalars(
                select(LiveEvent).where(LiveEvent.id > after).order_by(LiveEvent.id).limit(10_000)
            )
            events = [Event.of(row) for row in rows]
        self._deliver(events)

    def _deliver(self, events: list[Event]) -> None:
        for event in events:
            self._last_seen = max(self._last_seen, event.id)
            for subscription in list(self._subscriptions):
                if subscription.wants(event):
                    self._offer(subscription, event)

    def _offer(self, subscription: Subscription, event: Event | None) -> None:
        """Queue an event; a stream too far behind gets None (it closes, the client replays)."""
        if event is not None and subscription.queue.qsize() >= QUEUE_SIZE:
            event = None
        with contextlib.suppress(asyncio.QueueFull):
            subscription.queue.put_nowait(event)
