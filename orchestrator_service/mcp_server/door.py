"""`/mcp`: the tenant's tools, `search_knowledge`, ready documents and agent prompts over MCP.

Every HTTP request is authenticated (the same bearer API keys) before the SDK's session
manager sees it; the principal rides on the request into the MCP handlers, so each call acts as
the key that sent it. The transport runs stateless with JSON answers: any replica answers any
request, and there is no session another key could take over. Naming an agent
(`/mcp?agent=agent-<id>`) exposes its enabled tools, run through the same ToolRunner as the REST
invoke (vault injection, SSRF guard, audit, limits), and confines `search_knowledge` to its
collections.
"""

import json
import mimetypes
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, Protocol

import mcp.types as types
from mcp.server.lowlevel import Server
from mcp.server.lowlevel.helper_types import ReadResourceContents
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.shared.exceptions import McpError
from pydantic import AnyUrl, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.datastructures import Headers, QueryParams
from starlette.requests import Request
from starlette.types import Receive, Scope, Send

from orchestrator_service import __version__
from orchestrator_service.agents.availability import ensure_active
from orchestrator_service.agents.models import Agent
from orchestrator_service.agents.templates import render, template_variables
from orchestrator_service.audit.service import Actor
from orchestrator_service.auth.authentication import authenticate
from orchestrator_service.auth.principal import TenantPrincipal
from orchestrator_service.db.tenancy import get_visible, scoped, visible
from orchestrator_service.errors import Forbidden, InvalidInput, NotFound, OrchestratorError
from orchestrator_service.http import error_response, request_id_var
from orchestrator_service.rag.models import RagDocument
from orchestrator_service.rag.schemas import SearchRequest
from orchestrator_service.rag.search import KnowledgeSearch
from orchestrator_service.rag.storage import document_key
from orchestrator_service.storage import ObjectMissing, ObjectStore, StorageUnavailable
from orchestrator_service.tools import service as tool_service
from orchestrator_service.tools.invoker import ToolRunner
from orchestrator_service.tools.schemas import InvokeRequest

PATH = "/mcp"
SEARCH = "search_knowledge"
RESOURCE_PREFIX = "orchestrator://documents/"
AGENT_PREFIX = "agent-"
# The scope a key needs to open the door at all; each operation checks its own as well.
DOOR_SCOPE = "tools:read"
TEXT_TYPES = ("text/", "application/json", "application/xml")
SEARCH_SCHEMA = {
    "type": "object",
    "properties": {
        "query": {"type": "string", "minLength": 1, "maxLength": 4000},
        "collections": {"type": "array", "items": {"type": "string"}, "maxItems": 64},
        "top_k": {"type": "integer", "minimum": 1, "maximum": 50, "default": 5},
        "mode": {"type": "string", "enum": ["vector", "hybrid"], "default": "hybrid"},
    },
    "required": ["query"],
    "additionalProperties": False,
}


class Collaborators(Protocol):
    """What the door uses of the booted service."""

    sessionmaker: async_sessionmaker[AsyncSession]
    tools: ToolRunner
    knowledge: KnowledgeSearch
    files: ObjectStore


class _Caller:
    """Who sent the MCP request being handled, and the agent the URL names."""

    def __init__(self, principal: TenantPrincipal, agent_id: int | None, actor: Actor) -> None:
        self.principal = principal
        self.agent_id = agent_id
        self.actor = actor

    def need(self, scope: str) -> None:
        """Refuse the operation unless the key grants `scope`."""
        if not self.principal.allows(scope):
            raise McpError(
                types.ErrorData(
                    code=types.INVALID_REQUEST, message=f"This requires the {scope!r} permission"
                )
            )


def _mime(document: RagDocument) -> str:
    """A document's media type: as recorded, else as its file name says."""
    guessed, _ = mimetypes.guess_type(document.filename or "")
    return document.mime_type or guessed or "application/octet-stream"


def _agent_id(given: str | None) -> int | None:
    """The agent id of the `agent` query parameter (`agent-<id>` or `<id>`)."""
    if given is None:
        return None
    number = given.removeprefix(AGENT_PREFIX)
    if not number.isdigit() or int(number) >= 2**31:
        raise NotFound(f"No agent {given!r} in this tenant")
    return int(number)


def _failure(exc: OrchestratorError) -> types.CallToolResult:
    """A tool call that failed, as MCP reports it (to the model, which may recover)."""
    body = {"error": {"code": exc.code, "message": exc.message}}
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=json.dumps(body))], isError=True
    )


def _errors(exc: ValidationError) -> str:
    """What is wrong with arguments, without echoing them."""
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or 'arguments'}: {e['msg']}" for e in exc.errors()[:5]
    )


def _success(output: Any) -> types.CallToolResult:
    structured = output if isinstance(output, dict) else {"result": output}
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=json.dumps(output, default=str))],
        structuredContent=structured,
    )


