"""Agents of a tenant: CRUD and prompt rendering."""

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from orchestrator_service.agents.models import Agent
from orchestrator_service.agents.schemas import AgentCreate, AgentUpdate, RenderOut
from orchestrator_service.agents.templates import render, template_variables
from orchestrator_service.audit.service import Actor, record
from orchestrator_service.db.tenancy import get_scoped, scoped
from orchestrator_service.errors import InvalidInput
from orchestrator_service.pagination import PageParams, paginate
from orchestrator_service.tools import service as tool_service
from orchestrator_service.tools.schemas import FunctionTool

_AUDITED = (
    "name",
    "role",
    "model_provider",
    "model_version",
    "temperature",
    "enabled_tools",
    "is_active",
    "knowledge_collections",
)


def _audit_view(agent: Agent) -> dict:
    return {field: getattr(agent, field) for field in _AUDITED}


async def create_agent(
    session: AsyncSession,
    *,
    tenant_id: int,
    data: AgentCreate,
    actor: Actor,
    user_id: uuid.UUID | None = None,
) -> Agent:
    """Add an agent to the tenant."""
    agent = Agent(tenant_id=tenant_id, created_by=user_id, **data.model_dump(exclude_none=True))
    session.add(agent)
    await session.flush()
    await session.refresh(agent)
    await record(
        session,
        actor,
        action="create",
        resource_type="agent",
        resource_id=agent.id,
        new=_audit_view(agent),
    )
    return agent


async def list_agents(
    session: AsyncSession, *, tenant_id: int, page: PageParams
) -> tuple[list[Agent], str | None]:
    """The tenant's agents, newest first."""
    return await paginate(session, scoped(Agent, tenant_id), Agent, page)


async def get_agent(session: AsyncSession, *, tenant_id: int, agent_id: int) -> Agent:
    """One agent of the tenant, or 404."""
    return await get_scoped(session, Agent, tenant_id, agent_id, what="Agent")


async def update_agent(
    session: AsyncSession, *, tenant_id: int, agent_id: int, data: AgentUpdate, actor: Actor
) -> Agent:
    """Change the given fields."""
    agent = await get_agent(session, tenant_id=tenant_id, agent_id=agent_id)
    old = _audit_view(agent)
    for field, value in data.model_dump(exclude_unset=True).items():
        setattr(agent, field, value)
    await session.flush()
    await session.refresh(agent)
    await record(
        session,
        actor,
        action="update",
        resource_type="agent",
        resource_id=agent.id,
        old=old,
        new=_audit_view(agent),
    )
    return agent


async def delete_agent(
    session: AsyncSession, *, tenant_id: int, agent_id: int, actor: Actor
) -> None:
    """Delete an agent (its execution history stays)."""
    agent = await get_agent(session, tenant_id=tenant_id, agent_id=agent_id)
    old = _audit_view(agent)
    await session.delete(agent)
    await session.flush()
    await record(
        session, actor, action="delete", resource_type="agent", resource_id=agent_id, old=old
    )


async def render_prompt(
    session: AsyncSession, *, tenant_id: int, agent_id: int, variables: dict
) -> RenderOut:
    """The agent's system prompt with `variables` filled in, and what is missing."""
    agent = await get_agent(session, tenant_id=tenant_id, agent_id=agent_id)
    try:
        names = template_variables(agent.system_prompt_template)
    except ValueError as exc:
        raise InvalidInput(f"The agent's stored template does not parse: {exc}") from None
    rendered, missing = render(agent.system_prompt_template, variables)
    return RenderOut(rendered=rendered, variables=names, missing=missing)


async def enabled_tools(
    session: AsyncSession, *, tenant_id: int, agent_id: int
) -> list[FunctionTool]:
    """The agent's enabled tools as OpenAI function-calling definitions."""
    return await tool_service.agent_tools(session, tenant_id=tenant_id, agent_id=agent_id)
