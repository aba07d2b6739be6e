"""Full-text search over a tenant's conversations (titles) and messages, in Spanish and
English, ranked, with highlighted fragments.

Each text is matched with PostgreSQL's built-in `spanish` and `english` configurations (or
one of them), against GIN expression indexes the healer creates (`to_tsvector('<config>',
column)` on `chat_messages.content` and `chat_conversations.title`). The query is read by
`websearch_to_tsquery`, which accepts any text (quotes, `or`, `-word`, stray operators) and
never fails; text made only of stop words or symbols matches nothing. Highlights are given as
segments (`{"text", "match"}`) rather than markup, so no client has to trust HTML built from
stored messages.
"""

import base64
import binascii
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import (
    ColumnElement,
    String,
    case,
    cast,
    func,
    literal,
    literal_column,
    null,
    or_,
    select,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncSession

from orchestrator_service.conversations.models import ChatConversation, ChatMessage
from orchestrator_service.conversations.schemas import SearchHit, Segment
from orchestrator_service.db.tenancy import visible
from orchestrator_service.errors import InvalidInput

Language = Literal["es", "en", "any"]
CONFIGS: dict[str, tuple[str, ...]] = {
    "es": ("spanish",),
    "en": ("english",),
    "any": ("spanish", "english"),
}
CODES: dict[str, Literal["es", "en"]] = {"spanish": "es", "english": "en"}
# What a message must be to be found: what people said, not tool machinery.
SEARCHED_ROLES = ("user", "assistant")
# The deepest result a cursor may reach: ranked results are paged by position.
MAX_OFFSET = 1000
# Private-use characters that mark a highlight inside ts_headline's answer; removed from the
# text first, so stored text cannot fake a mark.
_START, _STOP = "\ue000", "\ue001"
_HEADLINE = (
    f"StartSel={_START}, StopSel={_STOP}, MaxWords=30, MinWords=8, MaxFragments=2, "
    'FragmentDelimiter=" … "'
)


def _config(name: str) -> ColumnElement:
    return literal_column(f"'{name}'::regconfig")  # one of CONFIGS' names, never user text


def _vector(name: str, column: Any) -> ColumnElement:
    # Spelled as the indexes are, so the planner uses them.
    return func.to_tsvector(_config(name), column)


def _query(name: str, text: str) -> ColumnElement:
    return func.websearch_to_tsquery(_config(name), text)


def _ranked(column: Any, configs: Sequence[str], text: str) -> tuple:
    """(matches, rank, best configuration) of a text column."""
    matches = or_(*(_vector(c, column).op("@@")(_query(c, text)) for c in configs))
    ranks = [func.ts_rank_cd(_vector(c, column), _query(c, text)) for c in configs]
    if len(configs) == 1:
        return matches, ranks[0], literal(configs[0])
    best = case((ranks[0] >= ranks[1], literal(configs[0])), else_=literal(configs[1]))
    return matches, func.greatest(*ranks), best


def _offset(cursor: str | None) -> int:
    if cursor is None:
        return 0
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        offset = int(base64.urlsafe_b64decode(padded.encode()).decode().removeprefix("at:"))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        offset = -1
    if not 0 < offset <= MAX_OFFSET:
        raise InvalidInput(
            "The cursor is not one this search issued; pass `next_cursor` from the previous "
            "page of the same search",
            details={"field": "cursor"},
        )
    return offset


def _cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(f"at:{offset}".encode()).decode().rstrip("=")


def _segments(headline: str) -> list[Segment]:
    """ts_headline's marked text as plain and matched segments."""
    segments: list[Segment] = []
    for index, piece in enumerate(headline.split(_START)):
        matched, _, rest = piece.partition(_STOP) if index else ("", "", piece)
        if matched:
            segments.append(Segment(text=matched, match=True))
        if rest:
            segments.append(Segment(text=rest, match=False))
    return segments


async def search_conversations(
    session: AsyncSession,
    *,
    tenant_id: int,
    user_id: uuid.UUID | None,
    text: str,
    language: Language,
    limit: int,
    cursor: str | None,
    agent_id: int | None = None,
    channel: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> tuple[list[SearchHit], str | None]:
    """The tenant's titles and messages matching `text`, best first, with highlights."""
    configs = CONFIGS[language]
    offset = _offset(cursor)
    # The conversations this caller may read: both kinds of hit below come only from these.
    conversations = visible(ChatConversation, tenant_id, user_id)
    if agent_id is not None:
        conversations = conversations.where(ChatConversation.agent_id == agent_id)
    if channel is not None:
        conversations = conversations.where(ChatConversation.channel == channel)
    allowed = conversations.subquery("allowed")

    m = ChatMessage
    m_match, m_rank, m_config = _ranked(m.content, configs, text)
    messages = (
        select(
            literal("message").label("kind"),
            m.conversation_id.label("conversation_id"),
            cast(m.id, String).label("message_id"),
            m.role.label("role"),
            m.created_at.label("created_at"),
            m_rank.label("rank"),
            m_config.label("config"),
            m.content.label("body"),
        )
        .join(allowed, allowed.c.id == m.conversation_id)
        .where(m.tenant_id == tenant_id, m.role.in_(SEARCHED_ROLES), m_match)
    )
    t_match, t_rank, t_config = _ranked(allowed.c.title, configs, text)
    titles = select(
        literal("title").label("kind"),
        allowed.c.id.label("conversation_id"),
        cast(null(), String).label("message_id"),
        cast(null(), String).label("role"),
        allowed.c.created_at.label("created_at"),
        t_rank.label("rank"),
        t_config.label("config"),
        allowed.c.title.label("body"),
    ).where(t_match)
    if since is not None:
        messages = messages.where(m.created_at >= since)
        titles = titles.where(allowed.c.created_at >= since)
    if until is not None:
        messages = messages.where(m.created_at < until)
        titles = titles.where(allowed.c.created_at < until)
    hits = union_all(messages, titles).subquery("hits")
    page = (
        select(hits)
        .order_by(hits.c.rank.desc(), hits.c.created_at.desc(), hits.c.message_id)
        .offset(offset)
        .limit(limit + 1)
        .subquery("page")
    )
    clean = func.replace(func.replace(page.c.body, _START, ""), _STOP, "")
    headline = case(
        *(
            (
                page.c.config == name,
                func.ts_headline(_config(name), clean, _query(name, text), _HEADLINE),
            )
            for name in configs
        ),
    )
    stmt = (
        select(
            page,
            headline.label("headline"),
            ChatConversation.title.label("title"),
            ChatConversation.channel.label("channel"),
            ChatConversation.agent_id.label("agent_id"),
        )
        .join(ChatConversation, ChatConversation.id == page.c.conversation_id)
        .order_by(page.c.rank.desc(), page.c.created_at.desc(), page.c.message_id)
    )
    rows = (await session.execute(stmt)).all()
    more = len(rows) > limit
    found = [
        SearchHit(
            kind=row.kind,
            conversation_id=row.conversation_id,
            conversation_title=row.title,
            channel=row.channel,
            agent_id=row.agent_id,
            message_id=uuid.UUID(row.message_id) if row.message_id else None,
            role=row.role,
            created_at=row.created_at,
            rank=float(row.rank),
            language=CODES[row.config],
            highlight=_segments(row.headline or ""),
        )
        for row in rows[:limit]
    ]
    next_offset = offset + limit
    return found, _cursor(next_offset) if more and next_offset <= MAX_OFFSET else None
