"""Response bodies of /audit-logs."""

import uuid
from datetime import datetime
from typing import Any

from orchestrator_service.schemas import Output


class AuditLogOut(Output):
    """One audit entry."""

    id: uuid.UUID
    tenant_id: int | None
    user_id: uuid.UUID | None
    api_key_id: uuid.UUID | None
    actor: str
    action: str
    resource_type: str
    resource_id: str | None
    old_values: dict[str, Any] | None
    new_values: dict[str, Any] | None
    ip_address: Any | None
    user_agent: str | None
    request_id: str | None
    created_at: datetime | None
