"""Request and response bodies of /business-assets."""

from datetime import datetime
from typing import Annotated

from pydantic import StringConstraints

from orchestrator_service.schemas import Input, Output, Patch

AssetType = Annotated[str, StringConstraints(min_length=1, max_length=50, pattern=r"^[\w.-]+$")]


class AssetCreate(Input):
    """A new asset: its type (branding, scripts, roi, ...) and JSON content."""

    asset_type: AssetType
    content: dict
    is_active: bool = True


class AssetUpdate(Patch):
    """Changes to an asset; omitted fields stay as they are."""

    asset_type: AssetType | None = None
    content: dict | None = None
    is_active: bool | None = None


class AssetOut(Output):
    """A business asset."""

    id: str
    asset_type: str
    content: dict
    is_active: bool
    created_at: datetime | None
    updated_at: datetime | None
