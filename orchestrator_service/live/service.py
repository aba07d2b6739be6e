"""Live streams: a caller's events as server-sent-event frames."""

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable

from orchestrator_service.auth.principal import Principal, TenantPrincipal
from orchestrator_service.errors import Forbidden, OrchestratorError
from orchestrator_service.live.hub import Event, LiveHub

StillValid = Callable[[], Awaitable[bool]]


def stream_owner(principal: Principal) -> TenantPrincipal:
    """The tenant principal whose events a stream carries; platform keys have none."""
    member = principal.in_tenant()
    if member is None:
        raise Forbidden("Live events belong to a tenant's users: use a key of the tenant")
    return member


def _frame(event: str, data: dict, event_id: int | None = None) -> bytes:
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {event}\ndata: {json.dumps(data, default=str)}\n\n".encode()


def _event_frame(event: Event) -> bytes:
    return _frame(event.event, event.data, event.id)


def open_stream(
    hub: LiveHub, principal: Principal, *, after: int | None, still_valid: StillValid
) -> AsyncIterator[bytes]:
    """The caller's events as SSE frames: first those after `after` (a `Last-Event-ID`), then
    each as it commits, with a keep-alive comment when idle. The stream ends when the key or
    session stops being valid (checked at each keep-alive), or when the client falls too far
    behind (`overflow`: reconnect with the last id to catch up). `TooManyRequests` at once
    when the user already holds as many streams as allowed."""
    member = stream_owner(principal)
    hub.check_room(member.tenant_id, member.user_id)
    return _frames(hub, member, after, still_valid)


async def _frames(
    hub: LiveHub, member: TenantPrincipal, after: int | None, still_valid: StillValid
) -> AsyncIterator[bytes]:
    try:
        async with hub.subscribe(
            tenant_id=member.tenant_id, user_id=member.user_id, allows=member.allows, after=after
        ) as subscription:
            yield _frame("ready", {"tenant_id": member.tenant_id})
            while True:
                try:
                    event = await asyncio.wait_for(
                        subscription.queue.get(), hub.limits.heartbeat_seconds
                    )
                except TimeoutError:
                    if not await still_valid():
                        yield _frame("closed", {"reason": "the key or session is no longer valid"})
                        return
                    yield b": keep-alive\n\n"
                    continue
                if event is None:
                    yield _frame(
                        "overflow",
                        {"reason": "fell too far behind: reconnect with Last-Event-ID"},
                    )
                    return
                yield _event_frame(event)
    except OrchestratorError as exc:  # the response has started: say it as an event
        yield _frame("error", {"code": exc.code, "message": exc.message})
