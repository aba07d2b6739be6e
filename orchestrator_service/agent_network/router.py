"""/api/v1/agent-connections, /api/v1/agent-messages and /api/v1/agents/{id}/mcp/tools."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, status

from orchestrator_service.agent_network import service
from orchestrator_service.agent_network.schemas import (
    AgentMessageOut,
    ConnectionCreate,
    ConnectionOut,
    ConnectionUpdate,
    McpToolOut,
)
from orchestrator_service.deps import (
    ActorDep,
    AgentNetworkDep,
    Paging,
    SessionDep,
    TenantPrincipal,
    require,
)
from orchestrator_service.pagination import Page, page_of
from orchestrator_service.schemas import IntId

router = APIRouter(tags=["agent-network"])
Reader = Annotated[TenantPrincipal, Depends(require("agents:read"))]
Writer = Annotated[TenantPrincipal, Depends(require("agents:write"))]
AgentFilter = Annotated[int | None, Query(ge=1, le=2**31 - 1, description="Either side")]


@router.post("/agent-connections", status_code=status.HTTP_201_CREATED)
async def create_connection(
    data: ConnectionCreate, principal: Writer, actor: ActorDep, session: SessionDep
) -> ConnectionOut:
    """Connect two agents of the tenant (one connection per pair, either way round)."""
    connection = await service.create_connection(
        session, tenant_id=principal.tenant_id, data=data, actor=actor
    )
    return ConnectionOut.model_validate(connection)


@router.get("/agent-connections")
async def list_connections(
    principal: Reader, session: SessionDep, page: Paging, agent_id: AgentFilter = None
) -> Page[ConnectionOut]:
    """The tenant's agent connections, newest first."""
    rows, cursor = await service.list_connections(
        session, tenant_id=principal.tenant_id, page=page, agent_id=agent_id
    )
    return page_of(ConnectionOut, rows, cursor)


@router.get("/agent-connections/{agent_connection_id}")
async def get_connection(
    agent_connection_id: uuid.UUID, principal: Reader, session: SessionDep
) -> ConnectionOut:
    """One agent connection."""
    connection = await service.get_connection(
        session, tenant_id=principal.tenant_id, connection_id=agent_connection_id
    )
    return ConnectionOut.model_validate(connection)


@router.patch("/agent-connections/{agent_connection_id}")
async def update_connection(
    agent_connection_id: uuid.UUID,
    data: ConnectionUpdate,
    principal: Writer,
    actor: ActorDep,
    session: SessionDep,
) -> ConnectionOut:
    """Pause, block or reactivate a connection, or change its type."""
    connection = await service.update_connection(
        session,
        tenant_id=principal.tenant_id,
        connection_id=agent_connection_id,
        data=data,
        actor=actor,
    )
    return ConnectionOut.model_validate(connection)


@router.delete("/agent-connections/{agent_connection_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_connection(
    agent_connection_id: uuid.UUID, principal: Writer, actor: ActorDep, session: SessionDep
) -> None:
    """Remove a connection (its messages stay on record)."""
    await service.delete_connection(
        session, tenant_id=principal.tenant_id, connection_id=agent_connection_id, actor=actor
    )


@router.get("/agent-messages")
async def list_messages(
    principal: Reader,
    session: SessionDep,
    page: Paging,
    conversation_id: Annotated[str | None, Query(min_length=1, max_length=100)] = None,
    agent_id: AgentFilter = None,
) -> Page[AgentMessageOut]:
    """Messages agents of the tenant sent each other (of one exchange, or of one agent),
    newest first."""
    rows, cursor = await service.list_messages(
        session,
        tenant_id=principal.tenant_id,
        user_id=principal.user_id,
        page=page,
        conversation_id=conversation_id,
        agent_id=agent_id,
    )
    return page_of(AgentMessageOut, rows, cursor)


@router.get("/agents/{agent_id}/mcp/tools")
async def list_mcp_tools(
    agent_id: IntId, principal: Reader, actor: ActorDep, network: AgentNetworkDep
) -> Page[McpToolOut]:
    """The tools of the agent's remote MCP server (`mcp_endpoint`), asked now; none when the
    agent has no server."""
    tools = await network.list_agent_tools(
        tenant_id=principal.tenant_id, agent_id=agent_id, actor=actor
    )
    return page_of(McpToolOut, tools)
