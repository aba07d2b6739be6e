"""Agents of a tenant: CRUD and prompt rendering. Every read goes through `visible`: the
tenant's agents and the caller's own private ones; another user's private agent is a 404."""

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from orchestrator_service.agents.availability import DEFAULT_CHANNELS
from orchestrator_service.agents.models import Agent
from orchestrator_service.agents.persona import system_prompt
from orchestrator_service.agents.schemas import (
    DEFAULT_BASE_URL,
    DEFAULT_KEY_CREDENTIAL,
    AgentCreate,
    AgentUpdate,
    RenderOut,
    model_destination,
)
from orchestrator_service.agents.templates import template_variables
from orchestrator_service.audit.service import Actor
from orchestrator_service.db.repository import AuditedRepository
from orchestrator_service.db.tenancy import get_visible, visible
from orchestrator_service.errors import DestinationApprovalRequired, InvalidInput
from orchestrator_service.pagination import PageParams
from orchestrator_service.privacy.ownership import change_visibility, is_private, new_owner
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
        "channels",
        "template_type",
        "knowledge_collections",
        "status",
        "visibility",
    )
    conflicts = {
        "fk_channel_connections_agent_id_agents": "This agent answers channel connections: "
        "delete them (DELETE /api/v1/channels/{id}) before the agent"
    }

    def audit_view(self, obj: Agent) -> dict:
        """The audited fields; of a private agent only its visibility (admins read the audit
        log, and a private agent's name and setup are its owner's)."""
        if is_private(obj):
            return {"visibility": obj.visibility}
        return super().audit_view(obj)


def _check_destination(
    before: tuple[object, object], after: tuple[object, object], *, approver: bool
) -> None:
    """Only an admin points an agent's model calls (and the key they carry) somewhere else."""
    if approver or before == after:
        return
    raise DestinationApprovalRequired(
        "Only an admin may choose where an agent's model calls go and which vault key they "
        "carry: config.base_url and config.api_key_credential are set or changed by an admin "
        "(the admin role and credentials:write); leave them out to use "
        f"{DEFAULT_BASE_URL} with {DEFAULT_KEY_CREDENTIAL}, or as they are",
        details={"fields": ["config.base_url", "config.api_key_credential"]},
    )


async def create_agent(
    session: AsyncSession,
    *,
    tenant_id: int,
    data: AgentCreate,
    actor: Actor,
    approver: bool,
    admin: bool = False,
    user_id: uuid.UUID | None = None,
) -> Agent:
    """Add an agent to the tenant, owned by the caller's user; one whose model calls go
    anywhere but the default only when the caller is an `approver` (an admin), one with
    moderate or dangerous tools only when an `admin`."""
    owner, visibility = new_owner(
        user_id=user_id, visibility=data.visibility, default=Agent.default_visibility
    )
    values = data.model_dump(exclude_none=True, exclude={"config", "visibility", "is_public"})
    values.setdefault("channels", DEFAULT_CHANNELS)
    await tool_service.check_tools_enabling(
        session, tenant_id=tenant_id, before=[], after=values.get("enabled_tools", []), admin=admin
    )
    if data.config is not None:
        values["config"] = data.config.model_dump(exclude_unset=True)
    _check_destination(
        model_destination(None), model_destination(values.get("config")), approver=approver
    )
    agent = Agent(
        tenant_id=tenant_id,
        created_by=user_id,
        owner_user_id=owner,
        visibility=visibility,
        **values,
    )
    return await Agents(session, owner=tenant_id).create(agent, actor=actor)


async def list_agents(
    session: AsyncSession,
    *,
    tenant_id: int,
    user_id: uuid.UUID | None,
    page: PageParams,
    is_active: bool | None = None,
) -> tuple[list[Agent], str | None]:
    """The agents the user sees, newest first; active or inactive ones only when asked."""
    stmt = visible(Agent, tenant_id, user_id)
    if is_active is not None:
        # NULL is the seed's default, true.
        active = Agent.is_active.is_not(False)
        stmt = stmt.where(active if is_active else ~active)
    return await Agents(session, owner=tenant_id).page(page, stmt)


async def get_agent(
    session: AsyncSession, *, tenant_id: int, user_id: uuid.UUID | None, agent_id: int
) -> Agent:
    """One agent the user sees, or 404 (also another user's private agent)."""
    return await get_visible(session, Agent, tenant_id, user_id, agent_id, what="Agent")


async def update_agent(
    session: AsyncSession,
    *,
    tenant_id: int,
    agent_id: int,
    data: AgentUpdate,
    actor: Actor,
    approver: bool,
    admin: bool = False,
) -> Agent:
    """Change the given fields; where its model calls go only when the caller is an
    `approver` (an admin), newly enabled moderate or dangerous tools only when an `admin`;
    its visibility only by its owner."""
    agent = await get_agent(session, tenant_id=tenant_id, user_id=actor.user_id, agent_id=agent_id)
    changes = data.model_dump(exclude_unset=True, exclude={"visibility", "is_public"})
    if data.enabled_tools is not None:
        await tool_service.check_tools_enabling(
            session,
            tenant_id=tenant_id,
            before=list(agent.enabled_tools or []),
            after=data.enabled_tools,
            admin=admin,
        )
    if data.config is not None:
        _check_destination(
            model_destination(agent.config), model_destination(changes["config"]), approver=approver
        )
    async with Agents(session, owner=tenant_id).changing(agent, actor=actor):
        change_visibility(agent, user_id=actor.user_id, visibility=data.visibility)
        for field, value in changes.items():
            setattr(agent, field, value)
    return agent


async def delete_agent(
    session: AsyncSession, *, tenant_id: int, agent_id: int, actor: Actor
) -> None:
    """Delete an agent (its execution history stays)."""
    agent = await get_agent(session, tenant_id=tenant_id, user_id=actor.user_id, agent_id=agent_id)
    await Agents(session, owner=tenant_id).delete(agent, actor=actor)


async def render_prompt(
    session: AsyncSession,
    *,
    tenant_id: int,
    user_id: uuid.UUID | None,
    agent_id: int,
    variables: dict,
) -> RenderOut:
    """The agent's system prompt (personality and expertise included) with `variables`
    filled in, and what is missing."""
    agent = await get_agent(session, tenant_id=tenant_id, user_id=user_id, agent_id=agent_id)
    try:
        names = template_variables(agent.system_prompt_template)
    except ValueError as exc:
        raise InvalidInput(f"The agent's stored template does not parse: {exc}") from None
    rendered, missing = system_prompt(agent, variables)
    return RenderOut(rendered=rendered, variables=names, missing=missing)


async def enabled_tools(
    session: AsyncSession, *, tenant_id: int, user_id: uuid.UUID | None, agent_id: int
) -> list[FunctionTool]:
    """The agent's enabled tools as OpenAI function-calling definitions."""
    await get_agent(session, tenant_id=tenant_id, user_id=user_id, agent_id=agent_id)
    return await tool_service.agent_tools(session, tenant_id=tenant_id, agent_id=agent_id)
