"""Reciprocal rank fusion of result lists from different embedders, whose scores are not
comparable (a cosine of one model says nothing about a cosine of another). A chunk is one
passage of one document whichever model ranked it: a fused embedder's chunk has a row per model,
and counts once."""

from orchestrator_service.rag.vector_store import Match

# The customary constant (Cormack et al., 2009), as in hybrid_match_documents.
RRF_K = 60


def fuse_by_rank(lists: list[list[Match]], *, k: int = RRF_K) -> list[Match]:
    """One list, best first: each chunk (document and chunk index) scores the sum of
    1 / (k + rank) over the lists it is in (rank from 1); a single list comes back as it is."""
    if len(lists) == 1:
        return lists[0]
    scores: dict[tuple[str, int], float] = {}
    first: dict[tuple[str, int], Match] = {}
    for matches in lists:
        for rank, match in enumerate(matches, start=1):
            chunk = (match.metadata["source_id"], match.metadata["chunk_index"])
            scores[chunk] = scores.get(chunk, 0.0) + 1.0 / (k + rank)
            first.setdefault(chunk, match)
    ordered = sorted(scores, key=lambda chunk: (-scores[chunk], first[chunk].id))
    return [
        Match(
            id=first[chunk].id,
            content=first[chunk].content,
            metadata=first[chunk].metadata,
            similarity=first[chunk].similarity,
            score=scores[chunk],
        )
        for chunk in ordered
    ]
