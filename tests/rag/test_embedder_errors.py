"""The OpenAI-compatible embedder's failures are fixed messages (class of failure and host):
never the HTTP library's text, which can quote the request and its key. The key itself is
checked before any connection opens."""

import httpx
import pytest

from orchestrator_service.errors import InvalidInput
from orchestrator_service.rag.embedders.openai import EmbeddingFailed, OpenAIEmbedder

KEY = "sk-embeddings-Platypus-4c1e0b7d9a"


def _embedder(serve, api_key: str = KEY) -> OpenAIEmbedder:
    return OpenAIEmbedder(
        base_url="https://embeddings.test/v1",
        model="text-embedding-3-small",
        dimensions=4,
        api_key=api_key,
        transport=httpx.MockTransport(serve),
    )


@pytest.mark.parametrize(
    ("error", "phrase"),
    [
        (httpx.LocalProtocolError, "the request could not be sent (LocalProtocolError)"),
        (httpx.RemoteProtocolError, "the connection closed early or the answer was not valid"),
        (httpx.ConnectError, "the connection could not be opened (ConnectError)"),
        (httpx.ReadTimeout, "it did not answer in time (ReadTimeout)"),
    ],
)
async def test_a_failed_call_names_its_class_and_host_never_the_library_text(
    error: type[httpx.HTTPError], phrase: str
) -> None:
    def serve(request: httpx.Request) -> httpx.Response:
        # What h11 says of a header it refuses: the whole value, key included.
        raise error(f"Illegal header value b'{request.headers['authorization']}'")

    embedder = _embedder(serve)
    with pytest.raises(EmbeddingFailed) as failed:
        await embedder.embed(["hola"])
    await embedder.aclose()

    assert failed.value.message.startswith("The embedding service at embeddings.test failed: ")
    assert phrase in failed.value.message
    assert KEY not in failed.value.message and "Illegal" not in failed.value.message


async def test_an_error_answer_quoting_the_key_is_not_passed_on() -> None:
    def serve(request: httpx.Request) -> httpx.Response:
        return httpx.Response(401, json={"error": f"bad key {request.headers['authorization']}"})

    embedder = _embedder(serve)
    with pytest.raises(EmbeddingFailed) as failed:
        await embedder.embed(["hola"])
    await embedder.aclose()

    assert failed.value.message == "The embedding service at embeddings.test answered 401"


def test_a_key_a_header_cannot_carry_is_refused_before_any_call() -> None:
    def serve(request: httpx.Request) -> httpx.Response:
        raise AssertionError("no call may be made")

    with pytest.raises(InvalidInput) as refused:
        _embedder(serve, api_key=f"{KEY}\n")

    assert KEY not in refused.value.message
