"""The built-in tools `create_note` and `search_notes`: an agent writes and finds the notes
of the user it acts for."""

from typing import TYPE_CHECKING

from orchestrator_service.notes import service
from orchestrator_service.notes.schemas import NoteCreate, NoteOut
from orchestrator_service.schemas import validated

if TYPE_CHECKING:
    from orchestrator_service.tools.builtins import ToolContext


async def create_note(arguments: dict, context: "ToolContext") -> dict:
    """Write a note for the user, recorded as made by the agent (private to the user)."""
    data = validated(
        NoteCreate, {**arguments, "visibility": "private" if context.user_id else "tenant"}
    )
    note = await service.create_note(
        context.session,
        tenant_id=context.tenant_id,
        user_id=context.user_id,
        data=data,
        actor=context.audit_actor(),
        agent_id=context.agent_id,
    )
    return {"status": "created", "note": NoteOut.model_validate(note).model_dump(mode="json")}


async def search_notes(arguments: dict, context: "ToolContext") -> dict:
    """Full-text search over the notes the user may read."""
    hits = await service.search_notes(
        context.session,
        tenant_id=context.tenant_id,
        user_id=context.user_id,
        query=arguments["query"],
        limit=arguments.get("limit", 5),
    )
    return {
        "results": [
            {
                "id": str(h.id),
                "title": h.title,
                "highlight": h.highlight,
                "content": h.content[:2000],
            }
            for h in hits
        ]
    }


SPECS = {
    "create_note": {
        "description": "Write a note for the user (markdown by default), with optional tags.",
        "function_schema": {
            "type": "object",
            "properties": {
                "title": {"type": "string", "maxLength": 255},
                "content": {"type": "string", "minLength": 1, "maxLength": 100000},
                "content_type": {"type": "string", "enum": ["markdown", "plain", "html"]},
                "tags": {
                    "type": "array",
                    "items": {"type": "string", "maxLength": 100},
                    "maxItems": 50,
                },
                "category": {"type": "string", "maxLength": 100},
            },
            "required": ["content"],
            "additionalProperties": False,
        },
    },
    "search_notes": {
        "description": 'Search the user\'s notes (Spanish or English words, "phrases").',
        "function_schema": {
            "type": "object",
            "properties": {
                "query": {"type": "string", "minLength": 1, "maxLength": 500},
                "limit": {"type": "integer", "minimum": 1, "maximum": 20},
            },
            "required": ["query"],
            "additionalProperties": False,
        },
    },
}
