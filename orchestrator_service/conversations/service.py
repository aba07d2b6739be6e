"""Conversations and their messages; totals and last-message fields kept with each message."""

import uuid
from datetime import UTC, datetime

from sqlalchemy import func, update
from sqlalchemy.ext.asyncio import AsyncSession

from orchestrator_service.agents.models import Agent
from orchestrator_service.audit.service import Actor
from orchestrator_service.conversations.models import ChatConversation, ChatMessage
from orchestrator_service.conversations.schemas import (
    ConversationCreate,
    ConversationUpdate,
    MessageCreate,
)
from orchestrator_service.db.repository import AuditedRepository
from orchestrator_service.db.tenancy import get_scoped, owned, scoped
from orchestrator_service.pagination import PageParams, paginate
from orchestrator_service.webhooks.events import publish

PREVIEW_CHARS = 200


class Conversations(AuditedRepository[ChatConversation]):
    """A tenant's conversations."""

    model = ChatConversation
    resource_type = "conversation"
    what = "Conversation"
    audited = ("channel", "status", "title")


async def create_conversation(
    session: AsyncSession, *, tenant_id: int, data: ConversationCreate, actor: Actor
) -> ChatConversation:
    """Open a conversation (with one of the tenant's agents, if given)."""
    if data.agent_id is not None:
        await get_scoped(session, Agent, tenant_id, data.agent_id, what="Agent")
    conversation = ChatConversation(
        tenant_id=tenant_id,
        channel=data.channel,
        channel_source=data.channel_source or data.channel,
        display_name=data.display_name,
        title=data.title,
        agent_id=data.agent_id,
        meta=data.meta,
        user_id=actor.user_id,
    )
    return await Conversations(session, owner=tenant_id).create(conversation, actor=actor)


async def list_conversations(
    session: AsyncSession, *, tenant_id: int, page: PageParams, agent_id: int | None = None
) -> tuple[list[ChatConversation], str | None]:
    """The tenant's conversations, newest first."""
    conversations = Conversations(session, owner=tenant_id)
    stmt = conversations.select()
    if agent_id is not None:
        stmt = stmt.where(ChatConversation.agent_id == agent_id)
    return await conversations.page(page, stmt)


async def get_conversation(
    session: AsyncSession, *, tenant_id: int, conversation_id: uuid.UUID
) -> ChatConversation:
    """One conversation of the tenant, or 404."""
    return await Conversations(session, owner=tenant_id).get(conversation_id)


async def update_conversation(
    session: AsyncSession,
    *,
    tenant_id: int,
    conversation_id: uuid.UUID,
    data: ConversationUpdate,
    actor: Actor,
) -> tuple[ChatConversation, bool]:
    """Change a conversation; return it and whether this change closed it."""
    conversations = Conversations(session, owner=tenant_id)
    conversation = await conversations.get(conversation_id)
    closing = data.status == "closed" and conversation.status != "closed"
    await conversations.update(conversation, data.model_dump(exclude_unset=True), actor=actor)
    if closing:
        await publish(
            session,
            tenant_id=tenant_id,
            event="conversation.closed",
            data={"conversation_id": str(conversation.id), "agent_id": conversation.agent_id},
        )
    return conversation, closing


async def delete_conversation(
    session: AsyncSession, *, tenant_id: int, conversation_id: uuid.UUID, actor: Actor
) -> None:
    """Delete a conversation and its messages."""
    conversations = Conversations(session, owner=tenant_id)
    await conversations.delete(await conversations.get(conversation_id), actor=actor)


async def add_message(
    session: AsyncSession, *, conversation: ChatConversation, data: MessageCreate
) -> ChatMessage:
    """Append a message and move the conversation's totals and last-message fields with it,
    in the same transaction (one atomic UPDATE, so concurrent messages cannot lose tokens)."""
    message = ChatMessage(
        tenant_id=conversation.tenant_id,
        conversation_id=conversation.id,
        role=data.role,
        content=data.content,
        tool_calls=data.tool_calls,
        tool_call_id=data.tool_call_id,
        tokens_used=data.tokens_used,
        meta=data.metadata,
        # The clock, not the transaction's start: messages added in one transaction (a
        # conversation opened with its history) keep their order.
        created_at=func.clock_timestamp(),
    )
    session.add(message)
    await session.flush()
    await session.refresh(message)
    await session.execute(
        update(ChatConversation)
        .where(ChatConversation.id == conversation.id)
        .values(
            total_tokens=ChatConversation.total_tokens + data.tokens_used,
            last_message_preview=data.content[:PREVIEW_CHARS],
            last_message_at=message.created_at or datetime.now(UTC),
        )
    )
    return message


async def list_messages(
    session: AsyncSession, *, tenant_id: int, conversation_id: uuid.UUID, page: PageParams
) -> tuple[list[ChatMessage], str | None]:
    """A conversation's messages, newest first."""
    await get_conversation(session, tenant_id=tenant_id, conversation_id=conversation_id)
    stmt = scoped(ChatMessage, tenant_id).where(ChatMessage.conversation_id == conversation_id)
    return await paginate(session, stmt, ChatMessage, page)


async def history(session: AsyncSession, conversation: ChatConversation, limit: int) -> list:
    """The last `limit` messages, oldest first, for a model's context."""
    rows, _ = await paginate(
        session,
        owned(ChatMessage, conversation.tenant_id).where(
            ChatMessage.conversation_id == conversation.id
        ),
        ChatMessage,
        PageParams(limit=limit),
    )
    return list(reversed(rows))
