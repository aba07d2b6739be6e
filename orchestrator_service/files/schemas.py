"""Request and response bodies of /files."""

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import StringConstraints

from orchestrator_service.schemas import Input, Output


class FileOut(Output):
    """An attachment's metadata (its bytes: `GET /files/{id}/content`)."""

    id: uuid.UUID
    conversation_id: uuid.UUID
    message_id: uuid.UUID | None
    original_filename: str
    file_size: int
    mime_type: str
    file_hash: str
    uploaded_by: uuid.UUID | None
    document_id: str | None
    created_at: datetime | None


class IngestRequest(Input):
    """Send a file to RAG ingestion, into a collection."""

    collection: Annotated[str, StringConstraints(min_length=1, max_length=100)] = "General"
