"""Base classes of request and response schemas, and the path-id types every router uses."""

from datetime import UTC, datetime
from functools import cache
from typing import Annotated, Any, ClassVar, TypeVar, get_args

from fastapi import Path, Query
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    GetJsonSchemaHandler,
    ValidationError,
    model_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

from orchestrator_service.errors import InvalidInput

# Integer ids are PostgreSQL INTEGERs: anything outside that range is refused up front.
IntId = Annotated[int, Path(ge=1, le=2**31 - 1)]
# A query-string text compared in SQL: PostgreSQL cannot hold NUL, so it is refused up front.
NO_NUL_PATTERN = r"^[^\x00]*$"
# Text ids (documents, business assets) are UUID-shaped strings.
TextId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9-]+$")]


def _iso_8601(value: Any) -> Any:
    """Refuse what pydantic would otherwise read as a time but the schema does not allow,
    such as a bare number taken for Unix seconds."""
    if isinstance(value, str):
        try:
            datetime.fromisoformat(value)
        except ValueError:
            raise ValueError("expected an ISO 8601 date-time, e.g. 2025-01-31T12:00:00Z") from None
    return value


# A time filter of a list (`since`, `until`): ISO 8601 only, as its `date-time` format says.
TimeFilter = Annotated[
    datetime | None,
    BeforeValidator(_iso_8601),
    Query(description="ISO 8601 date-time; without an offset, UTC"),
]


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


# What trimming means for a text field with a minimum length, stated in its JSON Schema
# (an unanchored pattern: something besides white space; the service checks it by trimming).
NOT_BLANK_PATTERN = r"\S"


def _state_text_rules(schema: dict) -> None:
    """Add the pattern above to the non-empty string schemas of one property (in place)."""
    for branch in schema.get("anyOf", [schema]):
        if branch.get("type") == "array" and isinstance(branch.get("items"), dict):
            _state_text_rules(branch["items"])
        if branch.get("type") != "string" or {"pattern", "format", "enum", "const"} & set(branch):
            continue
        if branch.get("minLength"):
            branch["pattern"] = NOT_BLANK_PATTERN


@cache
def _numeric_fields(model: type[BaseModel]) -> frozenset[str]:
    """The fields (by name and alias) whose type is a number, or a number or null."""
    numeric = set()
    for name, field in model.model_fields.items():
        kinds = set(get_args(field.annotation)) or {field.annotation}
        if kinds & {int, float} and not kinds - {int, float, type(None)}:
            numeric |= {name, field.alias or name}
    return frozenset(numeric)


class Input(BaseModel):
    """A request body: unknown fields are refused, strings trimmed, NUL characters refused
    (PostgreSQL cannot store them)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @classmethod
    def __get_pydantic_json_schema__(
        cls, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        """The model's schema, with the rules above stated on its text fields."""
        schema = handler(core_schema)
        for prop in handler.resolve_ref_schema(schema).get("properties", {}).values():
            _state_text_rules(prop)
        return schema

    @model_validator(mode="before")
    @classmethod
    def _no_nul(cls, data: Any) -> Any:
        if _has_nul(data):
            raise ValueError("text may not contain NUL characters")
        return data

    @model_validator(mode="before")
    @classmethod
    def _no_bool_numbers(cls, data: Any) -> Any:
        """`true` is not a number: pydantic would read it as 1 where the schema says
        `integer` or `number`."""
        if isinstance(data, dict):
            refused = sorted(
                name
                for name, value in data.items()
                if isinstance(value, bool) and name in _numeric_fields(cls)
            )
            if refused:
                raise ValueError(f"{', '.join(refused)} must be a number, not true or false")
        return data


class Patch(Input):
    """A partial update: omitted fields stay as they are; `null` is accepted only for the
    fields listed in `nullable` (those that may be empty)."""

    nullable: ClassVar[frozenset[str]] = frozenset()

    @classmethod
    def __get_pydantic_json_schema__(
        cls, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        """The schema states which fields take null: only those in `nullable`."""
        schema = super().__get_pydantic_json_schema__(core_schema, handler)
        properties = handler.resolve_ref_schema(schema).get("properties", {})
        for name, field in cls.model_fields.items():
            prop = properties.get(field.alias or name)
            if prop is None or name in cls.nullable or "anyOf" not in prop:
                continue
            branches = [b for b in prop.pop("anyOf") if b.get("type") != "null"]
            if prop.get("default", ...) is None:
                del prop["default"]
            if len(branches) == 1 and "$ref" not in branches[0]:
                prop.update(branches[0])
            else:  # a $ref keeps its own object, as FastAPI renders a nested model
                prop["anyOf"] = branches
        return schema

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


M = TypeVar("M", bound=BaseModel)


def validated(model: type[M], data: Any) -> M:
    """`data` read as `model` outside a request (a tool's arguments), or 422 naming each
    field that is wrong."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = [
            {"path": ".".join(str(p) for p in e["loc"]), "message": e["msg"]} for e in exc.errors()
        ]
        raise InvalidInput(
            "Invalid arguments: "
            + "; ".join(f"{p['path'] or 'body'}: {p['message']}" for p in problems[:5]),
            details=problems,
        ) from None


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
    """A response body, read from ORM objects. Every time in it carries its offset: the
    naive TIMESTAMP columns that seed 003 fixed (written in UTC, see `bootstrap`) are read
    as UTC, so each is an RFC 3339 `date-time` as the schema says."""

    model_config = ConfigDict(from_attributes=True)

    @model_validator(mode="after")
    def _aware_times(self) -> "Output":
        fields = vars(self)
        for name, value in list(fields.items()):
            if isinstance(value, datetime) and value.tzinfo is None:
                fields[name] = value.replace(tzinfo=UTC)
        return self
