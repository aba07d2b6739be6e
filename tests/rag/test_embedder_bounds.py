"""The OpenAI-compatible embedder is bounded like the model client: one deadline covers a
whole request (a server that drips a byte at a time still ends at it) and an answer is read no
further than its byte cap. Against the scripted stand-in on loopback, over real HTTP."""

import pytest

from orchestrator_service.rag.embedders.openai import EmbeddingFailed, OpenAIEmbedder
from orchestrator_service.tools.ssrf import Guard
from tests.network import network  # noqa: F401 (autouse fence: loopback only)
from tests.scripted_model import Drip, Flood, ScriptedModel

MIB = 1024 * 1024


def _embedder(model: ScriptedModel, **bounds: float) -> OpenAIEmbedder:
    return OpenAIEmbedder(
        base_url=model.base_url,
        model="text-embedding-3-small",
        dimensions=4,
        api_key="sk-embeddings-bounded",
        guard=Guard(["127.0.0.1"]),  # the stand-in on loopback, allow-listed as tests do
        **bounds,  # type: ignore[arg-type]
    )


async def test_a_dripping_embedding_service_ends_at_the_deadline(model: ScriptedModel) -> None:
    drip = Drip()
    model.play(drip)
    embedder = _embedder(model, timeout=0.5)

    with pytest.raises(EmbeddingFailed) as failed:
        await embedder.embed(["hola"])
    await embedder.aclose()

    assert failed.value.message == (
        "The embedding service at 127.0.0.1 failed: it did not answer in time (the deadline "
        "is 0.5 s for the whole answer)"
    )
    assert drip.ended.wait(10) and drip.hung_up
    assert model.requests[0].path == "/v1/embeddings"


@pytest.mark.parametrize("declared", [None, 64 * 1024 * MIB], ids=["endless", "declared"])
async def test_an_endless_embedding_answer_is_refused_at_the_byte_cap(
    model: ScriptedModel, declared: int | None
) -> None:
    flood = Flood(declared=declared)
    model.play(flood)
    embedder = _embedder(model, max_response_bytes=MIB)

    with pytest.raises(EmbeddingFailed) as failed:
        await embedder.embed(["hola"])
    await embedder.aclose()

    assert "sent an answer larger than 1048576 bytes; it was cut off" in failed.value.message
    assert failed.value.details == {"max_response_bytes": MIB}
    assert flood.ended.wait(10) and flood.hung_up
    assert flood.sent < 64 * MIB
