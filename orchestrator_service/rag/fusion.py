"""Reciprocal rank fusion of result lists from different embedders, whose scores are not
comparable (a cosine of one model says nothing about a cosine of another).

A fused embedder's document has a row per model for each chunk, so it fills several lists: its
chunk is one result (its rows merged by document and chunk index), and its document's vote is
split between its lists, so that being in two lists cannot outvote a document of a single
model. Other chunks stay apart by row: an adopted table's chunks may all have index 0.
"""

from collections.abc import Mapping

from orchestrator_service.rag.vector_store import Match

# The customary constant (Cormack et al., 2009), as in hybrid_match_documents.
RRF_K = 60


def fuse_by_rank(
    lists: list[list[Match]], *, votes: Mapping[str, int] | None = None, k: int = RRF_K
) -> list[Match]:
    """One list, best first: each result scores the sum of 1 / (k + rank) over the lists it is
    in (rank from 1), divided by the number of lists its document fills (`votes`, by document
    id; 1 when absent); a single list comes back as it is."""
    if len(lists) == 1:
        return lists[0]
    votes = votes or {}
    scores: dict[str | tuple[str, int], float] = {}
    first: dict[str | tuple[str, int], Match] = {}
    for matches in lists:
        for rank, match in enumerate(matches, start=1):
            document = match.metadata["source_id"]
            share = votes.get(document, 1)
            key = (document, match.metadata["chunk_index"]) if share > 1 else match.id
            scores[key] = scores.get(key, 0.0) + 1.0 / (k + rank) / share
            first.setdefault(key, match)
    ordered = sorted(scores, key=lambda key: (-scores[key], first[key].id))
    return [
        Match(
            id=first[key].id,
            content=first[key].content,
            metadata=first[key].metadata,
            similarity=first[key].similarity,
            score=scores[key],
        )
        for key in ordered
    ]
