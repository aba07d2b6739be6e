"""The filter grammar's caps: serialized size, `$in`/`$nin` list length, comparisons and
`$and`/`$or` nesting. A filter at a cap passes; one past it is a 422 naming the cap, through
the search endpoint as well (the filter is checked before any store is touched)."""

import json

import httpx
import pytest

from orchestrator_service.errors import InvalidInput
from orchestrator_service.rag.filters import (
    MAX_BYTES,
    MAX_CLAUSES,
    MAX_DEPTH,
    MAX_LIST_LENGTH,
    check_filter,
)
from tests.helpers import Caller, error_of


def _nested(levels: int) -> dict:
    """A filter with `levels` nested `$and`s around one comparison."""
    inner: dict = {"a": 1}
    for _ in range(levels):
        inner = {"$and": [inner]}
    return inner


def _padded(size: int) -> dict:
    """A one-comparison filter of exactly `size` bytes serialized."""
    empty = len(json.dumps({"note": ""}).encode())
    return {"note": "x" * (size - empty)}


AT_THE_CAPS = [
    {"tag": {"$in": list(range(MAX_LIST_LENGTH))}},
    {"tag": {"$nin": ["v"] * MAX_LIST_LENGTH}},
    {"$or": [{f"f{i}": i} for i in range(MAX_CLAUSES)]},
    _nested(MAX_DEPTH),
    _padded(MAX_BYTES),
]
PAST_THE_CAPS = [
    ({"tag": {"$in": list(range(MAX_LIST_LENGTH + 1))}}, "filter list length", MAX_LIST_LENGTH),
    ({"tag": {"$nin": ["v"] * (MAX_LIST_LENGTH + 1)}}, "filter list length", MAX_LIST_LENGTH),
    ({"$or": [{f"f{i}": i} for i in range(MAX_CLAUSES + 1)]}, "filter clauses", MAX_CLAUSES),
    (
        {"n": {"$gt": 1, "$lt": 9}, "$and": [{f"f{i}": i} for i in range(MAX_CLAUSES - 1)]},
        "filter clauses",
        MAX_CLAUSES,
    ),
    (_nested(MAX_DEPTH + 1), "filter depth", MAX_DEPTH),
    (_padded(MAX_BYTES + 1), "filter size", MAX_BYTES),
]


@pytest.mark.parametrize("filters", AT_THE_CAPS, ids=["in", "nin", "clauses", "depth", "bytes"])
def test_a_filter_at_each_cap_is_accepted(filters: dict) -> None:
    assert check_filter(filters) is filters


@pytest.mark.parametrize(
    ("filters", "cap", "limit"),
    PAST_THE_CAPS,
    ids=["in", "nin", "clauses", "clauses-in-operators", "depth", "bytes"],
)
def test_a_filter_past_a_cap_is_refused_naming_the_cap(filters: dict, cap: str, limit: int) -> None:
    with pytest.raises(InvalidInput) as refused:
        check_filter(filters)
    assert f"the {cap} cap is {limit}" in refused.value.message
    assert refused.value.details["cap"] == cap
    assert refused.value.details["limit"] == limit


def test_a_huge_list_is_refused_by_its_length_without_checking_every_value() -> None:
    values = [{"not": "a scalar"}] * (MAX_LIST_LENGTH * 100)
    with pytest.raises(InvalidInput) as refused:
        check_filter({"tag": {"$in": values}})
    assert refused.value.details["cap"] == "filter list length"


def test_deep_nesting_is_refused_at_the_cap_not_walked_to_the_bottom() -> None:
    with pytest.raises(InvalidInput) as refused:
        check_filter(_nested(10_000))
    assert refused.value.details["cap"] == "filter depth"


@pytest.mark.parametrize(
    ("filters", "cap", "limit"),
    PAST_THE_CAPS,
    ids=["in", "nin", "clauses", "clauses-in-operators", "depth", "bytes"],
)
async def test_search_answers_422_naming_the_cap(
    client: httpx.AsyncClient, tenant_a: Caller, filters: dict, cap: str, limit: int
) -> None:
    response = await client.post(
        "/api/v1/rag/search", headers=tenant_a.headers, json={"query": "q", "filters": filters}
    )
    error = error_of(response, 422, "invalid_input")
    assert f"the {cap} cap is {limit}" in error["message"]
    assert error["details"]["cap"] == cap
