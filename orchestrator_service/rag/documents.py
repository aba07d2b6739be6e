"""What parsing produces and chunking consumes."""

from dataclasses import dataclass, field
from datetime import datetime

from orchestrator_service.errors import OrchestratorError


class ParseError(OrchestratorError):
    """A file cannot be ingested; the message says what a person can do about it."""

    status_code = 422
    code = "unparseable_document"


@dataclass(frozen=True)
class Turn:
    """One message of a chat export."""

    author: str
    text: str
    timestamp: datetime | None = None
    media: bool = False  # a media placeholder ("<Media omitted>", "image omitted", ...)


@dataclass
class ParsedDocument:
    """A document's text (or, for a chat export, its turns), ready to chunk."""

    kind: str  # pdf | docx | txt | md | html | csv | whatsapp
    text: str = ""
    turns: list[Turn] = field(default_factory=list)
    metadata: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Chunk:
    """A piece of a document no longer than the embedder's window."""

    index: int
    content: str
    tokens: int
    metadata: dict = field(default_factory=dict)
