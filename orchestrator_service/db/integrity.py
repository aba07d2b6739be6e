"""Turn uniqueness violations into `Conflict` errors that say which rule broke."""

from collections.abc import Mapping

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from orchestrator_service.errors import Conflict


def _constraint_name(exc: IntegrityError) -> str | None:
    for candidate in (exc.orig, getattr(exc.orig, "__cause__", None)):
        name = getattr(candidate, "constraint_name", None)
        if name:
            return name
    return None


async def flush_or_conflict(session: AsyncSession, messages: Mapping[str, str]) -> None:
    """Flush; a violation of a constraint named in `messages` becomes a 409 with that text."""
    try:
        await session.flush()
    except IntegrityError as exc:
        message = messages.get(_constraint_name(exc) or "")
        if message is not None:
            raise Conflict(message) from None
        raise
