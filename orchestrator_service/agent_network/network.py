"""The agent network the built-in tools reach (`tools.builtins.AgentNetwork`): messages to
connected agents, and the calling agent's remote MCP server."""

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from orchestrator_service.agent_network.messaging import AgentMessenger
from orchestrator_service.agent_network.remote_mcp import RemoteMcp
from orchestrator_service.agent_network.service import tenant_agent
from orchestrator_service.agents.models import Agent
from orchestrator_service.audit.service import Actor
from orchestrator_service.errors import InvalidInput
from orchestrator_service.tools.builtins import ToolContext


def mcp_target(agent: Agent) -> tuple[str, str | None]:
    """The agent's MCP endpoint and bearer credential name, or `InvalidInput` when it has no
    endpoint."""
    if not agent.mcp_endpoint:
        raise InvalidInput(
            f"Agent {agent.id} has no MCP server: set its mcp_endpoint "
            "(PATCH /api/v1/agents/{id})"
        )
    credential = (agent.config or {}).get("mcp_credential")
    return agent.mcp_endpoint, credential if isinstance(credential, str) else None


class AgentNetworkPort:
    """`AgentNetwork` over the messenger and the MCP client."""

    def __init__(
        self,
        *,
        sessionmaker: async_sessionmaker[AsyncSession],
        messenger: AgentMessenger,
        remote: RemoteMcp,
    ) -> None:
        self._sessionmaker = sessionmaker
        self.messenger = messenger
        self.remote = remote

    async def message_agent(
        self, context: ToolContext, *, to_agent_id: int, message: str, conversation_id: str | None
    ) -> dict:
        """Send a connected agent a message; its run's answer."""
        return await self.messenger.send(
            context, to_agent_id=to_agent_id, message=message, conversation_id=conversation_id
        )

    async def mcp_tools(self, context: ToolContext) -> dict:
        """The tools of the calling agent's MCP server."""
        endpoint, credential = await self._target(context)
        tools = await self.remote.list_tools(
            tenant_id=context.tenant_id,
            endpoint=endpoint,
            credential=credential,
            actor=_actor(context),
        )
        return {"tools": tools}

    async def mcp_call(self, context: ToolContext, *, name: str, arguments: dict) -> dict:
        """Call one tool of the calling agent's MCP server."""
        endpoint, credential = await self._target(context)
        return await self.remote.call_tool(
            tenant_id=context.tenant_id,
            endpoint=endpoint,
            credential=credential,
            actor=_actor(context),
            name=name,
            arguments=arguments,
        )

    async def list_agent_tools(self, *, tenant_id: int, agent_id: int, actor: Actor) -> list[dict]:
        """The tools of an agent's MCP server, for the API (none without a server)."""
        async with self._sessionmaker.begin() as session:
            agent = await tenant_agent(
                session, tenant_id=tenant_id, user_id=actor.user_id, agent_id=agent_id
            )
        if not agent.mcp_endpoint:
            return []
        endpoint, credential = mcp_target(agent)
        return await self.remote.list_tools(
            tenant_id=tenant_id, endpoint=endpoint, credential=credential, actor=actor
        )

    async def _target(self, context: ToolContext) -> tuple[str, str | None]:
        async with self._sessionmaker.begin() as session:  # read, commit, then call out
            agent = await tenant_agent(
                session,
                tenant_id=context.tenant_id,
                user_id=context.user_id,
                agent_id=context.agent_id,
            )
            return mcp_target(agent)


def _actor(context: ToolContext) -> Actor:
    return Actor(
        tenant_id=context.tenant_id,
        user_id=context.user_id,
        key_id=None,
        label=f"agent:{context.agent_id}",
    )
