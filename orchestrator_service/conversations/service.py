"""Conversations and their messages; totals and last-message fields kept with each message.

A conversation is read through `visible` (tenant-wide ones, and the caller's own private ones);
its messages are readable exactly when it is.
"""

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
from orchestrator_service.db.tenancy import get_visible, owned, scoped, visible
from orchestrator_service.pagination import PageParams, paginate
from orchestrator_service.privacy.ownership import change_visibility, is_private, new_owner
from orchestrator_service.webhooks.events import publish

PREVIEW_CHARS = 200


class Conversations(AuditedRepository[ChatConversation]):
    """A tenant's conversations."""

    model = ChatConversation
    resource_type = "conversation"
    what = "Conversation"
    audited = ("channel", "status", "title", "visibility")

    def audit_view(self, obj: ChatConversation) -> dict:
        """The audited fields; of a private conversation only its visibility (admins read
        the audit log, and a title is content)."""
        if is_private(obj):
            return {"visibility": obj.visibility}
        return super().audit_view(obj)


async def create_conversation(
    session: AsyncSession, *, tenant_id: int, data: ConversationCreate, actor: Actor
) -> ChatConversation:
    """Open a conversation owned by the caller's user (with an agent the caller sees, if
    given)."""
    if data.agent_id is not None:
        await get_visible(session, Agent, tenant_id, actor.user_id, data.agent_id, what="Agent")
    owner, visibility = new_owner(
        user_id=actor.user_id,
        visibility=data.visibility,
        default=ChatConversation.default_visibility,
    )
    conversation = ChatConversation(
        owner_user_id=owner,
        visibility=visibility,
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
    session: AsyncSession,
    *,
    tenant_id: int,
    user_id: uuid.UUID | None,
    page: PageParams,
    agent_id: int | None = None,
) -> tuple[list[ChatConversation], str | None]:
    """The conversations the user sees, newest first."""
    conversations = Conversations(session, owner=tenant_id)
    stmt = visible(ChatConversation, tenant_id, user_id)
    if agent_id is not None:
        stmt = stmt.where(ChatConversation.agent_id == agent_id)
    return await conversations.page(page, stmt)


async def get_conversation(
    session: AsyncSession,
    *,
    tenant_id: int,
    user_id: uuid.UUID | None,
    conversation_id: uuid.UUID,
) -> ChatConversation:
    """One conversation the user sees, or 404 (also another user's private one)."""
    return await get_visible(
        session, ChatConversation, tenant_id, user_id, conversation_id, what="Conversation"
    )


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
    conversation = await get_conversation(
        session, tenant_id=tenant_id, user_id=actor.user_id, conversation_id=conversation_id
    )
    closing = data.status == "closed" and conversation.status != "closed"
    async with conversations.changing(conversation, actor=actor):
        change_visibility(conversation, user_id=actor.user_id, visibility=data.visibility)
        for field, value in data.model_dump(exclude_unset=True, exclude={"visibility"}).items():
            setattr(conversation, field, value)
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
    conversation = await get_conversation(
        session, tenant_id=tenant_id, user_id=actor.user_id, conversation_id=conversation_id
    )
    await Conversations(session, owner=tenant_id).delete(conversation, actor=actor)


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
    session: AsyncSession,
    *,
    tenant_id: int,
    user_id: uuid.UUID | None,
    conversation_id: uuid.UUID,
    page: PageParams,
) -> tuple[list[ChatMessage], str | None]:
    """A conversation's messages, newest first (404 unless the user sees the conversation)."""
    await get_conversation(
        session, tenant_id=tenant_id, user_id=user_id, conversation_id=conversation_id
    )
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
