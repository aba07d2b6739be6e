"""The OpenAI-compatible embedder's failures are fixed messages (class of failure and host):
never the HTTP library's text, which can quote the request and its key. The key itself is
checked before any connection opens."""

import httpx
import pytest

from orchestrator_service.errors import InvalidInput
from orchestrator_service.rag.embedders.openai import EmbeddingFailed, OpenAIEmbedder
from orchestrator_service.tools.ssrf import Guard
from tests.network import network  # noqa: F401 (autouse fence: loopback only)
from tests.scripted_model import Refuse, ScriptedModel

KEY = "sk-embeddings-Platypus-4c1e0b7d9a"


class _FailingNetwork(Guard):
    """A network where opening a connection fails with `error`, its text quoting the key (as
    h11 quotes a header value it refuses)."""

    def __init__(self, error: type[httpx.HTTPError]) -> None:
        super().__init__()
        self.error = error

    async def vet(self, host: str, port: int) -> str:
        raise self.error(f"Illegal header value b'Bearer {KEY}'")


def _embedder(
    guard: Guard, *, base_url: str = "https://embeddings.test/v1", api_key: str = KEY
) -> OpenAIEmbedder:
    return OpenAIEmbedder(
        base_url=base_url,
        model="text-embedding-3-small",
        dimensions=4,
        api_key=api_key,
        guard=guard,
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
    embedder = _embedder(_FailingNetwork(error))
    with pytest.raises(EmbeddingFailed) as failed:
        await embedder.embed(["hola"])
    await embedder.aclose()

    assert failed.value.message.startswith("The embedding service at embeddings.test failed: ")
    assert phrase in failed.value.message
    assert KEY not in failed.value.message and "Illegal" not in failed.value.message


async def test_an_error_answer_quoting_the_key_is_not_passed_on(model: ScriptedModel) -> None:
    model.play(Refuse(401))  # its body echoes the Authorization header it got
    embedder = _embedder(Guard(["127.0.0.1"]), base_url=model.base_url)
    with pytest.raises(EmbeddingFailed) as failed:
        await embedder.embed(["hola"])
    await embedder.aclose()

    assert failed.value.message == "The embedding service at 127.0.0.1 answered 401"
    assert model.requests[0].authorization == f"Bearer {KEY}"


def test_a_key_a_header_cannot_carry_is_refused_before_any_call() -> None:
    with pytest.raises(InvalidInput) as refused:
        _embedder(_FailingNetwork(httpx.ConnectError), api_key=f"{KEY}\n")

    assert KEY not in refused.value.message
