"""Base classes of request and response schemas, and the path-id types every router uses."""

from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar

from fastapi import Path
from pydantic import BaseModel, ConfigDict, model_validator

from orchestrator_service.errors import InvalidInput

# Integer ids are PostgreSQL INTEGERs: anything outside that range is refused up front.
IntId = Annotated[int, Path(ge=1, le=2**31 - 1)]
# Text ids (documents, business assets) are UUID-shaped strings.
TextId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9-]+$")]


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


class Input(BaseModel):
    """A request body: unknown fields are refused, strings trimmed, NUL characters refused
    (PostgreSQL cannot store them)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @model_validator(mode="before")
    @classmethod
    def _no_nul(cls, data: Any) -> Any:
        if _has_nul(data):
            raise ValueError("text may not contain NUL characters")
        return data


class Patch(Input):
    """A partial update: omitted fields stay as they are; `null` is accepted only for the
    fields listed in `nullable` (those that may be empty)."""

    nullable: ClassVar[frozenset[str]] = frozenset()

    @model_validator(mode="before")
    @classmethod
    def _no_null(cls, data: Any) -> Any:
        if isinstance(data, dict):
            refused = sorted(
                k
                for k, v in data.items()
                if v is None and k in cls.model_fields and k not in cls.nullable
            )
            if refused:
                raise ValueError(
                    f"{', '.join(refused)} cannot be null; omit a field to leave it unchanged"
                )
        return data


def as_utc(value: datetime | None, name: str) -> datetime | None:
    """A time filter as an aware UTC instant (naive values are read as UTC), or 422."""
    if value is None:
        return None
    try:
        aware = value if value.tzinfo else value.replace(tzinfo=UTC)
        return aware.astimezone(UTC)
    except OverflowError:
        raise InvalidInput(f"`{name}` is outside the supported range of dates") from None


class Output(BaseModel):
    """A response body, read from ORM objects."""

    model_config = ConfigDict(from_attributes=True)