class McpDoor:
    """The ASGI app at `/mcp`: authentication, then the SDK's streamable HTTP transport."""

    def __init__(self, collaborators: Callable[[], Collaborators]) -> None:
        self._collaborators = collaborators
        self.server: Server = Server("orchestrator_service", version=__version__)
        self._register()
        self._manager = StreamableHTTPSessionManager(
            app=self.server, json_response=True, stateless=True
        )

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Run the session manager (in the application's lifespan)."""
        async with self._manager.run():
            yield

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Authenticate the request, then hand it to the MCP transport."""
        if scope["type"] != "http":
            return
        runtime = self._collaborators()
        try:
            async with runtime.sessionmaker.begin() as session:
                principal = await authenticate(
                    session, Headers(scope=scope).get("authorization", "")
                )
                tenant = principal.in_tenant()
                if tenant is None:
                    raise Forbidden("Platform-admin keys manage tenants; use a key of the tenant")
                if not principal.allows(DOOR_SCOPE):
                    raise Forbidden(
                        f"This requires the {DOOR_SCOPE!r} permission",
                        details={"scope": DOOR_SCOPE},
                    )
                agent_id = _agent_id(QueryParams(scope.get("query_string", b"")).get("agent"))
                if agent_id is not None:
                    ensure_active(
                        await get_visible(
                            session, Agent, tenant.tenant_id, tenant.user_id, agent_id, what="Agent"
                        )
                    )
        except OrchestratorError as exc:
            response = error_response(
                exc.status_code, exc.code, exc.message, exc.details, exc.headers
            )
            await response(scope, receive, send)
            return
        client = scope.get("client")
        actor = Actor.of(
            tenant,
            ip=client[0] if client else None,
            user_agent=Headers(scope=scope).get("user-agent"),
            request_id=request_id_var.get(),
        )
        scope.setdefault("state", {})["mcp_caller"] = _Caller(tenant, agent_id, actor)
        scope.setdefault("state", {})["principal"] = tenant
        await self._manager.handle_request(scope, receive, send)

    def _caller(self) -> _Caller:
        request = self.server.request_context.request
        if not isinstance(request, Request):  # only HTTP requests reach the handlers
            raise McpError(types.ErrorData(code=types.INVALID_REQUEST, message="Not over HTTP"))
        return request.state.mcp_caller

    def _register(self) -> None:
        server = self.server
        server.request_handlers[types.ListToolsRequest] = self._list_tools
        server.request_handlers[types.CallToolRequest] = self._call_tool
        server.list_resources()(self._list_resources)
        server.read_resource()(self._read_resource)
        server.list_prompts()(self._list_prompts)
        server.get_prompt()(self._get_prompt)

    # --- tools ---------------------------------------------------------------------------

    async def _list_tools(self, _: types.ListToolsRequest) -> types.ServerResult:
        """The named agent's enabled tools, and `search_knowledge`."""
        caller, runtime = self._caller(), self._collaborators()
        tools: list[types.Tool] = []
        if caller.agent_id is not None:
            async with runtime.sessionmaker.begin() as session:
                functions = await tool_service.agent_tools(
                    session, tenant_id=caller.principal.tenant_id, agent_id=caller.agent_id
                )
            tools = [
                types.Tool(
                    name=f.function.name,
                    description=f.function.description,
                    inputSchema=f.function.parameters,
                )
                for f in functions
            ]
        if SEARCH not in {t.name for t in tools} and caller.principal.allows("rag:read"):
            tools.append(
                types.Tool(
                    name=SEARCH,
                    description="Search the tenant's ready documents (the agent's collections "
                    "when the URL names an agent); the best chunks with their source.",
                    inputSchema=SEARCH_SCHEMA,
                )
            )
        return types.ServerResult(types.ListToolsResult(tools=tools))

    async def _call_tool(self, request: types.CallToolRequest) -> types.ServerResult:
        """Run a tool through the ToolRunner (an agent's), or search the knowledge."""
        caller, runtime = self._caller(), self._collaborators()
        name, arguments = request.params.name, request.params.arguments or {}
        try:
            if caller.agent_id is None and name == SEARCH:
                result = await self._search(caller, runtime, arguments)
            else:
                caller.need("tools:write")
                if caller.agent_id is None:
                    raise NotFound(
                        f"No tool {name!r}: name an agent in the URL (?agent=agent-<id>) to "
                        "use its tools"
                    )
                invoked = await runtime.tools.invoke(
                    tenant_id=caller.principal.tenant_id,
                    agent_id=caller.agent_id,
                    tool_name=name,
                    request=InvokeRequest(arguments=arguments),
                    actor=caller.actor,
                )
                result = _success(invoked.output)
        except OrchestratorError as exc:
            result = _failure(exc)
        except ValidationError as exc:  # arguments the REST invoke would refuse (NUL, say)
            result = _failure(InvalidInput(f"Invalid arguments: {_errors(exc)}"))
        return types.ServerResult(result)

    async def _search(
        self, caller: _Caller, runtime: Collaborators, arguments: dict
    ) -> types.CallToolResult:
        caller.need("rag:read")
        try:
            request = SearchRequest.model_validate({"mode": "hybrid", **arguments})
        except ValidationError as exc:
            return _failure(InvalidInput(f"Invalid arguments: {_errors(exc)}"))
        results = await runtime.knowledge.search(
            tenant_id=caller.principal.tenant_id, request=request, allowed_collections=None
        )
        found = [
            r.model_dump(
                mode="json", include={"content", "score", "document_id", "filename", "collection"}
            )
            for r in results
        ]
        return _success({"results": found})

    # --- resources -----------------------------------------------------------------------

    async def _list_resources(self) -> list[types.Resource]:
        """The tenant's ready documents."""
        caller, runtime = self._caller(), self._collaborators()
        caller.need("rag:read")
        async with runtime.sessionmaker.begin() as session:
            documents = await session.scalars(
                scoped(RagDocument, caller.principal.tenant_id)
                .where(RagDocument.status == "ready")
                .order_by(RagDocument.created_at, RagDocument.id)
                .limit(1000)
            )
            return [
                types.Resource(
                    uri=AnyUrl(f"{RESOURCE_PREFIX}{d.id}"),
                    name=d.filename,
                    description=f"Collection {d.collection}",
                    mimeType=_mime(d),
                    size=d.size_bytes,
                )
                for d in documents
            ]

    async def _read_resource(self, uri: AnyUrl) -> list[ReadResourceContents]:
        """A ready document's file (text when it is text)."""
        caller, runtime = self._caller(), self._collaborators()
        caller.need("rag:read")
        document_id = str(uri).removeprefix(RESOURCE_PREFIX)
        async with runtime.sessionmaker.begin() as session:
            document = await session.scalar(
                scoped(RagDocument, caller.principal.tenant_id).where(
                    RagDocument.id == document_id, RagDocument.status == "ready"
                )
            )
        if document is None or not str(uri).startswith(RESOURCE_PREFIX):
            raise McpError(types.ErrorData(code=types.INVALID_PARAMS, message="No such resource"))
        try:
            stored = await runtime.files.open(document_key(caller.principal.tenant_id, document.id))
            data = b"".join([chunk async for chunk in stored.chunks])
        except (ObjectMissing, StorageUnavailable, ValueError):
            raise McpError(
                types.ErrorData(code=types.INTERNAL_ERROR, message="The file is unavailable")
            ) from None
        mime = _mime(document)
        if mime.startswith(TEXT_TYPES):
            return [ReadResourceContents(content=data.decode("utf-8", "replace"), mime_type=mime)]
        return [ReadResourceContents(content=data, mime_type=mime)]

    # --- prompts -------------------------------------------------------------------------

    async def _list_prompts(self) -> list[types.Prompt]:
        """Each active agent's prompt template, its variables as arguments."""
        caller, runtime = self._caller(), self._collaborators()
        caller.need("agents:read")
        async with runtime.sessionmaker.begin() as session:
            agents = await session.scalars(
                visible(Agent, caller.principal.tenant_id, caller.principal.user_id)
                .where(Agent.is_active.is_not(False))
                .order_by(Agent.id)
            )
            return [
                types.Prompt(
                    name=f"{AGENT_PREFIX}{agent.id}",
                    title=agent.name,
                    description=agent.description or f"The system prompt of {agent.name}",
                    arguments=[
                        types.PromptArgument(name=name, required=True)
                        for name in template_variables(agent.system_prompt_template)
                    ],
                )
                for agent in agents
            ]

    async def _get_prompt(
        self, name: str, arguments: dict[str, str] | None
    ) -> types.GetPromptResult:
        """An agent's prompt rendered with the arguments."""
        caller, runtime = self._caller(), self._collaborators()
        caller.need("agents:read")
        agent = None
        if name.startswith(AGENT_PREFIX) and name.removeprefix(AGENT_PREFIX).isdigit():
            number = int(name.removeprefix(AGENT_PREFIX))
            async with runtime.sessionmaker.begin() as session:
                agent = (
                    await session.scalar(
                        visible(Agent, caller.principal.tenant_id, caller.principal.user_id).where(
                            Agent.id == number,
                            Agent.is_active.is_not(False),
                        )
                    )
                    if number < 2**31
                    else None
                )
        if agent is None:
            raise McpError(types.ErrorData(code=types.INVALID_PARAMS, message="No such prompt"))
        text, missing = render(agent.system_prompt_template, dict(arguments or {}))
        if missing:
            raise McpError(
                types.ErrorData(
                    code=types.INVALID_PARAMS,
                    message=f"Missing arguments: {', '.join(missing)}",
                )
            )
        return types.GetPromptResult(
            description=f"The system prompt of {agent.name}",
            messages=[
                types.PromptMessage(role="user", content=types.TextContent(type="text", text=text))
            ],
        )
