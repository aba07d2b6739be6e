"""/api/v1/conversations and their messages."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, status

from orchestrator_service.conversations import search, service
from orchestrator_service.conversations.schemas import (
    Channel,
    ConversationCreate,
    ConversationOut,
    ConversationUpdate,
    MessageCreate,
    MessageOut,
    SearchHit,
)
from orchestrator_service.conversations.shadow import file_in_shadow_rag
from orchestrator_service.deps import (
    ActorDep,
    FilesDep,
    Paging,
    QuotasDep,
    SessionDep,
    SettingsDep,
    TenantPrincipal,
    require,
)
from orchestrator_service.pagination import MAX_LIMIT, Page, page_of
from orchestrator_service.schemas import TimeFilter, as_utc

router = APIRouter(prefix="/conversations", tags=["conversations"])
Reader = Annotated[TenantPrincipal, Depends(require("conversations:read"))]
Writer = Annotated[TenantPrincipal, Depends(require("conversations:write"))]


@router.post("", status_code=status.HTTP_201_CREATED)
async def create_conversation(
    data: ConversationCreate, principal: Writer, actor: ActorDep, session: SessionDep
) -> ConversationOut:
    """Open a conversation."""
    conversation = await service.create_conversation(
        session, tenant_id=principal.tenant_id, data=data, actor=actor
    )
    return ConversationOut.model_validate(conversation)


@router.get("")
async def list_conversations(
    principal: Reader,
    session: SessionDep,
    page: Paging,
    agent_id: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
) -> Page[ConversationOut]:
    """List the conversations the caller sees: the tenant's, and the caller's private ones."""
    rows, cursor = await service.list_conversations(
        session,
        tenant_id=principal.tenant_id,
        user_id=principal.user_id,
        page=page,
        agent_id=agent_id,
    )
    return page_of(ConversationOut, rows, cursor)


@router.get("/search")
async def search_conversations(
    principal: Reader,
    session: SessionDep,
    q: Annotated[
        str,
        Query(min_length=1, max_length=500, pattern=r"^[^\x00]*$", description="What to look for"),
    ],
    language: search.Language = "any",
    agent_id: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    channel: Channel | None = None,
    since: TimeFilter = None,
    until: TimeFilter = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Hits per page")] = 20,
    cursor: Annotated[str | None, Query(max_length=100)] = None,
) -> Page[SearchHit]:
    """Full-text search of the tenant's conversation titles and messages (users' and the
    agents'), in Spanish (`es`), English (`en`) or both (`any`); web-search syntax (`"a
    phrase"`, `or`, `-word`); best first, with highlighted fragments."""
    hits, next_cursor = await search.search_conversations(
        session,
        tenant_id=principal.tenant_id,
        user_id=principal.user_id,
        text=q,
        language=language,
        limit=limit,
        cursor=cursor,
        agent_id=agent_id,
        channel=channel,
        since=as_utc(since, "since"),
        until=as_utc(until, "until"),
    )
    return page_of(SearchHit, hits, next_cursor)


@router.get("/{conversation_id}")
async def get_conversation(
    conversation_id: uuid.UUID, principal: Reader, session: SessionDep
) -> ConversationOut:
    """Show one conversation (404 for another user's private one)."""
    conversation = await service.get_conversation(
        session,
        tenant_id=principal.tenant_id,
        user_id=principal.user_id,
        conversation_id=conversation_id,
    )
    return ConversationOut.model_validate(conversation)


@router.patch("/{conversation_id}")
async def update_conversation(
    conversation_id: uuid.UUID,
    data: ConversationUpdate,
    principal: Writer,
    actor: ActorDep,
    session: SessionDep,
    files: FilesDep,
    settings: SettingsDep,
    quotas: QuotasDep,
) -> ConversationOut:
    """Change a conversation; closing it files it in Shadow RAG if its agent wants that."""
    conversation, closed = await service.update_conversation(
        session,
        tenant_id=principal.tenant_id,
        conversation_id=conversation_id,
        data=data,
        actor=actor,
    )
    if closed:
        await file_in_shadow_rag(
            session,
            files,
            conversation,
            max_bytes=settings.max_upload_bytes,
            quotas=quotas,
            actor=actor,
        )
    return ConversationOut.model_validate(conversation)


@router.delete("/{conversation_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_conversation(
    conversation_id: uuid.UUID, principal: Writer, actor: ActorDep, session: SessionDep
) -> None:
    """Delete a conversation and its messages."""
    await service.delete_conversation(
        session, tenant_id=principal.tenant_id, conversation_id=conversation_id, actor=actor
    )


@router.post("/{conversation_id}/messages", status_code=status.HTTP_201_CREATED)
async def add_message(
    conversation_id: uuid.UUID, data: MessageCreate, principal: Writer, session: SessionDep
) -> MessageOut:
    """Append a message (the conversation's totals follow)."""
    conversation = await service.get_conversation(
        session,
        tenant_id=principal.tenant_id,
        user_id=principal.user_id,
        conversation_id=conversation_id,
    )
    message = await service.add_message(session, conversation=conversation, data=data)
    return MessageOut.model_validate(message)


@router.get("/{conversation_id}/messages")
async def list_messages(
    conversation_id: uuid.UUID, principal: Reader, session: SessionDep, page: Paging
) -> Page[MessageOut]:
    """The conversation's message history, newest first."""
    rows, cursor = await service.list_messages(
        session,
        tenant_id=principal.tenant_id,
        user_id=principal.user_id,
        conversation_id=conversation_id,
        page=page,
    )
    return page_of(MessageOut, rows, cursor)
