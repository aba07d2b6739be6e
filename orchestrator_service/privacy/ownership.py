"""Owner and visibility of new and changed user-owned rows.

Rules (README, "Users own things"): a new row is owned by the user the caller acts for; a
caller acting for no user (a platform or CLI key) makes only tenant-wide rows, since a private
row nobody owns could be read by nobody; only the owner changes who may read a row.
"""

import uuid
from typing import Any

from orchestrator_service.db.base import PRIVATE, TENANT_WIDE
from orchestrator_service.errors import Forbidden, InvalidInput


def new_owner(
    *, user_id: uuid.UUID | None, visibility: str | None, default: str
) -> tuple[uuid.UUID | None, str]:
    """(owner_user_id, visibility) of a new row made by a caller acting for `user_id`."""
    if user_id is None:
        if visibility == PRIVATE:
            raise InvalidInput(
                "This key acts for no user (made by a platform key or the CLI), so it cannot "
                "make private objects: use a user's key or session, or visibility 'tenant'",
                details={"field": "visibility"},
            )
        return None, TENANT_WIDE
    return user_id, visibility or default


def change_visibility(row: Any, *, user_id: uuid.UUID | None, visibility: str | None) -> None:
    """Set `row.visibility`; only its owner may change it (403 otherwise: the row is readable
    to the caller, so refusing confirms nothing)."""
    if visibility is None or visibility == row.visibility:
        return
    if user_id is None or row.owner_user_id != user_id:
        raise Forbidden(
            "Only the owner of this object changes who may read it",
            details={"field": "visibility"},
        )
    row.visibility = visibility


def is_private(row: Any) -> bool:
    """True when only the owner may read the row."""
    return row.visibility != TENANT_WIDE
