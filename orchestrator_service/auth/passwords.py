"""Argon2id password hashing in a bounded pool of threads, with equal work whether or not the
user exists.

A hash takes tens of milliseconds of CPU and 64 MiB of memory. Run on the event loop it stalls
every request and health check meanwhile; run without a bound, a burst of logins takes as much
memory as it likes. So hashes run in a fixed pool of threads (argon2 releases the GIL), and the
rest wait their turn there.
"""

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from typing import TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from zxcvbn import zxcvbn

T = TypeVar("T")

# zxcvbn's scale: 0 (guessed at once) .. 4 (very unguessable); 3 resists offline guessing of a
# slow hash. It reads at most MAX_CHECKED characters (its cost grows with the length).
MIN_STRENGTH = 3
MAX_CHECKED = 72


def weakness(password: str, *, personal: list[str]) -> str | None:
    """Why a new password is too easy to guess (common words, patterns, the user's own email
    or name among `personal`), or None when it is strong enough."""
    result = zxcvbn(password, user_inputs=personal, max_length=MAX_CHECKED)
    if result["score"] >= MIN_STRENGTH:
        return None
    feedback = result["feedback"]
    hints = [feedback.get("warning") or "It is too easy to guess.", *feedback["suggestions"]]
    return " ".join(h.strip() for h in hints if h)


@cache
def _dummy_hash() -> str:
    """Verified against when the user is unknown, so a login does the same work either way.
    Made once per process, at the first boot, before anything is served."""
    return PasswordHasher().hash("no-such-user")


class Passwords:
    """Hashes and verifies passwords in at most `threads` threads at once, off the loop."""

    def __init__(self, *, threads: int) -> None:
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="argon2")
        self._hasher = PasswordHasher()
        self._dummy_hash = _dummy_hash()

    async def hash(self, password: str) -> str:
        """An argon2id hash of the password."""
        return await self._run(self._hasher.hash, password)

    async def weakness(self, password: str, *, personal: list[str]) -> str | None:
        """`weakness()` off the event loop."""
        return await asyncio.get_running_loop().run_in_executor(
            self._pool, lambda: weakness(password, personal=personal)
        )

    async def verify(self, password_hash: str | None, password: str) -> bool:
        """True when the password matches; does the same work when there is no hash."""
        return await self._run(self._check, password_hash or self._dummy_hash, password) and bool(
            password_hash
        )

    def _check(self, password_hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    async def _run(self, work: Callable[..., T], *args: str) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._pool, work, *args)

    def close(self) -> None:
        """Stop the threads once the hashes under way are done."""
        self._pool.shutdown(wait=False, cancel_futures=True)
