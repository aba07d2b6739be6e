"""Channel connections (tenant objects) and the webhook flow: verify, check the signature,
store each event once, and answer each user's messages in order, one thread at a time across
replicas (a PostgreSQL advisory lock per thread)."""

import hmac
import json
import logging
import uuid
from datetime import UTC, datetime, timedelta

from pydantic import ValidationError
from sqlalchemy import func, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from orchestrator_service.agents.models import Agent
from orchestrator_service.agents.runs import AgentRunner
from orchestrator_service.agents.schemas import RunRequest
from orchestrator_service.audit.service import Actor
from orchestrator_service.channels import meta
from orchestrator_service.channels.models import ChannelConnection, ChannelDelivery, ChannelThread
from orchestrator_service.channels.schemas import ConnectionCreate, ConnectionOut
from orchestrator_service.conversations import service as conversations
from orchestrator_service.conversations.schemas import ConversationCreate
from orchestrator_service.credentials.service import SecretResolver
from orchestrator_service.db.repository import AuditedRepository
from orchestrator_service.db.tenancy import get_visible
from orchestrator_service.errors import Forbidden, InvalidInput, NotFound, OrchestratorError
from orchestrator_service.pagination import PageParams

log = logging.getLogger(__name__)
WEBHOOK_PREFIX = "/webhooks/meta"
WINDOW = timedelta(hours=24)
OUTSIDE_WINDOW = "outside the 24-hour customer-service window"


class Connections(AuditedRepository[ChannelConnection]):
    """A tenant's channel connections."""

    model = ChannelConnection
    resource_type = "channel_connection"
    what = "Channel connection"
    audited = ("channel", "name", "external_account_id", "agent_id")
    conflicts = {
        "uq_channel_connections_channel_external_account_id": "This account is already "
        "connected on this channel"
    }


def out(connection: ChannelConnection) -> ConnectionOut:
    """A connection as the API shows it."""
    return ConnectionOut.model_validate(
        {
            **{c.key: getattr(connection, c.key) for c in ChannelConnection.__table__.columns},
            "webhook_path": f"{WEBHOOK_PREFIX}/{connection.id}",
        }
    )


async def _answering_agent(session: AsyncSession, tenant_id: int, agent_id: int, channel: str):
    # A channel answers for the tenant (its runs act for no user): only a tenant-wide agent.
    agent = await get_visible(session, Agent, tenant_id, None, agent_id, what="Agent")
    if channel not in (agent.channels or []):
        raise InvalidInput(
            f"Agent {agent_id} does not list the channel {channel!r} in its channels",
            details={"agent_id": agent_id, "channel": channel},
        )
    return agent


async def create_connection(
    session: AsyncSession, *, tenant_id: int, data: ConnectionCreate, actor: Actor
) -> ChannelConnection:
    """Connect a channel account; its agent must list the channel."""
    await _answering_agent(session, tenant_id, data.agent_id, data.channel)
    connection = ChannelConnection(
        tenant_id=tenant_id,
        **data.model_dump(exclude={"reengagement_template"}),
        reengagement_template=None
        if data.reengagement_template is None
        else data.reengagement_template.model_dump(),
    )
    return await Connections(session, owner=tenant_id).create(connection, actor=actor)


async def list_connections(
    session: AsyncSession, *, tenant_id: int, page: PageParams
) -> tuple[list[ChannelConnection], str | None]:
    """The tenant's connections, newest first."""
    return await Connections(session, owner=tenant_id).page(page)


async def get_connection(
    session: AsyncSession, *, tenant_id: int, connection_id: uuid.UUID
) -> ChannelConnection:
    """One connection of the tenant, or 404."""
    return await Connections(session, owner=tenant_id).get(connection_id)


async def delete_connection(
    session: AsyncSession, *, tenant_id: int, connection_id: uuid.UUID, actor: Actor
) -> None:
    """Disconnect an account (its threads and deliveries go with it; conversations stay)."""
    connections = Connections(session, owner=tenant_id)
    await connections.delete(await connections.get(connection_id), actor=actor)


def _lock_key(thread_id: uuid.UUID) -> int:
    return int.from_bytes(thread_id.bytes[:8], "big", signed=True)


