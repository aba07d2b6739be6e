"""The built-in tools `list_events` and `create_event` (which asks for confirmation)."""

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from orchestrator_service.calendar import service
from orchestrator_service.calendar.schemas import EventCreate, EventOut
from orchestrator_service.errors import InvalidInput
from orchestrator_service.schemas import validated

if TYPE_CHECKING:
    from orchestrator_service.tools.builtins import ToolContext


def _instant(value: str | None, default: datetime, name: str) -> datetime:
    if value is None:
        return default
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"`{name}` must be an ISO 8601 date-time") from None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)


async def list_events(arguments: dict, context: "ToolContext") -> dict:
    """The user's event occurrences in a range (default: the next 7 days)."""
    start = _instant(arguments.get("start"), datetime.now(UTC), "start")
    end = _instant(arguments.get("end"), start + timedelta(days=7), "end")
    found = await service.occurrences(
        context.session,
        tenant_id=context.tenant_id,
        user_id=context.user_id,
        range_start=start,
        range_end=end,
        limit=arguments.get("limit", 50),
    )
    return found.model_dump(mode="json")


async def create_event(arguments: dict, context: "ToolContext") -> dict:
    """Add an event to the user's calendar (runs only once confirmed)."""
    data = validated(
        EventCreate, {**arguments, "visibility": "private" if context.user_id else "tenant"}
    )
    event = await service.create_event(
        context.session,
        tenant_id=context.tenant_id,
        user_id=context.user_id,
        data=data,
        actor=context.audit_actor(),
    )
    return {"status": "created", "event": EventOut.model_validate(event).model_dump(mode="json")}


SPECS = {
    "list_events": {
        "description": "List the user's calendar events between two ISO 8601 times "
        "(default: the next 7 days), recurring ones expanded.",
        "function_schema": {
            "type": "object",
            "properties": {
                "start": {"type": "string", "maxLength": 40},
                "end": {"type": "string", "maxLength": 40},
                "limit": {"type": "integer", "minimum": 1, "maximum": 200},
            },
            "additionalProperties": False,
        },
    },
    "create_event": {
        "description": "Create a calendar event for the user (needs the user's confirmation).",
        "requires_confirmation": True,
        "function_schema": {
            "type": "object",
            "properties": {
                "title": {"type": "string", "minLength": 1, "maxLength": 255},
                "start": {"type": "string", "maxLength": 40},
                "end": {"type": "string", "maxLength": 40},
                "timezone": {"type": "string", "maxLength": 64},
                "is_all_day": {"type": "boolean"},
                "location": {"type": "string", "maxLength": 500},
                "description": {"type": "string", "maxLength": 20000},
                "recurrence": {
                    "type": "array",
                    "items": {"type": "string", "maxLength": 500},
                    "maxItems": 20,
                },
            },
            "required": ["title", "start"],
            "additionalProperties": False,
        },
    },
}
