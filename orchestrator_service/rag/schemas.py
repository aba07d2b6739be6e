"""Request and response bodies of /rag."""

from datetime import datetime
from typing import Literal

from pydantic import Field

from orchestrator_service.schemas import Output

DocumentStatus = Literal["queued", "processing", "ready", "failed", "deleting"]
DEFAULT_COLLECTIONS = ("General", "ADN Personal", "Shadow RAG")


class DocumentOut(Output):
    """A document's metadata, status and progress."""

    id: str
    filename: str
    collection: str
    file_type: str
    status: str
    chunks_done: int
    chunks_total: int | None
    chunk_count: int
    error: str | None
    size_bytes: int | None
    content_hash: str | None
    embedding_model: str | None
    metadata: dict = Field(validation_alias="meta")
    created_at: datetime | None
    updated_at: datetime | None


class CollectionOut(Output):
    """A collection and how many documents it holds."""

    name: str
    documents: int
