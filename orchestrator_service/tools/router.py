"""/api/v1/tools: tenant keys manage the tenant's tools; platform-admin keys the global ones."""

from typing import Annotated

from fastapi import APIRouter, Depends, status

from orchestrator_service.deps import ActorDep, Paging, PrincipalDep, SessionDep, tenant_or_global
from orchestrator_service.pagination import Page, page_of
from orchestrator_service.schemas import IntId
from orchestrator_service.tools import service
from orchestrator_service.tools.schemas import ToolCreate, ToolOut, ToolUpdate

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
    admin's decision (403 `destination_approval_required` otherwise)."""
    tool = await service.update_tool(
        session,
        owner=owner,
        tool_id=tool_id,
        data=data,
        actor=actor,
        approver=principal.approves_destinations,
    )
    return ToolOut.model_validate(tool)


@router.delete("/{tool_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_tool(tool_id: IntId, owner: Writer, actor: ActorDep, session: SessionDep) -> None:
    """Delete a tool the caller owns."""
    await service.delete_tool(session, owner=owner, tool_id=tool_id, actor=actor)
