"""/api/v1/agents, and the agent-runtime endpoints for an agent's tools."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, status
from fastapi.responses import JSONResponse, Response, StreamingResponse

from orchestrator_service.agents import memory, service
from orchestrator_service.agents.schemas import (
    AgentCreate,
    AgentOut,
    AgentUpdate,
    MemoryCreate,
    MemoryOut,
    RenderOut,
    RenderRequest,
    RunOut,
    RunRequest,
)
from orchestrator_service.deps import (
    ActorDep,
    AgentRunnerDep,
    KnowledgeDep,
    Paging,
    SessionDep,
    TenantPrincipal,
    ToolRunnerDep,
    require,
)
from orchestrator_service.errors import InvalidInput, NotFound
from orchestrator_service.jobs.queue import enqueue_run
from orchestrator_service.pagination import Page, page_of
from orchestrator_service.rag.schemas import SearchRequest, SearchResult
from orchestrator_service.schemas import IntId
from orchestrator_service.tools.schemas import FunctionTool, InvokeRequest, InvokeResult

router = APIRouter(prefix="/agents", tags=["agents"])
Reader = Annotated[TenantPrincipal, Depends(require("agents:read"))]
Writer = Annotated[TenantPrincipal, Depends(require("agents:write"))]
Invoker = Annotated[TenantPrincipal, Depends(require("tools:write"))]
Runner = Annotated[TenantPrincipal, Depends(require("executions:write"))]


@router.post("", status_code=status.HTTP_201_CREATED)
async def create_agent(
    data: AgentCreate, principal: Writer, actor: ActorDep, session: SessionDep
) -> AgentOut:
    """Create an agent. Setting `config.base_url` or `config.api_key_credential` is an admin's
    decision (403 `destination_approval_required` otherwise), and so is enabling a moderate or
    dangerous tool (403 `tool_approval_required`)."""
    agent = await service.create_agent(
        session,
        tenant_id=principal.tenant_id,
        data=data,
        actor=actor,
        approver=principal.approves_destinations,
        admin=principal.role == "admin",
        user_id=principal.user_id,
    )
    return AgentOut.model_validate(agent)


@router.get("")
async def list_agents(
    principal: Reader, session: SessionDep, page: Paging, is_active: bool | None = None
) -> Page[AgentOut]:
    """List the agents the caller sees (the tenant's, and the caller's private ones), inactive
    ones included unless `is_active` says otherwise (runtimes' lists, `/v1/models` and MCP,
    show only active ones)."""
    agents, cursor = await service.list_agents(
        session,
        tenant_id=principal.tenant_id,
        user_id=principal.user_id,
        page=page,
        is_active=is_active,
    )
    return page_of(AgentOut, agents, cursor)


@router.get("/{agent_id}")
async def get_agent(agent_id: IntId, principal: Reader, session: SessionDep) -> AgentOut:
    """Show one agent (404 for another user's private agent)."""
    agent = await service.get_agent(
        session, tenant_id=principal.tenant_id, user_id=principal.user_id, agent_id=agent_id
    )
    return AgentOut.model_validate(agent)


@router.patch("/{agent_id}")
async def update_agent(
    agent_id: IntId, data: AgentUpdate, principal: Writer, actor: ActorDep, session: SessionDep
) -> AgentOut:
    """Change an agent. Changing `config.base_url` or `config.api_key_credential` is an
    admin's decision (403 `destination_approval_required` otherwise), and so is enabling a
    moderate or dangerous tool (403 `tool_approval_required`)."""
    agent = await service.update_agent(
        session,
        tenant_id=principal.tenant_id,
        agent_id=agent_id,
        data=data,
        actor=actor,
        approver=principal.approves_destinations,
        admin=principal.role == "admin",
    )
    return AgentOut.model_validate(agent)


@router.delete("/{agent_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_agent(
    agent_id: IntId, principal: Writer, actor: ActorDep, session: SessionDep
) -> None:
    """Delete an agent."""
    await service.delete_agent(
        session, tenant_id=principal.tenant_id, agent_id=agent_id, actor=actor
    )


@router.post("/{agent_id}/render")
async def render_prompt(
    agent_id: IntId, data: RenderRequest, principal: Reader, session: SessionDep
) -> RenderOut:
    """Render the agent's system prompt with the given variables; report the missing ones."""
    return await service.render_prompt(
        session,
        tenant_id=principal.tenant_id,
        user_id=principal.user_id,
        agent_id=agent_id,
        variables=data.variables,
    )


@router.get("/{agent_id}/tools")
async def agent_tools(
    agent_id: IntId, principal: Reader, session: SessionDep
) -> Page[FunctionTool]:
    """The agent's enabled tools as OpenAI function-calling definitions (one page, complete)."""
    tools = await service.enabled_tools(
        session, tenant_id=principal.tenant_id, user_id=principal.user_id, agent_id=agent_id
    )
    return page_of(FunctionTool, tools)


@router.post("/{agent_id}/tools/{tool_name}/invoke")
async def invoke_tool(
    agent_id: IntId,
    tool_name: Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{1,64}$")],
    data: InvokeRequest,
    principal: Invoker,
    actor: ActorDep,
    tools: ToolRunnerDep,
) -> InvokeResult:
    """Run one of the agent's tools with arguments checked against its schema."""
    return await tools.invoke(
        tenant_id=principal.tenant_id,
        agent_id=agent_id,
        tool_name=tool_name,
        request=data,
        actor=actor,
    )


@router.post("/{agent_id}/knowledge/search")
async def search_agent_knowledge(
    agent_id: IntId,
    data: SearchRequest,
    principal: Reader,
    session: SessionDep,
    knowledge: KnowledgeDep,
) -> Page[SearchResult]:
    """Search only the agent's knowledge collections."""
    agent = await service.get_agent(
        session, tenant_id=principal.tenant_id, user_id=principal.user_id, agent_id=agent_id
    )
    results = await knowledge.search(
        tenant_id=principal.tenant_id,
        request=data,
        allowed_collections=list(agent.knowledge_collections or []),
    )
    return page_of(SearchResult, results)


@router.post(
    "/{agent_id}/runs",
    response_model=RunOut,
    responses={
        200: {
            "description": "The answer; with `stream`, server-sent events (`delta` events, "
            "then `done` or `error`)",
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
        },
        202: {"model": RunOut, "description": "Started in the background: poll the execution"},
    },
)
async def run_agent(
    agent_id: IntId,
    data: RunRequest,
    principal: Runner,
    actor: ActorDep,
    runs: AgentRunnerDep,
    session: SessionDep,
) -> RunOut | Response:
    """Run the agent on an input: answer (200), stream it as server-sent events, or start it
    in the background (202) and poll `GET /executions/{id}`. This is the `web` channel: an
    agent that does not list it, or is inactive, answers 409."""
    execution = await runs.start(
        tenant_id=principal.tenant_id, agent_id=agent_id, request=data, actor=actor
    )
    if data.background:
        await enqueue_run(session, str(execution.id))
        return JSONResponse(
            RunOut.model_validate(execution).model_dump(mode="json"), status_code=202
        )
    if data.stream:
        return StreamingResponse(runs.stream(execution.id), media_type="text/event-stream")
    return RunOut.model_validate(await runs.execute(execution.id))


@router.get("/{agent_id}/memories")
async def list_memories(
    agent_id: IntId,
    principal: Reader,
    session: SessionDep,
    user_key: Annotated[str | None, Query(max_length=255)] = None,
) -> Page[MemoryOut]:
    """The agent's unexpired memories the caller may read: those about the caller, and the
    tenant-wide ones (about channel contacts); of one subject, if given."""
    await service.get_agent(
        session, tenant_id=principal.tenant_id, user_id=principal.user_id, agent_id=agent_id
    )
    facts = await memory.list_facts(
        session,
        tenant_id=principal.tenant_id,
        agent_id=agent_id,
        reader=principal.user_id,
        user_key=user_key,
    )
    return page_of(MemoryOut, facts, None)


@router.post("/{agent_id}/memories", status_code=status.HTTP_201_CREATED)
async def add_memory(
    agent_id: IntId, data: MemoryCreate, principal: Writer, session: SessionDep
) -> MemoryOut:
    """Teach the agent a fact about the calling user (private to them unless `visibility` is
    `tenant`), or about the contact `user_key` (tenant-wide, like every contact's facts). 409
    when the agent keeps no memories."""
    await service.get_agent(
        session, tenant_id=principal.tenant_id, user_id=principal.user_id, agent_id=agent_id
    )
    if data.user_key is None and principal.user_id is None:
        raise InvalidInput(
            "This key acts for no user: say whom the fact is about in `user_key`",
            details={"field": "user_key"},
        )
    if data.user_key is not None and data.visibility == "private":
        raise InvalidInput(
            "A contact's facts (`user_key`) are the tenant's; a private fact is about the "
            "calling user: leave `user_key` out",
            details={"field": "visibility"},
        )
    subject = (
        memory.Subject(None, data.user_key)
        if data.user_key
        else memory.Subject.of(principal.user_id, "")
    )
    fact = await memory.remember_fact(
        session,
        tenant_id=principal.tenant_id,
        agent_id=agent_id,
        user_key=subject.user_key,
        owner_user_id=subject.user_id,
        visibility=data.visibility,
        key=data.key,
        value=data.value,
        memory_type=data.memory_type,
        importance=data.importance,
        ttl_seconds=data.ttl_seconds,
        context=data.context,
    )
    return MemoryOut.model_validate(fact)


@router.delete("/{agent_id}/memories/{memory_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_memory(
    agent_id: IntId, memory_id: uuid.UUID, principal: Writer, session: SessionDep
) -> None:
    """Forget one fact the caller may read (404 for another user's)."""
    await service.get_agent(
        session, tenant_id=principal.tenant_id, user_id=principal.user_id, agent_id=agent_id
    )
    if not await memory.forget(
        session,
        tenant_id=principal.tenant_id,
        agent_id=agent_id,
        reader=principal.user_id,
        memory_id=memory_id,
    ):
        raise NotFound("Memory not found")
