"""Response bodies of /error-logs."""

import uuid
from datetime import datetime
from typing import Literal

from orchestrator_service.schemas import Output

# The kinds of failure on record.
Kind = Literal["run", "tool_call", "ingestion", "webhook_delivery", "sync", "model_call"]


class ErrorLogOut(Output):
    """A handled failure, with how often it happened and where it was last seen."""

    id: uuid.UUID
    error_type: str
    error_code: str | None
    error_message: str
    subject: str | None
    occurrences: int
    request_id: str | None
    execution_id: uuid.UUID | None
    created_at: datetime | None
    last_seen_at: datetime | None


class ErrorLogPage(Output):
    """A page of the error log and how many entries matched."""

    items: list[ErrorLogOut]
    total: int
