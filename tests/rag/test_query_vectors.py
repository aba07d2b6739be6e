"""The bounded cache of recent query vectors."""

import numpy as np

from orchestrator_service.rag.query_vectors import QueryVectors


def test_a_cached_vector_comes_back_as_float32_values() -> None:
    cache = QueryVectors(4)
    vector = [0.1, 0.2, 0.3]
    cache.put(1, "m", "when do you open?", vector)

    assert cache.get(1, "m", "when do you open?") == np.float32(vector).tolist()
    assert cache.get(1, "m", "When do you open?") is None  # the exact text only


def test_another_tenant_or_model_is_a_miss() -> None:
    """A hit in one tenant never answers another's search (no timing tells what others ask)."""
    cache = QueryVectors(4)
    cache.put(1, "m", "q", [1.0])

    assert cache.get(2, "m", "q") is None
    assert cache.get(1, "other-model", "q") is None


def test_the_least_recently_used_goes_first_beyond_the_bound() -> None:
    cache = QueryVectors(2)
    cache.put(1, "m", "a", [1.0])
    cache.put(1, "m", "b", [2.0])
    assert cache.get(1, "m", "a") == [1.0]  # now b is the least recently used

    cache.put(1, "m", "c", [3.0])

    assert len(cache) == 2
    assert cache.get(1, "m", "b") is None
    assert cache.get(1, "m", "a") == [1.0]
    assert cache.get(1, "m", "c") == [3.0]


def test_zero_entries_keeps_nothing() -> None:
    cache = QueryVectors(0)
    cache.put(1, "m", "a", [1.0])

    assert len(cache) == 0
    assert cache.get(1, "m", "a") is None
