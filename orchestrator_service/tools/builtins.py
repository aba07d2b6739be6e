"""Internal tools that run inside the service."""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from orchestrator_service.errors import InvalidInput


@dataclass(frozen=True)
class ToolContext:
    """What an internal tool may know of its caller."""

    tenant_id: int
    agent_id: int
    collections: tuple[str, ...]


Builtin = Callable[[dict, ToolContext], Awaitable[dict]]


async def get_current_time(arguments: dict, context: ToolContext) -> dict:
    """The current time, in UTC or the given IANA time zone."""
    zone_name = arguments.get("timezone") or "UTC"
    try:
        zone = ZoneInfo(zone_name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(f"Unknown time zone {zone_name!r}") from None
    return {"now": datetime.now(UTC).astimezone(zone).isoformat(), "timezone": zone_name}


async def search_knowledge(arguments: dict, context: ToolContext) -> dict:
    """Knowledge search over the agent's collections (not configured until RAG lands)."""
    return {
        "status": "not_configured",
        "message": "Knowledge search is not configured on this service yet",
        "collections": list(context.collections),
        "results": [],
    }


BUILTINS: dict[str, tuple[Builtin, dict]] = {
    "get_current_time": (
        get_current_time,
        {
            "description": "Get the current date and time, optionally in a given time zone.",
            "function_schema": {
                "type": "object",
                "properties": {
                    "timezone": {
                        "type": "string",
                        "description": "IANA time zone, e.g. America/Mexico_City",
                    }
                },
                "additionalProperties": False,
            },
        },
    ),
    "search_knowledge": (
        search_knowledge,
        {
            "description": "Search the agent's knowledge collections for passages on a query.",
            "function_schema": {
                "type": "object",
                "properties": {
                    "query": {"type": "string", "minLength": 1},
                    "top_k": {"type": "integer", "minimum": 1, "maximum": 50},
                },
                "required": ["query"],
                "additionalProperties": False,
            },
        },
    ),
}
