"""Reciprocal rank fusion of result lists from different embedders, whose scores are not
comparable (a cosine of one model says nothing about a cosine of another)."""

from orchestrator_service.rag.vector_store import Match

# The customary constant (Cormack et al., 2009), as in hybrid_match_documents.
RRF_K = 60


def fuse_by_rank(lists: list[list[Match]], *, k: int = RRF_K) -> list[Match]:
    """One list, best first: each match scores the sum of 1 / (k + rank) over the lists it is
    in (rank from 1); a single list comes back as it is."""
    if len(lists) == 1:
        return lists[0]
    scores: dict[str, float] = {}
    first: dict[str, Match] = {}
    for matches in lists:
        for rank, match in enumerate(matches, start=1):
            scores[match.id] = scores.get(match.id, 0.0) + 1.0 / (k + rank)
            first.setdefault(match.id, match)
    ordered = sorted(scores, key=lambda match_id: (-scores[match_id], match_id))
    return [
        Match(
            id=match_id,
            content=first[match_id].content,
            metadata=first[match_id].metadata,
            similarity=first[match_id].similarity,
            score=scores[match_id],
        )
        for match_id in ordered
    ]
