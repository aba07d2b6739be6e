"""Notes of a user: CRUD, audited, and ranked bilingual full-text search with highlights."""

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from orchestrator_service.audit.service import Actor
from orchestrator_service.db.fulltext import bilingual_query, headline, rank, safe_highlight
from orchestrator_service.db.personal import PersonalRepository
from orchestrator_service.errors import InvalidInput
from orchestrator_service.notes.models import Note
from orchestrator_service.notes.schemas import NoteCreate, NoteHit, NoteOut, NoteUpdate
from orchestrator_service.notes.text import plain_text
from orchestrator_service.pagination import PageParams

MAX_QUERY_CHARS = 500


class Notes(PersonalRepository[Note]):
    """The notes a user may read."""

    model = Note
    resource_type = "note"
    what = "Note"
    # Never the title or text: admins read the audit log, and the note may be private.
    audited = ("content_type", "visibility")


def _tags(tags: list[str]) -> list[str]:
    """Tags without repeats, in their first order."""
    return list(dict.fromkeys(tags))


async def create_note(
    session: AsyncSession,
    *,
    tenant_id: int,
    user_id: uuid.UUID | None,
    data: NoteCreate,
    actor: Any,
    agent_id: int | None = None,
) -> Note:
    """Add a note for the user (by one of their agents when `agent_id` is given)."""
    if user_id is None and data.visibility == "private":
        raise InvalidInput(
            "A key acting for no user cannot own a private note: use visibility 'tenant'",
            details={"field": "visibility"},
        )
    note = Note(
        tenant_id=tenant_id,
        owner_user_id=user_id,
        agent_id=agent_id,
        visibility=data.visibility,
        title=data.title,
        content=data.content,
        content_type=data.content_type,
        search_text=plain_text(data.content, data.content_type),
        tags=_tags(data.tags),
        category=data.category,
    )
    return await Notes(session, tenant_id=tenant_id, user_id=user_id).create(note, actor=actor)


async def list_notes(
    session: AsyncSession,
    *,
    tenant_id: int,
    user_id: uuid.UUID | None,
    page: PageParams,
    tag: str | None = None,
    category: str | None = None,
) -> tuple[list[Note], str | None]:
    """The notes the user may read, newest first, optionally with one tag or category."""
    notes = Notes(session, tenant_id=tenant_id, user_id=user_id)
    stmt = notes.select()
    if tag is not None:
        stmt = stmt.where(Note.tags.contains([tag]))
    if category is not None:
        stmt = stmt.where(Note.category == category)
    return await notes.page(page, stmt)


async def get_note(
    session: AsyncSession, *, tenant_id: int, user_id: uuid.UUID | None, note_id: uuid.UUID
) -> Note:
    """One note the user may read, or 404."""
    return await Notes(session, tenant_id=tenant_id, user_id=user_id).get(note_id)


async def update_note(
    session: AsyncSession,
    *,
    tenant_id: int,
    user_id: uuid.UUID | None,
    note_id: uuid.UUID,
    data: NoteUpdate,
    actor: Actor,
) -> Note:
    """Change one of the user's notes."""
    notes = Notes(session, tenant_id=tenant_id, user_id=user_id)
    note = await notes.get_own(note_id)
    changes = data.model_dump(exclude_unset=True)
    if "tags" in changes:
        changes["tags"] = _tags(changes["tags"])
    if changes.get("visibility") == "private" and user_id is None:
        raise InvalidInput("A key acting for no user cannot make a note private")
    if "content" in changes or "content_type" in changes:
        changes["search_text"] = plain_text(
            changes.get("content", note.content), changes.get("content_type", note.content_type)
        )
    return await notes.update(note, changes, actor=actor)


async def delete_note(
    session: AsyncSession,
    *,
    tenant_id: int,
    user_id: uuid.UUID | None,
    note_id: uuid.UUID,
    actor: Actor,
) -> None:
    """Delete one of the user's notes."""
    notes = Notes(session, tenant_id=tenant_id, user_id=user_id)
    await notes.delete(await notes.get_own(note_id), actor=actor)


async def search_notes(
    session: AsyncSession,
    *,
    tenant_id: int,
    user_id: uuid.UUID | None,
    query: str,
    limit: int = 20,
    tag: str | None = None,
) -> list[NoteHit]:
    """The notes the user may read that match `query` (web-search syntax: words, "phrases",
    -excluded, or), best first, each with a highlight."""
    query = query.strip()
    if not query:
        raise InvalidInput("The search query is empty", details={"field": "q"})
    if "\x00" in query:
        raise InvalidInput("The search query may not hold NUL characters", details={"field": "q"})
    if len(query) > MAX_QUERY_CHARS:
        raise InvalidInput(f"The search query is longer than {MAX_QUERY_CHARS} characters")
    tsquery = bilingual_query(query)
    score = rank(Note.search_vector, tsquery).label("rank")
    matches = (
        Notes(session, tenant_id=tenant_id, user_id=user_id)
        .select()
        .where(Note.search_vector.op("@@")(tsquery))
    )
    if tag is not None:
        matches = matches.where(Note.tags.contains([tag]))
    # Rank every match, then highlight only the page returned (ts_headline is costly).
    best = matches.add_columns(score).order_by(score.desc(), Note.id).limit(limit).subquery()
    stmt = select(best, headline(best.c.search_text, query).label("highlight")).order_by(
        best.c.rank.desc(), best.c.id
    )
    return [
        NoteHit(
            **NoteOut.model_validate(row, from_attributes=True).model_dump(),
            rank=float(row.rank),
            highlight=safe_highlight(row.highlight),
        )
        for row in (await session.execute(stmt)).all()
    ]
