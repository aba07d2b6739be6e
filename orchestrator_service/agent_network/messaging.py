"""Agent-to-agent messages: the `message_agent` tool's work.

A message goes over a connection of the two agents that is active and allows that direction;
it is stored, announced to the receiving agent's owner (live event), and answered by a run of
the receiving agent (through the AgentRunner), whose answer is stored as the reply and given
back to the sender. The exchange is bounded twice, so agents cannot talk forever or flood:

- depth: each run remembers how deep in an exchange it was started (its execution's
  `meta.agent_exchange`); a message from a run at depth d is at depth d+1, refused past
  `max_depth` (A->B->A->... stops there);
- fan-out: a run sends at most `max_per_run` messages.

No transaction is open while the receiving agent runs: the request is committed first, the
reply after.
"""

import uuid
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from orchestrator_service.agent_network.models import AgentMessage
from orchestrator_service.agent_network.service import connection_between, tenant_agent
from orchestrator_service.agents.models import Agent
from orchestrator_service.agents.runs import AgentRunner, RunFailed
from orchestrator_service.agents.schemas import RunRequest
from orchestrator_service.audit.service import Actor
from orchestrator_service.conversations.models import ChatConversation
from orchestrator_service.errors import Conflict, Forbidden, NotFound, OrchestratorError
from orchestrator_service.executions.models import Execution
from orchestrator_service.live.publish import AGENT_MESSAGE, publish
from orchestrator_service.tools.builtins import ToolContext

PREVIEW_CHARS = 280


class AgentsNotConnected(Forbidden):
    """No connection lets this agent message that one (none, or a one-way connection the
    other way round)."""

    code = "agents_not_connected"


class ConnectionInactive(Conflict):
    """The agents' connection is paused or blocked."""

    code = "connection_inactive"


class ExchangeLimit(Conflict):
    """The exchange is as deep as allowed, or the run has sent as many messages as allowed."""

    code = "exchange_limit"


class AgentAnswerFailed(OrchestratorError):
    """The receiving agent's run failed; its execution record says why."""

    status_code = 502
    code = "agent_answer_failed"


@dataclass(frozen=True)
class ExchangeLimits:
    """How deep an exchange may go, how many messages one run may send."""

    max_depth: int = 3
    max_per_run: int = 5


@dataclass(frozen=True)
class _Exchange:
    conversation_id: str | None
    depth: int


def owner_of(agent: Agent) -> uuid.UUID | None:
    """Whose live events an agent's messages are: its owner (None: every member)."""
    return agent.owner_user_id


