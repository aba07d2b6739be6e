"""The metadata filter grammar: checked here, evaluated once, in SQL (`orch_metadata_match`),
whichever vector store adapter runs the query.

    filter   := {field: value | {op: value, ...}, ..., "$and": [filter...], "$or": [filter...]}
    op       := $eq $ne $gt $gte $lt $lte (a scalar) | $in $nin (a list of scalars)
    field    := a metadata key; dots reach nested keys ("author.name")
"""

from string import ascii_letters
from typing import Any

from orchestrator_service.errors import InvalidInput

_SCALAR_OPS = {"$eq", "$ne", "$gt", "$gte", "$lt", "$lte"}
_LIST_OPS = {"$in", "$nin"}
_FIRST = frozenset(ascii_letters + "_")
MAX_DEPTH = 8


def _field(key: str) -> bool:
    """Whether `key` names a metadata field: dot-separated names that start with a letter or
    "_" and go on with word characters (any script) or "-"."""
    return all(
        name[:1] in _FIRST and all(char.isalnum() or char in "_-" for char in name)
        for name in key.split(".")
    )


def _scalar(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float | bool)


def check_filter(value: Any, path: str = "filters", depth: int = 0) -> dict:
    """Return the filter unchanged if it follows the grammar; else `InvalidInput` saying where."""

    def bad(where: str, why: str) -> InvalidInput:
        return InvalidInput(f"Invalid filter at {where}: {why}", details={"path": where})

    if depth > MAX_DEPTH:
        raise bad(path, f"nested deeper than {MAX_DEPTH} levels")
    if not isinstance(value, dict):
        raise bad(path, "expected an object")
    for key, condition in value.items():
        where = f"{path}.{key}"
        if key in ("$and", "$or"):
            if not isinstance(condition, list) or not condition:
                raise bad(where, f"{key} takes a non-empty list of filters")
            for i, item in enumerate(condition):
                check_filter(item, f"{where}[{i}]", depth + 1)
        elif key.startswith("$"):
            raise bad(where, f"unknown operator {key}; use $and or $or at this level")
        elif not _field(key):
            raise bad(where, "not a metadata field name")
        elif isinstance(condition, dict):
            if not condition:
                raise bad(where, "an empty condition")
            for op, operand in condition.items():
                if op in _SCALAR_OPS:
                    if not _scalar(operand):
                        raise bad(f"{where}.{op}", f"{op} takes a string, number, bool or null")
                elif op in _LIST_OPS:
                    if not isinstance(operand, list) or not all(_scalar(v) for v in operand):
                        raise bad(f"{where}.{op}", f"{op} takes a list of scalars")
                else:
                    raise bad(f"{where}.{op}", f"unknown operator {op}")
        elif not _scalar(condition):
            raise bad(where, "a field takes a scalar or an object of operators")
    return value
