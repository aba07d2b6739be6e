"""Agents of a tenant: CRUD and prompt rendering."""

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from orchestrator_service.agents.models import Agent
from orchestrator_service.agents.schemas import AgentCreate, AgentUpdate, RenderOut
from orchestrator_service.agents.templates import render, template_variables
from orchestrator_service.audit.service import Actor
from orchestrator_service.db.repository import AuditedRepository
from orchestrator_service.errors import InvalidInput
from orchestrator_service.pagination import PageParams
from orchestrator_service.tools import service as tool_service
from orchestrator_service.tools.schemas import FunctionTool


class Agents(AuditedRepository[Agent]):
    """A tenant's agents."""

    model = Agent
    resource_type = "agent"
    what = "Agent"
    audited = (
        "name",
        "role",
        "model_provider",
        "model_version",
        "temperature",
        "enabled_tools",
        "is_active",
        "knowledge_collections",
    )


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
    return await Agents(session, owner=tenant_id).create(agent, actor=actor)


async def list_agents(
    session: AsyncSession, *, tenant_id: int, page: PageParams
) -> tuple[list[Agent], str | None]:
    """The tenant's agents, newest first."""
    return await Agents(session, owner=tenant_id).page(page)


async def get_agent(session: AsyncSession, *, tenant_id: int, agent_id: int) -> Agent:
    """One agent of the tenant, or 404."""
    return await Agents(session, owner=tenant_id).get(agent_id)


async def update_agent(
    session: AsyncSession, *, tenant_id: int, agent_id: int, data: AgentUpdate, actor: Actor
) -> Agent:
    """Change the given fields."""
    agents = Agents(session, owner=tenant_id)
    agent = await agents.get(agent_id)
    return await agents.update(agent, data.model_dump(exclude_unset=True), actor=actor)


async def delete_agent(
    session: AsyncSession, *, tenant_id: int, agent_id: int, actor: Actor
) -> None:
    """Delete an agent (its execution history stays)."""
    agents = Agents(session, owner=tenant_id)
    await agents.delete(await agents.get(agent_id), actor=actor)


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