class AgentMessenger:
    """Sends agents' messages to connected agents and has them answered."""

    def __init__(
        self,
        *,
        sessionmaker: async_sessionmaker[AsyncSession],
        runs: AgentRunner,
        limits: ExchangeLimits,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._runs = runs
        self.limits = limits

    async def send(
        self, context: ToolContext, *, to_agent_id: int, message: str, conversation_id: str | None
    ) -> dict:
        """Send `message` from the context's agent to `to_agent_id`, run the receiver on it,
        and return its answer with the exchange's conversation id."""
        tenant_id, sender_id = context.tenant_id, context.agent_id
        async with self._sessionmaker.begin() as session:
            exchange = await self._exchange(session, context.execution_id)
            depth = exchange.depth + 1
            conversation = conversation_id or exchange.conversation_id or str(uuid.uuid4())
            await self._check_limits(session, context, depth)
            user_id = context.user_id
            sender = await tenant_agent(
                session, tenant_id=tenant_id, user_id=user_id, agent_id=sender_id
            )
            try:
                receiver = await tenant_agent(
                    session, tenant_id=tenant_id, user_id=user_id, agent_id=to_agent_id
                )
            except NotFound:
                raise NotFound(f"Agent {to_agent_id} not found") from None
            await self._check_connection(session, tenant_id, sender_id, to_agent_id)
            owner = await self._private_to(session, sender, context)
            chat = await session.scalar(
                select(AgentMessage.chat_conversation_id)
                .where(
                    AgentMessage.tenant_id == tenant_id,
                    AgentMessage.conversation_id == conversation,
                    # the receiver's earlier replies carry its chat conversation
                    AgentMessage.from_agent_id == to_agent_id,
                    AgentMessage.in_reply_to.is_not(None),
                    AgentMessage.chat_conversation_id.is_not(None),
                )
                .order_by(AgentMessage.created_at.desc())
                .limit(1)
            )
            request = await self._store(
                session,
                tenant_id=tenant_id,
                conversation=conversation,
                sender=sender,
                receiver=receiver,
                content=message,
                depth=depth,
                execution_id=context.execution_id,
                owner=owner,
            )
        actor = Actor(
            tenant_id=tenant_id, user_id=context.user_id, key_id=None, label=f"agent:{sender_id}"
        )
        answer, execution_id, chat_id, failure = await self._answer(
            tenant_id,
            receiver,
            actor,
            message,
            chat,
            conversation,
            depth,
            private=owner is not None,
        )
        async with self._sessionmaker.begin() as session:
            await self._store(
                session,
                tenant_id=tenant_id,
                conversation=conversation,
                sender=receiver,
                receiver=sender,
                content=answer,
                depth=depth,
                execution_id=execution_id,
                chat_id=chat_id,
                message_type="error" if failure else "text",
                in_reply_to=request.id,
                owner=owner,
            )
        if failure is not None:
            raise AgentAnswerFailed(
                f"Agent {to_agent_id} could not answer: {failure.message}",
                details={"execution_id": str(execution_id) if execution_id else None},
            )
        return {
            "conversation_id": conversation,
            "agent_id": to_agent_id,
            "answer": answer,
            "depth": depth,
        }

    async def _private_to(
        self, session: AsyncSession, sender: Agent, context: ToolContext
    ) -> uuid.UUID | None:
        """The user an exchange is private to: the caller, when the sending agent or the
        conversation its run is in is private; None when the exchange is tenant-wide."""
        if context.user_id is None:
            return None
        if sender.visibility != "tenant":
            return context.user_id
        if context.execution_id is None:
            return None
        visibility = await session.scalar(
            select(ChatConversation.visibility)
            .join(Execution, Execution.conversation_id == ChatConversation.id)
            .where(Execution.id == context.execution_id)
        )
        return context.user_id if visibility not in (None, "tenant") else None

    async def _exchange(self, session: AsyncSession, execution_id: uuid.UUID | None) -> _Exchange:
        """The exchange the calling run answers (depth 0: a run nobody messaged)."""
        if execution_id is None:
            return _Exchange(None, 0)
        meta = await session.scalar(select(Execution.meta).where(Execution.id == execution_id))
        exchange = (meta or {}).get("agent_exchange") or {}
        return _Exchange(exchange.get("conversation_id"), int(exchange.get("depth", 0)))

    async def _check_limits(self, session: AsyncSession, context: ToolContext, depth: int) -> None:
        if depth > self.limits.max_depth:
            raise ExchangeLimit(
                f"This exchange between agents is already {depth - 1} messages deep, the most "
                f"allowed ({self.limits.max_depth}, ORCH_AGENT_MESSAGE_MAX_DEPTH): answer "
                "with what you have instead of messaging again",
                details={"limit": "depth", "max_depth": self.limits.max_depth},
            )
        if context.execution_id is None:
            return
        sent = await session.scalar(
            select(func.count())
            .select_from(AgentMessage)
            .where(
                AgentMessage.execution_id == context.execution_id,
                AgentMessage.from_agent_id == context.agent_id,
                AgentMessage.in_reply_to.is_(None),
            )
        )
        if (sent or 0) >= self.limits.max_per_run:
            raise ExchangeLimit(
                f"This run has already sent {sent} messages to other agents, the most one run "
                f"may send ({self.limits.max_per_run}, ORCH_AGENT_MESSAGE_MAX_PER_RUN)",
                details={"limit": "per_run", "max_per_run": self.limits.max_per_run},
            )

    async def _check_connection(
        self, session: AsyncSession, tenant_id: int, sender_id: int, receiver_id: int
    ) -> None:
        connection = await connection_between(
            session, tenant_id=tenant_id, a=sender_id, b=receiver_id
        )
        if connection is None or (
            connection.connection_type == "one_way" and connection.agent1_id != sender_id
        ):
            how = "is not connected to" if connection is None else "may not message"
            raise AgentsNotConnected(
                f"Agent {sender_id} {how} agent {receiver_id}"
                + ("" if connection is None else " (their connection is one-way, the other way)")
                + ": connect them with POST /api/v1/agent-connections",
                details={"from_agent_id": sender_id, "to_agent_id": receiver_id},
            )
        if connection.status != "active":
            raise ConnectionInactive(
                f"The connection of agents {sender_id} and {receiver_id} is {connection.status}: "
                "no messages pass until it is active again",
                details={"connection_id": str(connection.id), "status": connection.status},
            )

    async def _answer(
        self,
        tenant_id: int,
        receiver: Agent,
        actor: Actor,
        message: str,
        chat: uuid.UUID | None,
        conversation: str,
        depth: int,
        *,
        private: bool,
    ) -> tuple[str, uuid.UUID | None, uuid.UUID | None, OrchestratorError | None]:
        """Run the receiver on the message: (answer, its execution, its chat conversation, the
        failure if it failed)."""
        try:
            execution = await self._runs.start(
                tenant_id=tenant_id,
                agent_id=receiver.id,
                # A private exchange is answered in a conversation private to its user.
                request=RunRequest(
                    input=message,
                    conversation_id=chat,
                    visibility="private" if private and chat is None else None,
                ),
                actor=actor,
                source="agent",
            )
        except OrchestratorError as exc:  # a quota, a deleted conversation: nothing ran
            return f"(no answer: {exc.message})", None, None, exc
        async with self._sessionmaker.begin() as session:
            row = await session.get(Execution, execution.id, with_for_update=True)
            if row is not None:
                row.meta = {
                    **(row.meta or {}),
                    "agent_exchange": {"conversation_id": conversation, "depth": depth},
                }
        try:
            finished = await self._runs.execute(execution.id)
        except RunFailed as exc:
            return f"(no answer: {exc.message})", execution.id, execution.conversation_id, exc
        return finished.output_response or "", finished.id, finished.conversation_id, None

    async def _store(
        self,
        session: AsyncSession,
        *,
        tenant_id: int,
        conversation: str,
        sender: Agent,
        receiver: Agent,
        content: str,
        depth: int,
        execution_id: uuid.UUID | None,
        chat_id: uuid.UUID | None = None,
        message_type: str = "text",
        in_reply_to: uuid.UUID | None = None,
        owner: uuid.UUID | None = None,
    ) -> AgentMessage:
        """Store one message and announce it to the receiving agent's owner."""
        stored = AgentMessage(
            tenant_id=tenant_id,
            conversation_id=conversation,
            from_agent_id=sender.id,
            to_agent_id=receiver.id,
            content=content,
            message_type=message_type,
            depth=depth,
            execution_id=execution_id,
            chat_conversation_id=chat_id,
            in_reply_to=in_reply_to,
            owner_user_id=owner,
            visibility="tenant" if owner is None else "private",
        )
        session.add(stored)
        await session.flush()
        await publish(
            session,
            tenant_id=tenant_id,
            user_id=owner_of(receiver),
            event=AGENT_MESSAGE,
            scope="agents:read",
            data={
                "message_id": str(stored.id),
                "conversation_id": conversation,
                "from_agent_id": sender.id,
                "to_agent_id": receiver.id,
                "message_type": message_type,
                "in_reply_to": str(in_reply_to) if in_reply_to else None,
                "preview": content[:PREVIEW_CHARS],
            },
        )
        return stored
