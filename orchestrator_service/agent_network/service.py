"""Agent connections (CRUD) and the agent messages on record."""

import uuid

from sqlalchemy import and_, or_
from sqlalchemy.ext.asyncio import AsyncSession

from orchestrator_service.agent_network.models import AgentConnection, AgentMessage
from orchestrator_service.agent_network.schemas import ConnectionCreate, ConnectionUpdate
from orchestrator_service.agents.models import Agent
from orchestrator_service.audit.service import Actor
from orchestrator_service.db.repository import AuditedRepository
from orchestrator_service.db.tenancy import get_visible, scoped, visible
from orchestrator_service.errors import InvalidInput, NotFound
from orchestrator_service.pagination import PageParams, paginate


class Connections(AuditedRepository[AgentConnection]):
    """A tenant's agent connections."""

    model = AgentConnection
    resource_type = "agent_connection"
    what = "Agent connection"
    audited = ("agent1_id", "agent2_id", "connection_type", "status")
    conflicts = {
        "uq_agent_connections_pair": "These two agents are already connected (a connection "
        "covers both directions of a pair): change that connection's type or status instead"
    }


async def tenant_agent(
    session: AsyncSession, *, tenant_id: int, user_id: uuid.UUID | None, agent_id: int
) -> Agent:
    """An agent of the tenant the user may use, or 404 (also for another tenant's id and
    another user's private agent)."""
    return await get_visible(session, Agent, tenant_id, user_id, agent_id, what="Agent")


async def create_connection(
    session: AsyncSession,
    *,
    tenant_id: int,
    data: ConnectionCreate,
    actor: Actor,
) -> AgentConnection:
    """Connect two of the tenant's agents; a self-connection is refused (422), a pair already
    connected either way round is a 409."""
    if data.agent1_id == data.agent2_id:
        raise InvalidInput(
            "An agent cannot be connected to itself: agent1_id and agent2_id must differ",
            details=[{"path": "$.agent2_id", "message": "equals agent1_id"}],
        )
    for field, agent_id in (("agent1_id", data.agent1_id), ("agent2_id", data.agent2_id)):
        try:
            await tenant_agent(
                session, tenant_id=tenant_id, user_id=actor.user_id, agent_id=agent_id
            )
        except NotFound:
            raise NotFound(f"Agent {agent_id} ({field}) not found") from None
    connection = AgentConnection(tenant_id=tenant_id, created_by=actor.user_id, **data.model_dump())
    return await Connections(session, owner=tenant_id).create(connection, actor=actor)


async def list_connections(
    session: AsyncSession, *, tenant_id: int, page: PageParams, agent_id: int | None = None
) -> tuple[list[AgentConnection], str | None]:
    """The tenant's connections (those of one agent, either side), newest first."""
    connections = Connections(session, owner=tenant_id)
    stmt = connections.select()
    if agent_id is not None:
        stmt = stmt.where(
            or_(AgentConnection.agent1_id == agent_id, AgentConnection.agent2_id == agent_id)
        )
    return await connections.page(page, stmt)


async def get_connection(
    session: AsyncSession, *, tenant_id: int, connection_id: uuid.UUID
) -> AgentConnection:
    """One connection of the tenant, or 404."""
    return await Connections(session, owner=tenant_id).get(connection_id)


async def update_connection(
    session: AsyncSession,
    *,
    tenant_id: int,
    connection_id: uuid.UUID,
    data: ConnectionUpdate,
    actor: Actor,
) -> AgentConnection:
    """Change a connection's type or status."""
    connections = Connections(session, owner=tenant_id)
    connection = await connections.get(connection_id)
    return await connections.update(connection, data.model_dump(exclude_unset=True), actor=actor)


async def delete_connection(
    session: AsyncSession, *, tenant_id: int, connection_id: uuid.UUID, actor: Actor
) -> None:
    """Remove a connection (the messages sent over it stay on record)."""
    connections = Connections(session, owner=tenant_id)
    await connections.delete(await connections.get(connection_id), actor=actor)


async def connection_between(
    session: AsyncSession, *, tenant_id: int, a: int, b: int
) -> AgentConnection | None:
    """The tenant's connection of agents `a` and `b`, whichever way round it was made."""
    return await session.scalar(
        scoped(AgentConnection, tenant_id).where(
            or_(
                and_(AgentConnection.agent1_id == a, AgentConnection.agent2_id == b),
                and_(AgentConnection.agent1_id == b, AgentConnection.agent2_id == a),
            )
        )
    )


async def list_messages(
    session: AsyncSession,
    *,
    tenant_id: int,
    page: PageParams,
    user_id: uuid.UUID | None,
    conversation_id: str | None = None,
    agent_id: int | None = None,
) -> tuple[list[AgentMessage], str | None]:
    """The tenant's agent messages this user may read (of one exchange, or sent or received
    by one agent), newest first: another user's private exchange is left out."""
    stmt = visible(AgentMessage, tenant_id, user_id)
    if conversation_id is not None:
        stmt = stmt.where(AgentMessage.conversation_id == conversation_id)
    if agent_id is not None:
        stmt = stmt.where(
            or_(AgentMessage.from_agent_id == agent_id, AgentMessage.to_agent_id == agent_id)
        )
    return await paginate(session, stmt, AgentMessage, page)
