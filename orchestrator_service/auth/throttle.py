"""Login throttling per account and per client address, with exponential backoff, in
PostgreSQL so that it holds across replicas.

Each attempt is counted before its password is checked (a correct one takes its count back),
under a row lock, so a burst of parallel guesses gets no more checks than a patient guesser.
After `max_failures` attempts without a success, further attempts are refused for `backoff`
seconds, doubling with each attempt after that up to `max_backoff`; the attempt after a
backoff is checked again. Counts older than `window` are forgotten.

An account is keyed by a hash of the email as typed, whether or not such a user exists, so an
unknown email is throttled exactly like a known one, with the same status and message.
"""

import hashlib
import ipaddress
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, delete, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from orchestrator_service.auth.models import LoginAttempts
from orchestrator_service.errors import TooManyRequests


@dataclass(frozen=True)
class ThrottlePolicy:
    """How many failures an account and an address may have, and the backoff after them."""

    account_failures: int
    address_failures: int
    backoff: float
    max_backoff: float
    window: float


@dataclass(frozen=True)
class LoginKeys:
    """The rows one login attempt is counted in."""

    account: str
    address: str | None

    @property
    def all(self) -> list[str]:
        """Both keys, in the order rows are locked in."""
        return sorted(k for k in (self.account, self.address) if k is not None)


def login_keys(email: str, ip: str | None) -> LoginKeys:
    """The account key (a hash of the email) and the address key of an attempt; an IPv6
    client is counted by its /64, which one subscriber usually holds whole."""
    account = "account:" + hashlib.sha256(email.strip().lower().encode()).hexdigest()
    if ip is None:
        return LoginKeys(account, None)
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return LoginKeys(account, f"address:{ip[:60]}")
    if address.version == 6:
        return LoginKeys(account, f"address:{ipaddress.ip_network(f'{ip}/64', strict=False)}")
    return LoginKeys(account, f"address:{address}")


class LoginThrottle:
    """Admits login attempts, counting each, and refuses them during a backoff."""

    def __init__(
        self, *, sessionmaker: async_sessionmaker[AsyncSession], policy: ThrottlePolicy
    ) -> None:
        self._sessionmaker = sessionmaker
        self._policy = policy

    async def admit(self, keys: LoginKeys) -> None:
        """Count an attempt, or refuse it (`TooManyRequests`, 429) while a backoff runs. In a
        transaction of its own, committed before the password is checked."""
        async with self._sessionmaker.begin() as session:
            await session.execute(
                insert(LoginAttempts)
                .values([{"key": key} for key in keys.all])
                .on_conflict_do_nothing()
            )
            rows = list(
                await session.scalars(
                    select(LoginAttempts)
                    .where(LoginAttempts.key.in_(keys.all))
                    .order_by(LoginAttempts.key)
                    .with_for_update()
                )
            )
            # The database's clock: every replica reads the same one.
            now = (await session.execute(select(func.now()))).scalar_one()
            blocked = [r.blocked_until for r in rows if r.blocked_until and r.blocked_until > now]
            if blocked:
                raise _throttled(max(blocked) - now)
            for row in rows:
                self._count(row, now, keys)

    def _count(self, row: LoginAttempts, now: datetime, keys: LoginKeys) -> None:
        policy = self._policy
        if row.expires_at <= now:
            row.failures, row.blocked_until = 0, None
        row.failures += 1
        limit = policy.account_failures if row.key == keys.account else policy.address_failures
        if row.failures >= limit:
            seconds = min(policy.backoff * 2 ** (row.failures - limit), policy.max_backoff)
            row.blocked_until = now + timedelta(seconds=seconds)
        row.expires_at = max(now + timedelta(seconds=policy.window), row.blocked_until or now)

    async def succeeded(self, session: AsyncSession, keys: LoginKeys) -> None:
        """Take a successful attempt's count back: the account starts afresh, the address has
        one attempt less (its backoff, if one runs, stays)."""
        await session.execute(delete(LoginAttempts).where(LoginAttempts.key == keys.account))
        if keys.address is not None:
            await session.execute(
                update(LoginAttempts)
                .where(LoginAttempts.key == keys.address)
                .values(failures=func.greatest(LoginAttempts.failures - 1, 0))
            )


async def count_stale(session: AsyncSession) -> int:
    """How many counts neither block nor count any more, waiting for the purge."""
    stale = select(func.count()).where(LoginAttempts.expires_at < func.now())
    return await session.scalar(stale) or 0


async def purge_stale(session: AsyncSession) -> int:
    """Delete the counts that neither block nor count any more; how many."""
    stale = delete(LoginAttempts).where(LoginAttempts.expires_at < func.now())
    return cast(CursorResult[Any], await session.execute(stale)).rowcount


def _throttled(wait: timedelta) -> TooManyRequests:
    """The one refusal, whichever key blocks and whether or not the account exists."""
    seconds = max(1, math.ceil(wait.total_seconds()))
    return TooManyRequests(
        f"Too many failed sign-in attempts; try again in {seconds} seconds", retry_after=seconds
    )
