"""Internal tools that run inside the service."""

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy.ext.asyncio import AsyncSession

from orchestrator_service.agents.memory import recall_facts, remember_fact
from orchestrator_service.audit.service import Actor
from orchestrator_service.calendar import tools as calendar_tools
from orchestrator_service.errors import InvalidInput
from orchestrator_service.mail import tools as mail_tools
from orchestrator_service.notes import tools as note_tools
from orchestrator_service.rag.search import KnowledgeSearch, SearchRequest

if TYPE_CHECKING:
    from orchestrator_service.mail.sender import Mailer


@dataclass(frozen=True)
class ToolContext:
    """What an internal tool may know of its caller, and the service it runs in."""

    tenant_id: int
    agent_id: int
    collections: tuple[str, ...]
    knowledge: KnowledgeSearch
    session: AsyncSession
    user_key: str  # whom agent memory is about: a conversation's contact, or the caller
    user_id: uuid.UUID | None = None  # the user the caller acts for; None: no user (platform key)
    actor: Any = None  # who the audit log names for the tool's changes
    mailer: "Mailer | None" = None

    def audit_actor(self) -> Actor:
        """The actor the tool's changes are recorded by: the caller, else the agent."""
        if self.actor is not None:
            return self.actor
        return Actor(
            tenant_id=self.tenant_id,
            user_id=self.user_id,
            key_id=None,
            label=f"agent:{self.agent_id}",
        )


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
    """Knowledge search over the agent's collections, through the RAG search service."""
    if context.knowledge.vector_store is None or not context.collections:
        return {
            "status": "not_configured",
            "message": "This agent has no knowledge collections, or no vector store is set up",
            "collections": list(context.collections),
            "results": [],
        }
    results = await context.knowledge.search(
        tenant_id=context.tenant_id,
        request=SearchRequest(
            query=arguments["query"], top_k=arguments.get("top_k", 5), mode="hybrid"
        ),
        allowed_collections=list(context.collections),
    )
    return {"status": "ok", "results": [r.model_dump(mode="json") for r in results]}


async def remember(arguments: dict, context: ToolContext) -> dict:
    """Store a fact about the current user in the agent's memory."""
    fact = await remember_fact(
        context.session,
        tenant_id=context.tenant_id,
        agent_id=context.agent_id,
        user_key=context.user_key,
        key=arguments["key"],
        value=arguments["value"],
        memory_type=arguments.get("memory_type", "fact"),
        importance=arguments.get("importance", 5),
        ttl_seconds=arguments.get("ttl_seconds"),
    )
    return {"status": "remembered", "id": str(fact.id), "key": fact.key}


async def recall(arguments: dict, context: ToolContext) -> dict:
    """The unexpired facts the agent keeps about the current user."""
    facts = await recall_facts(
        context.session,
        tenant_id=context.tenant_id,
        agent_id=context.agent_id,
        user_key=context.user_key,
        key=arguments.get("key"),
        limit=arguments.get("limit", 20),
    )
    return {
        "facts": [{"key": f.key, "value": f.value["value"], "type": f.memory_type} for f in facts]
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
    "remember": (
        remember,
        {
            "description": "Remember a fact about the user for later conversations.",
            "function_schema": {
                "type": "object",
                "properties": {
                    "key": {"type": "string", "minLength": 1, "maxLength": 255},
                    "value": {"type": ["string", "number", "boolean"]},
                    "memory_type": {
                        "type": "string",
                        "enum": ["fact", "preference", "short_term", "long_term"],
                    },
                    "importance": {"type": "integer", "minimum": 1, "maximum": 10},
                    "ttl_seconds": {"type": "integer", "minimum": 1},
                },
                "required": ["key", "value"],
                "additionalProperties": False,
            },
        },
    ),
    "recall": (
        recall,
        {
            "description": "Recall what is remembered about the user (optionally one key).",
            "function_schema": {
                "type": "object",
                "properties": {
                    "key": {"type": "string", "maxLength": 255},
                    "limit": {"type": "integer", "minimum": 1, "maximum": 100},
                },
                "additionalProperties": False,
            },
        },
    ),
    # Issue 17's workspace: notes, calendar and mail of the user the caller acts for.
    **{
        name: (function, spec)
        for module in (note_tools, calendar_tools, mail_tools)
        for name, spec in module.SPECS.items()
        for function in [getattr(module, name)]
    },
}
