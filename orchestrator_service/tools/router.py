"""/api/v1/tools: tenant keys manage the tenant's tools; platform-admin keys the global ones."""

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, status

from orchestrator_service.deps import (
    ActorDep,
    Paging,
    PrincipalDep,
    SessionDep,
    TenantPrincipal,
    ToolRunnerDep,
    require,
    tenant_or_global,
)
from orchestrator_service.pagination import Page, page_of
from orchestrator_service.schemas import IntId, TimeFilter, as_utc
from orchestrator_service.tools import executions, service
from orchestrator_service.tools.schemas import (
    ToolCreate,
    ToolExecutionDetail,
    ToolExecutionOut,
    ToolOut,
    ToolStatistics,
    ToolUpdate,
)

router = APIRouter(prefix="/tools", tags=["tools"])


Reader = Annotated[int | None, Depends(tenant_or_global("tools:read"))]
Writer = Annotated[int | None, Depends(tenant_or_global("tools:write"))]


@router.post("", status_code=status.HTTP_201_CREATED)
async def create_tool(
    data: ToolCreate, owner: Writer, principal: PrincipalDep, actor: ActorDep, session: SessionDep
) -> ToolOut:
    """Register a tool (a global one when a platform-admin key calls). A tool that sends a
    credential is an admin's decision (403 `destination_approval_required` otherwise)."""
    tool = await service.create_tool(
        session, owner=owner, data=data, actor=actor, approver=principal.approves_destinations
    )
    return ToolOut.model_validate(tool)


@router.get("")
async def list_tools(owner: Reader, session: SessionDep, page: Paging) -> Page[ToolOut]:
    """List the tenant's tools and the global ones."""
    tools, cursor = await service.list_tools(session, owner=owner, page=page)
    return page_of(ToolOut, tools, cursor)


@router.get("/{tool_id}")
async def get_tool(tool_id: IntId, owner: Reader, session: SessionDep) -> ToolOut:
    """Show one tool."""
    return ToolOut.model_validate(await service.get_tool(session, owner=owner, tool_id=tool_id))


@router.patch("/{tool_id}")
async def update_tool(
    tool_id: IntId,
    data: ToolUpdate,
    owner: Writer,
    principal: PrincipalDep,
    actor: ActorDep,
    session: SessionDep,
) -> ToolOut:
    """Change a tool the caller owns; where a credential-sending tool's request goes is an
    admin's decision (403 `destination_approval_required` otherwise), and so is lowering its
    `security_level` or turning `requires_confirmation` off (403 `tool_approval_required`)."""
    tool = await service.update_tool(
        session,
        owner=owner,
        tool_id=tool_id,
        data=data,
        actor=actor,
        approver=principal.approves_destinations,
        admin=principal.is_platform_admin or principal.role == "admin",
    )
    return ToolOut.model_validate(tool)


@router.delete("/{tool_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_tool(tool_id: IntId, owner: Writer, actor: ActorDep, session: SessionDep) -> None:
    """Delete a tool the caller owns."""
    await service.delete_tool(session, owner=owner, tool_id=tool_id, actor=actor)


executions_router = APIRouter(tags=["tools"])
ExecutionReader = Annotated[TenantPrincipal, Depends(require("tools:read"))]
ExecutionStatus = Literal["running", "completed", "failed"]
NameFilter = Annotated[str | None, Query(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
AgentFilter = Annotated[int | None, Query(ge=1, le=2**31 - 1)]


@executions_router.get("/tool-executions")
async def list_tool_executions(
    principal: ExecutionReader,
    session: SessionDep,
    page: Paging,
    tools: ToolRunnerDep,
    tool_name: NameFilter = None,
    agent_id: AgentFilter = None,
    status: ExecutionStatus | None = None,
    since: TimeFilter = None,
    until: TimeFilter = None,
) -> Page[ToolExecutionOut]:
    """The tenant's tool calls, newest first, by tool, agent, status and time (outputs in
    `GET /tool-executions/{id}`); secrets scrubbed."""
    items, cursor = await executions.list_tool_executions(
        session,
        tenant_id=principal.tenant_id,
        page=page,
        scrubber=tools.scrubber(principal.tenant_id),
        tool_name=tool_name,
        agent_id=agent_id,
        status=status,
        since=as_utc(since, "since"),
        until=as_utc(until, "until"),
    )
    return page_of(ToolExecutionOut, items, cursor)


@executions_router.get("/tool-executions/{tool_execution_id}")
async def get_tool_execution(
    tool_execution_id: uuid.UUID,
    principal: ExecutionReader,
    session: SessionDep,
    tools: ToolRunnerDep,
) -> ToolExecutionDetail:
    """One tool call with its output; secrets scrubbed."""
    return await executions.get_tool_execution(
        session,
        tenant_id=principal.tenant_id,
        execution_id=tool_execution_id,
        scrubber=tools.scrubber(principal.tenant_id),
    )


@executions_router.get("/tool-statistics")
async def tool_statistics(
    principal: ExecutionReader,
    session: SessionDep,
    tool_name: NameFilter = None,
    agent_id: AgentFilter = None,
    since: TimeFilter = None,
    until: TimeFilter = None,
) -> Page[ToolStatistics]:
    """Per tool, over the chosen calls: calls, completed, failed, success rate, p50 / p95 /
    mean latency in ms, last call; the busiest first (one page, complete, up to 1000 tools)."""
    stats = await executions.tool_statistics(
        session,
        tenant_id=principal.tenant_id,
        tool_name=tool_name,
        agent_id=agent_id,
        since=as_utc(since, "since"),
        until=as_utc(until, "until"),
    )
    return page_of(ToolStatistics, stats)
