"""Request and response bodies of /conversations."""

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from orchestrator_service.schemas import Input, Output, Patch

Channel = Literal["whatsapp", "instagram", "facebook", "web"]
Role = Literal["user", "assistant", "system", "tool"]
Status = Literal["active", "closed"]
Short = Annotated[str, StringConstraints(max_length=255)]
Visibility = Literal["private", "tenant"]
VISIBILITY_HELP = "`private`: only its owner reads it; `tenant` (default): every member"


class ConversationCreate(Input):
    """A new conversation."""

    channel: Channel = "web"
    channel_source: Annotated[str, StringConstraints(max_length=32)] | None = None
    display_name: Short | None = None
    title: Short | None = None
    agent_id: int | None = Field(default=None, ge=1, le=2**31 - 1)
    meta: dict = Field(default_factory=dict)
    visibility: Visibility | None = Field(default=None, description=VISIBILITY_HELP)


class ConversationUpdate(Patch):
    """Changes; closing a conversation (status `closed`) files it in Shadow RAG when the
    agent has that enabled."""

    nullable = frozenset({"display_name", "title"})
    display_name: Short | None = None
    title: Short | None = None
    status: Status | None = None
    meta: dict | None = None
    visibility: Visibility | None = Field(
        default=None, description=f"{VISIBILITY_HELP}; only the owner changes it"
    )


class ConversationOut(Output):
    """A conversation with its running totals."""

    id: uuid.UUID
    channel: str
    channel_source: str | None
    display_name: str | None
    title: str | None
    status: str
    agent_id: int | None
    owner_user_id: uuid.UUID | None
    visibility: str
    meta: dict | None
    total_tokens: int
    last_message_preview: str | None
    last_message_at: datetime | None
    created_at: datetime | None
    updated_at: datetime | None


MAX_MESSAGE_CHARS = 200_000


class MessageCreate(Input):
    """A message added to a conversation."""

    role: Role
    content: str = Field(max_length=MAX_MESSAGE_CHARS)
    tool_calls: list[dict] | None = None
    tool_call_id: Annotated[str, StringConstraints(max_length=255)] | None = None
    tokens_used: int = Field(default=0, ge=0, le=10_000_000)
    metadata: dict = Field(default_factory=dict)


class MessageOut(Output):
    """One message."""

    id: uuid.UUID
    conversation_id: uuid.UUID
    role: str
    content: str
    tool_calls: list | None
    tool_call_id: str | None
    tokens_used: int
    metadata: dict | None = Field(validation_alias="meta")
    created_at: datetime | None


class Segment(Output):
    """A piece of a highlight: text that matched the query, or text around it."""

    text: str
    match: bool


class SearchHit(Output):
    """A conversation title or a message that matches a search."""

    kind: Literal["message", "title"]
    conversation_id: uuid.UUID
    conversation_title: str | None
    channel: str
    agent_id: int | None
    message_id: uuid.UUID | None
    role: str | None
    created_at: datetime | None
    rank: float = Field(description="Cover density rank (ts_rank_cd); higher is better")
    language: Literal["es", "en"] = Field(description="The language it matched best in")
    highlight: list[Segment] = Field(
        description="The best fragments (up to 2), as segments; `match` marks query words"
    )
