"""The metadata filter grammar: checked here, evaluated once, in SQL (`orch_metadata_match`),
whichever vector store adapter runs the query.

    filter   := {field: value | {op: value, ...}, ..., "$and": [filter...], "$or": [filter...]}
    op       := $eq $ne $gt $gte $lt $lte (a scalar) | $in $nin (a list of scalars)
    field    := a metadata key; dots reach nested keys ("author.name")

A filter is evaluated on every candidate row, so its size is capped: serialized bytes, values
in one `$in`/`$nin` list, comparisons in the whole filter, and `$and`/`$or` nesting. Going
over a cap is `InvalidInput` (422) naming the cap and its limit.
"""

import json
from dataclasses import dataclass
from string import ascii_letters
from typing import Any

from orchestrator_service.errors import InvalidInput

_SCALAR_OPS = {"$eq", "$ne", "$gt", "$gte", "$lt", "$lte"}
_LIST_OPS = {"$in", "$nin"}
_FIRST = frozenset(ascii_letters + "_")
MAX_BYTES = 16_384
MAX_LIST_LENGTH = 500
MAX_CLAUSES = 64
MAX_DEPTH = 8


@dataclass
class _Count:
    """Comparisons seen so far in one filter."""

    clauses: int = 0


def _field(key: str) -> bool:
    """Whether `key` names a metadata field: dot-separated names that start with a letter or
    "_" and go on with word characters (any script) or "-"."""
    return all(
        name[:1] in _FIRST and all(char.isalnum() or char in "_-" for char in name)
        for name in key.split(".")
    )


def _scalar(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float | bool)


def _bad(where: str, why: str) -> InvalidInput:
    return InvalidInput(f"Invalid filter at {where}: {why}", details={"path": where})


def _over(where: str, what: str, cap: str, limit: int) -> InvalidInput:
    return InvalidInput(
        f"Invalid filter at {where}: {what} (the {cap} cap is {limit})",
        details={"path": where, "cap": cap, "limit": limit},
    )


def check_filter(value: Any) -> dict:
    """Return the filter unchanged if it follows the grammar within its caps; else
    `InvalidInput` saying where, and which cap when one is passed."""
    _check(value, "filters", 0, _Count())
    size = len(json.dumps(value, ensure_ascii=False).encode())
    if size > MAX_BYTES:
        raise _over("filters", f"{size} bytes serialized", "filter size", MAX_BYTES)
    return value


def _check(value: Any, path: str, depth: int, count: _Count) -> None:
    if depth > MAX_DEPTH:
        raise _over(path, f"$and/$or nested {depth} levels deep", "filter depth", MAX_DEPTH)
    if not isinstance(value, dict):
        raise _bad(path, "expected an object")
    for key, condition in value.items():
        where = f"{path}.{key}"
        if key in ("$and", "$or"):
            if not isinstance(condition, list) or not condition:
                raise _bad(where, f"{key} takes a non-empty list of filters")
            for i, item in enumerate(condition):
                _check(item, f"{where}[{i}]", depth + 1, count)
        elif key.startswith("$"):
            raise _bad(where, f"unknown operator {key}; use $and or $or at this level")
        elif not _field(key):
            raise _bad(where, "not a metadata field name")
        elif isinstance(condition, dict):
            if not condition:
                raise _bad(where, "an empty condition")
            for op, operand in condition.items():
                _operator(f"{where}.{op}", op, operand)
                _counted(count, f"{where}.{op}")
        elif _scalar(condition):
            _counted(count, where)
        else:
            raise _bad(where, "a field takes a scalar or an object of operators")


def _operator(where: str, op: str, operand: Any) -> None:
    if op in _SCALAR_OPS:
        if not _scalar(operand):
            raise _bad(where, f"{op} takes a string, number, bool or null")
    elif op in _LIST_OPS:
        if not isinstance(operand, list):
            raise _bad(where, f"{op} takes a list of scalars")
        if len(operand) > MAX_LIST_LENGTH:
            raise _over(where, f"{len(operand)} values", "filter list length", MAX_LIST_LENGTH)
        if not all(_scalar(v) for v in operand):
            raise _bad(where, f"{op} takes a list of scalars")
    else:
        raise _bad(where, f"unknown operator {op}")


def _counted(count: _Count, where: str) -> None:
    count.clauses += 1
    if count.clauses > MAX_CLAUSES:
        raise _over(where, f"more than {MAX_CLAUSES} comparisons", "filter clauses", MAX_CLAUSES)
