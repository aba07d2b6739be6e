"""Internal tools that run inside the service."""

import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy.ext.asyncio import AsyncSession

from orchestrator_service.agents.memory import (
    Subject,
    memory_refusal,
    recall_facts,
    remember_fact,
)
from orchestrator_service.agents.models import Agent
from orchestrator_service.audit.service import Actor
from orchestrator_service.calendar import tools as calendar_tools
from orchestrator_service.errors import Conflict, InvalidInput
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
    # True when the answer lands where the whole tenant reads it (a run in a tenant-wide
    # conversation): a tool must not give private data there.
    shared: bool = False
    execution_id: uuid.UUID | None = None  # the agent run calling the tool; None: a direct call
    network: "AgentNetwork | None" = None  # agent-to-agent messages and remote MCP tools
    # The tenant's settings for this tool: its entry of `tenants.tool_config`.
    settings: Mapping[str, object] = field(default_factory=dict)

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

    @property
    def reader(self) -> uuid.UUID | None:
        """Whose private data a tool may read: the caller's, or nobody's (tenant-wide data
        only) when the answer lands where the whole tenant reads it."""
        return None if self.shared else self.user_id


class AgentNetwork(Protocol):
    """What built-in tools reach of other agents and of an agent's remote MCP server: a port,
    implemented in agent_network/ (which runs agents, so this package cannot import it)."""

    async def message_agent(
        self, context: ToolContext, *, to_agent_id: int, message: str, conversation_id: str | None
    ) -> dict:
        """Send a connected agent a message; its run's answer."""
        ...

    async def mcp_tools(self, context: ToolContext) -> dict:
        """The tools of the calling agent's MCP server."""
        ...

    async def mcp_call(self, context: ToolContext, *, name: str, arguments: dict) -> dict:
        """Call one tool of the calling agent's MCP server."""
        ...


Builtin = Callable[[dict, ToolContext], Awaitable[dict]]


async def get_current_time(arguments: dict, context: ToolContext) -> dict:
    """The current time, in the given IANA time zone, else the tenant's default for this tool
    (`tool_config.get_current_time.timezone`), else UTC."""
    default = context.settings.get("timezone")
    zone_name = arguments.get("timezone") or (default if isinstance(default, str) else "UTC")
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
    """Store a fact about the current user (the one the caller acts for, private to them; or
    else the conversation's contact) in the agent's memory."""
    subject = Subject.of(context.user_id, context.user_key)
    fact = await remember_fact(
        context.session,
        tenant_id=context.tenant_id,
        agent_id=context.agent_id,
        user_key=subject.user_key,
        owner_user_id=subject.user_id,
        key=arguments["key"],
        value=arguments["value"],
        memory_type=arguments.get("memory_type", "fact"),
        importance=arguments.get("importance", 5),
        ttl_seconds=arguments.get("ttl_seconds"),
    )
    return {"status": "remembered", "id": str(fact.id), "key": fact.key}


async def recall(arguments: dict, context: ToolContext) -> dict:
    """The unexpired facts the agent keeps about the current user (or else the contact)."""
    agent = await context.session.get(Agent, context.agent_id)
    refusal = "the agent no longer exists" if agent is None else memory_refusal(agent)
    if refusal is not None:
        raise Conflict(f"Nothing to recall: {refusal}")
    facts = await recall_facts(
        context.session,
        tenant_id=context.tenant_id,
        agent_id=context.agent_id,
        subject=Subject.of(context.user_id, context.user_key),
        shared=context.shared,
        key=arguments.get("key"),
        limit=arguments.get("limit", 20),
    )
    return {
        "facts": [{"key": f.key, "value": f.value["value"], "type": f.memory_type} for f in facts]
    }


def _network(context: ToolContext) -> AgentNetwork:
    if context.network is None:
        raise InvalidInput("Agent messaging and MCP tools are not set up in this service")
    return context.network


async def message_agent(arguments: dict, context: ToolContext) -> dict:
    """Message a connected agent and wait for its answer."""
    return await _network(context).message_agent(
        context,
        to_agent_id=arguments["agent_id"],
        message=arguments["message"],
        conversation_id=arguments.get("conversation_id"),
    )


async def mcp_list_tools(arguments: dict, context: ToolContext) -> dict:
    """The tools of the agent's MCP server."""
    return await _network(context).mcp_tools(context)


async def mcp_call_tool(arguments: dict, context: ToolContext) -> dict:
    """Call a tool of the agent's MCP server."""
    return await _network(context).mcp_call(
        context, name=arguments["name"], arguments=arguments.get("arguments") or {}
    )


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
    # agent network (agent_network/): messages between agents, the agent's MCP server
    "message_agent": (
        message_agent,
        {
            "description": "Send a message to another agent connected to this one and get its "
            "answer. Continue an exchange by passing its conversation_id.",
            "function_schema": {
                "type": "object",
                "properties": {
                    "agent_id": {"type": "integer", "minimum": 1, "maximum": 2147483647},
                    "message": {"type": "string", "minLength": 1, "maxLength": 8000},
                    "conversation_id": {"type": "string", "minLength": 1, "maxLength": 100},
                },
                "required": ["agent_id", "message"],
                "additionalProperties": False,
            },
        },
    ),
    "mcp_list_tools": (
        mcp_list_tools,
        {
            "description": "List the tools of this agent's MCP server (name, description, "
            "input schema).",
            "function_schema": {
                "type": "object",
                "properties": {},
                "additionalProperties": False,
            },
        },
    ),
    "mcp_call_tool": (
        mcp_call_tool,
        {
            "description": "Call a tool of this agent's MCP server by name with its arguments.",
            "function_schema": {
                "type": "object",
                "properties": {
                    "name": {"type": "string", "minLength": 1, "maxLength": 200},
                    "arguments": {"type": "object"},
                },
                "required": ["name"],
                "additionalProperties": False,
            },
        },
    ),
}
