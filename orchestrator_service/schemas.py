"""Base classes of request and response schemas."""

from pydantic import BaseModel, ConfigDict


class Input(BaseModel):
    """A request body: unknown fields are refused, strings trimmed."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Output(BaseModel):
    """A response body, read from ORM objects."""

    model_config = ConfigDict(from_attributes=True)
