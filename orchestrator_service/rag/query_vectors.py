"""A bounded cache of recent query vectors, so a question asked again is not embedded again.

Keyed by tenant, model and the exact query text: the same question in another tenant is a miss,
so how fast a search answers says nothing about what other tenants ask. Least recently used
entries go first; vectors are kept as float32 (1.5 KiB for 384 dimensions).
"""

from collections import OrderedDict

import numpy as np


class QueryVectors:
    """At most `max_entries` query vectors (0: nothing is kept)."""

    def __init__(self, max_entries: int) -> None:
        self._max = max_entries
        self._entries: OrderedDict[tuple[int, str, str], np.ndarray] = OrderedDict()

    def get(self, tenant_id: int, model_id: str, query: str) -> list[float] | None:
        """The cached vector of this query, if any (and mark it recently used)."""
        key = (tenant_id, model_id, query)
        vector = self._entries.get(key)
        if vector is None:
            return None
        self._entries.move_to_end(key)
        return vector.tolist()

    def put(self, tenant_id: int, model_id: str, query: str, vector: list[float]) -> None:
        """Keep a query's vector, evicting the least recently used beyond the bound."""
        if self._max <= 0:
            return
        self._entries[(tenant_id, model_id, query)] = np.asarray(vector, dtype=np.float32)
        self._entries.move_to_end((tenant_id, model_id, query))
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)
