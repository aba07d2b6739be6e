"""/api/v1/notes: a user's notes (private unless shared with the tenant) and their search."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, status

from orchestrator_service.deps import ActorDep, Paging, SessionDep, TenantPrincipal, require
from orchestrator_service.notes import service
from orchestrator_service.notes.schemas import NoteCreate, NoteHit, NoteOut, NoteUpdate
from orchestrator_service.pagination import Page, page_of
from orchestrator_service.schemas import NO_NUL_PATTERN

router = APIRouter(prefix="/notes", tags=["notes"])
Reader = Annotated[TenantPrincipal, Depends(require("notes:read"))]
Writer = Annotated[TenantPrincipal, Depends(require("notes:write"))]
Label = Annotated[str | None, Query(min_length=1, max_length=100, pattern=NO_NUL_PATTERN)]


@router.post("", status_code=status.HTTP_201_CREATED)
async def create_note(
    data: NoteCreate, principal: Writer, actor: ActorDep, session: SessionDep
) -> NoteOut:
    """Write a note (private to the caller unless `visibility` is `tenant`)."""
    note = await service.create_note(
        session, tenant_id=principal.tenant_id, user_id=principal.user_id, data=data, actor=actor
    )
    return NoteOut.model_validate(note)


@router.get("")
async def list_notes(
    principal: Reader, session: SessionDep, page: Paging, tag: Label = None, category: Label = None
) -> Page[NoteOut]:
    """The caller's notes and those shared with the tenant, newest first."""
    notes, cursor = await service.list_notes(
        session,
        tenant_id=principal.tenant_id,
        user_id=principal.user_id,
        page=page,
        tag=tag,
        category=category,
    )
    return page_of(NoteOut, notes, cursor)


@router.get("/search")
async def search_notes(
    principal: Reader,
    session: SessionDep,
    q: Annotated[
        str, Query(min_length=1, max_length=service.MAX_QUERY_CHARS, pattern=NO_NUL_PATTERN)
    ],
    limit: Annotated[int, Query(ge=1, le=50)] = 20,
    tag: Label = None,
) -> list[NoteHit]:
    """Full-text search (Spanish and English) over the notes the caller may read, best first,
    with highlights (HTML: the text escaped, matches in <mark>)."""
    return await service.search_notes(
        session,
        tenant_id=principal.tenant_id,
        user_id=principal.user_id,
        query=q,
        limit=limit,
        tag=tag,
    )


@router.get("/{note_id}")
async def get_note(note_id: uuid.UUID, principal: Reader, session: SessionDep) -> NoteOut:
    """One note the caller may read."""
    note = await service.get_note(
        session, tenant_id=principal.tenant_id, user_id=principal.user_id, note_id=note_id
    )
    return NoteOut.model_validate(note)


@router.patch("/{note_id}")
async def update_note(
    note_id: uuid.UUID, data: NoteUpdate, principal: Writer, actor: ActorDep, session: SessionDep
) -> NoteOut:
    """Change one of the caller's notes."""
    note = await service.update_note(
        session,
        tenant_id=principal.tenant_id,
        user_id=principal.user_id,
        note_id=note_id,
        data=data,
        actor=actor,
    )
    return NoteOut.model_validate(note)


@router.delete("/{note_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_note(
    note_id: uuid.UUID, principal: Writer, actor: ActorDep, session: SessionDep
) -> None:
    """Delete one of the caller's notes."""
    await service.delete_note(
        session,
        tenant_id=principal.tenant_id,
        user_id=principal.user_id,
        note_id=note_id,
        actor=actor,
    )
