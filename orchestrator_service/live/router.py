"""`GET /events/stream`: the caller's live events as server-sent events."""

from typing import Annotated

from fastapi import APIRouter, Header, Query
from fastapi.responses import StreamingResponse

from orchestrator_service.deps import LiveHubDep, PrincipalDep, StillValidDep
from orchestrator_service.live.service import open_stream

router = APIRouter(prefix="/events", tags=["events"])
MAX_EVENT_ID = 2**63 - 1  # event ids are BIGINT


@router.get(
    "/stream",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "Server-sent events: `ready`, then `agent.status`, `agent.message`, "
            "`sync.progress` (each with an `id`), keep-alive comments, and `closed` or "
            "`overflow` when the server ends the stream",
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
        },
        429: {
            "description": "The user already holds as many streams as allowed",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}},
        },
    },
)
async def stream_events(
    principal: PrincipalDep,
    hub: LiveHubDep,
    still_valid: StillValidDep,
    after: Annotated[
        int | None,
        Query(ge=0, le=MAX_EVENT_ID, description="Replay events after this id (as Last-Event-ID)"),
    ] = None,
    last_event_id: Annotated[int | None, Header(ge=0, le=MAX_EVENT_ID)] = None,
) -> StreamingResponse:
    """The caller's live events, for this user and for every member of the tenant, as
    server-sent events; reconnect with `Last-Event-ID` to get what was missed."""
    frames = open_stream(
        hub,
        principal,
        after=last_event_id if last_event_id is not None else after,
        still_valid=still_valid,
    )
    return StreamingResponse(
        frames,
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