class Channels:
    """The webhook side: verification, signed deliveries, answers sent through the Graph API."""

    def __init__(
        self,
        *,
        engine: AsyncEngine,
        sessionmaker: async_sessionmaker[AsyncSession],
        secrets: SecretResolver,
        runs: AgentRunner,
        graph: meta.GraphClient,
    ) -> None:
        self._engine = engine
        self._sessionmaker = sessionmaker
        self._secrets = secrets
        self._runs = runs
        self._graph = graph

    async def _connection(self, connection_id: uuid.UUID) -> ChannelConnection:
        async with self._sessionmaker.begin() as session:
            connection = await session.get(ChannelConnection, connection_id)
        if connection is None or connection.status != "active":
            raise NotFound("No such channel connection")
        return connection

    @staticmethod
    def _actor(connection: ChannelConnection) -> Actor:
        return Actor(
            tenant_id=connection.tenant_id,
            user_id=None,
            key_id=None,
            label=f"channel:{connection.channel}:{connection.id}",
        )

    async def _local_secret(self, connection: ChannelConnection, name: str) -> str:
        """A credential used here, never sent anywhere (the app secret, the verify token)."""
        try:
            return await self._secrets.resolve(
                tenant_id=connection.tenant_id,
                name=name,
                consumer=f"channel:{connection.id}",
                destination=None,
                actor=self._actor(connection),
            )
        except OrchestratorError:
            log.warning("channel %s: credential %r is unusable", connection.id, name)
            raise Forbidden("This connection's credentials are not usable") from None

    async def verify(
        self, connection_id: uuid.UUID, *, mode: str, token: str, challenge: str
    ) -> str:
        """Meta's subscription check: the challenge back when the verify token matches."""
        connection = await self._connection(connection_id)
        expected = await self._local_secret(connection, connection.verify_token_credential)
        if mode != "subscribe" or not hmac.compare_digest(token.encode(), expected.encode()):
            raise Forbidden("The verify token does not match")
        return challenge

    async def receive(self, connection_id: uuid.UUID, *, body: bytes, signature: str | None) -> int:
        """Take a signed delivery: store each new event once, then answer the threads it
        touched. An unsigned or wrongly signed delivery is refused with nothing stored."""
        connection = await self._connection(connection_id)
        secret = await self._local_secret(connection, connection.app_secret_credential)
        if not meta.signature_valid(body, signature, secret):
            raise Forbidden(f"The delivery's {meta.SIGNATURE_HEADER} is missing or wrong")
        try:
            payload = json.loads(body)
        except ValueError:
            raise InvalidInput("The delivery is not JSON") from None
        if not isinstance(payload, dict):
            raise InvalidInput("The delivery is not a JSON object")
        events = [
            e
            for e in meta.parse(connection.channel, payload)
            if e.account_id == connection.external_account_id
        ]
        threads, new = await self._store(connection, events)
        for thread_id in threads:
            await self.process(thread_id)
        return new

    async def _store(
        self, connection: ChannelConnection, events: list[meta.Inbound]
    ) -> tuple[list[uuid.UUID], int]:
        """Record the events not seen before; the threads with new messages."""
        touched: list[uuid.UUID] = []
        new = 0
        async with self._sessionmaker.begin() as session:
            for event in events:
                thread = await self._thread(session, connection, event)
                row = await session.scalar(
                    insert(ChannelDelivery)
                    .values(
                        tenant_id=connection.tenant_id,
                        connection_id=connection.id,
                        thread_id=thread.id if thread else None,
                        provider_message_id=event.message_id[:255],
                        kind=event.kind,
                        content=meta.clean(
                            {
                                "text": event.text,
                                "media": event.media,
                                "status": event.status,
                                **event.raw,
                            }
                        ),
                        sent_at=event.sent_at,
                        status="pending" if event.kind == "message" else "recorded",
                    )
                    .on_conflict_do_nothing()
                    .returning(ChannelDelivery.id)
                )
                if row is None:
                    continue
                new += 1
                if event.kind == "status" and event.status == "failed":
                    log.warning("channel %s: a reply was not delivered", connection.id)
                if event.kind == "message" and thread is not None:
                    await session.execute(
                        update(ChannelThread)
                        .where(ChannelThread.id == thread.id)
                        .values(
                            last_inbound_at=func.greatest(
                                func.coalesce(ChannelThread.last_inbound_at, event.sent_at),
                                event.sent_at,
                            )
                        )
                    )
                    if thread.id not in touched:
                        touched.append(thread.id)
        return touched, new

    async def _thread(
        self, session: AsyncSession, connection: ChannelConnection, event: meta.Inbound
    ) -> ChannelThread | None:
        """The thread of the event's user, opened (with its conversation) on a first message."""
        user = event.user_id[:100]
        find = select(ChannelThread).where(
            ChannelThread.connection_id == connection.id, ChannelThread.external_user_id == user
        )
        thread = await session.scalar(find)
        if thread is not None or event.kind != "message":
            return thread
        conversation = await conversations.create_conversation(
            session,
            tenant_id=connection.tenant_id,
            data=ConversationCreate.model_validate(
                {
                    "channel": connection.channel,
                    "channel_source": connection.channel,
                    "display_name": user,
                    "title": _clean(event.profile_name or user)[:255] or user,
                    "agent_id": connection.agent_id,
                    "meta": {"connection_id": str(connection.id), "external_user_id": user},
                }
            ),
            actor=self._actor(connection),
        )
        await session.execute(
            insert(ChannelThread)
            .values(
                tenant_id=connection.tenant_id,
                connection_id=connection.id,
                external_user_id=user,
                conversation_id=conversation.id,
            )
            .on_conflict_do_nothing()
        )
        return await session.scalar(find)

    async def process(self, thread_id: uuid.UUID) -> None:
        """Answer the thread's pending messages oldest first, holding the thread's lock so no
        other replica answers the same thread at the same time."""
        async with self._engine.connect() as lock:
            await lock.execution_options(isolation_level="AUTOCOMMIT")
            await lock.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _lock_key(thread_id)})
            try:
                while (delivery := await self._next(thread_id)) is not None:
                    await self._answer(delivery)
            finally:
                await lock.execute(
                    text("SELECT pg_advisory_unlock(:k)"), {"k": _lock_key(thread_id)}
                )

    async def _next(self, thread_id: uuid.UUID) -> ChannelDelivery | None:
        async with self._sessionmaker.begin() as session:
            return await session.scalar(
                select(ChannelDelivery)
                .where(
                    ChannelDelivery.thread_id == thread_id,
                    ChannelDelivery.kind == "message",
                    ChannelDelivery.status == "pending",
                )
                .order_by(ChannelDelivery.sent_at, ChannelDelivery.created_at)
                .limit(1)
            )

    async def _answer(self, delivery: ChannelDelivery) -> None:
        """Run the agent on one message and send its answer; the outcome is recorded."""
        status, outcome, reply_id = "failed", None, None
        try:
            status, outcome, reply_id = await self._reply(delivery)
        except OrchestratorError as exc:
            outcome = f"{exc.code}: {exc.message}"
            log.warning("channel delivery %s failed: %s", delivery.id, exc.code)
        except ValidationError:  # what the provider sent does not make a valid message
            outcome = "the message could not be stored as it came"
            log.warning("channel delivery %s failed: invalid message", delivery.id)
        async with self._sessionmaker.begin() as session:
            await session.execute(
                update(ChannelDelivery)
                .where(ChannelDelivery.id == delivery.id)
                .values(status=status, outcome=outcome, reply_message_id=reply_id)
            )

    async def _reply(self, delivery: ChannelDelivery) -> tuple[str, str | None, str | None]:
        async with self._sessionmaker.begin() as session:
            thread = await session.get(ChannelThread, delivery.thread_id)
            connection = await session.get(ChannelConnection, delivery.connection_id)
            if thread is None or connection is None:
                return "failed", "the connection or thread no longer exists", None
            agent = await session.get(Agent, connection.agent_id)
        if agent is None or connection.channel not in (agent.channels or []):
            return "not_sent", f"agent {connection.agent_id} does not list this channel", None
        if datetime.now(UTC) - delivery.sent_at > WINDOW:
            return await self._outside_window(connection, thread)
        content = delivery.content or {}
        text_in = _clean(content.get("text") or "") or _media_note(content.get("media"))
        execution = await self._runs.start(
            tenant_id=connection.tenant_id,
            agent_id=agent.id,
            request=RunRequest(
                input=text_in[:100_000],
                conversation_id=thread.conversation_id,
                session_id=thread.id,
            ),
            actor=self._actor(connection),
            source=connection.channel,
        )
        finished = await self._runs.execute(execution.id)
        answer = finished.output_response or ""
        if not answer.strip():
            return "not_sent", "the agent gave an empty answer", None
        token = await self._token(connection)
        ids = [
            await self._graph.send(
                account_id=connection.external_account_id,
                token=token,
                body=meta.text_message(connection.channel, thread.external_user_id, piece),
            )
            for piece in meta.pieces(connection.channel, answer)
        ]
        return "answered", None, ids[-1]

    async def _outside_window(
        self, connection: ChannelConnection, thread: ChannelThread
    ) -> tuple[str, str | None, str | None]:
        template = connection.reengagement_template
        if connection.channel != "whatsapp" or not template:
            return "not_sent", f"{OUTSIDE_WINDOW}, and no template is configured", None
        reply_id = await self._graph.send(
            account_id=connection.external_account_id,
            token=await self._token(connection),
            body=meta.template_message(thread.external_user_id, template),
        )
        return "answered", f"{OUTSIDE_WINDOW}: sent template {template['name']!r}", reply_id

    async def _token(self, connection: ChannelConnection) -> str:
        return await self._secrets.resolve(
            tenant_id=connection.tenant_id,
            name=connection.access_token_credential,
            consumer=f"channel:{connection.id}",
            destination=self._graph.url(connection.external_account_id),
            actor=self._actor(connection),
        )


def _clean(text: str) -> str:
    """Text as PostgreSQL stores it (no NUL) without surrounding blanks."""
    return text.replace("\x00", "").strip()


def _media_note(media: dict | None) -> str:
    """What the agent is told of a message without text."""
    kind = (media or {}).get("type") or "attachment"
    article = "an" if kind[:1] in "aeiou" else "a"
    return f"[The user sent {article} {kind} without text]"
