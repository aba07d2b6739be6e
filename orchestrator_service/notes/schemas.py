"""Request and response bodies of /notes."""

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from orchestrator_service.schemas import Input, Output, Patch

MAX_CONTENT_CHARS = 1_000_000
Tag = Annotated[str, StringConstraints(min_length=1, max_length=100)]
Tags = Annotated[list[Tag], Field(max_length=50)]
ContentType = Literal["markdown", "plain", "html"]
Visibility = Literal["private", "tenant"]


class NoteCreate(Input):
    """A new note: private to its author unless `visibility` is `tenant`. HTML is stored as
    given and never rendered by the service; search reads its text only."""

    title: Annotated[str, StringConstraints(max_length=255)] | None = None
    content: Annotated[str, StringConstraints(min_length=1, max_length=MAX_CONTENT_CHARS)]
    content_type: ContentType = "markdown"
    tags: Tags = []
    category: Annotated[str, StringConstraints(min_length=1, max_length=100)] | None = None
    visibility: Visibility = "private"


class NoteUpdate(Patch):
    """Changes to a note; omitted fields stay as they are."""

    nullable = frozenset({"title", "category"})

    title: Annotated[str, StringConstraints(max_length=255)] | None = None
    content: (
        Annotated[str, StringConstraints(min_length=1, max_length=MAX_CONTENT_CHARS)] | None
    ) = None
    content_type: ContentType | None = None
    tags: Tags | None = None
    category: Annotated[str, StringConstraints(min_length=1, max_length=100)] | None = None
    visibility: Visibility | None = None


class NoteOut(Output):
    """A note."""

    id: uuid.UUID
    title: str | None
    content: str
    content_type: str
    tags: list[str]
    category: str | None
    visibility: str
    owner_user_id: uuid.UUID | None
    agent_id: int | None
    created_at: datetime | None
    updated_at: datetime | None


class NoteHit(NoteOut):
    """A note found by a search: its rank (higher is better) and an HTML highlight, the
    note's text escaped and the matched words in <mark>."""

    rank: float
    highlight: str | None
