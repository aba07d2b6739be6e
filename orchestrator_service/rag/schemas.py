"""Request and response bodies of /rag."""

from datetime import datetime
from typing import Literal

from pydantic import Field

from orchestrator_service.schemas import Input, Output

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


class SearchRequest(Input):
    """A knowledge query."""

    query: str = Field(min_length=1, max_length=4000)
    collections: list[str] | None = Field(default=None, max_length=64)
    top_k: int = Field(default=5, ge=1, le=50)
    filters: dict | None = None
    score_threshold: float | None = Field(default=None, ge=-1, le=1)
    mode: Literal["vector", "hybrid"] = "vector"


class SearchResult(Output):
    """One chunk found."""

    content: str
    score: float
    similarity: float
    document_id: str
    filename: str
    collection: str
    chunk_index: int
    metadata: dict
