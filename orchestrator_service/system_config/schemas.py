"""Request and response bodies of /system-config (platform admin)."""

from datetime import datetime
from typing import Literal

from pydantic import Field

from orchestrator_service.schemas import Input, Output


class SettingOut(Output):
    """A platform setting: its value in force, where it comes from, and its bounds."""

    key: str
    value: int
    default: int
    source: Literal["runtime", "default"] = Field(
        description="runtime: set through this API; default: the boot-time setting"
    )
    description: str
    minimum: int
    maximum: int
    updated_at: datetime | None


class SettingUpdate(Input):
    """A new value for a setting."""

    value: int = Field(strict=True, description="The new value, within the key's bounds")
