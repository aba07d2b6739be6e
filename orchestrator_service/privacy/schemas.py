"""Bodies of /private-objects: what an admin sees of other users' private rows."""

import uuid
from datetime import datetime

from orchestrator_service.schemas import Output


class PrivateObjectOut(Output):
    """A private row as an admin sees it: what it is, whose, and when; never its content
    (no title, name, text or value)."""

    kind: str
    id: str
    owner_user_id: uuid.UUID | None
    visibility: str
    created_at: datetime | None
