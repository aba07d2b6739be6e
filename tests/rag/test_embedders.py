"""Embedders come from `Embedders.open` as async context managers: a tenant's remote embedder
(holding an HTTP client) is closed when the block ends, whatever happens in it; the shared local
model stays open for the next caller."""

import pytest

from orchestrator_service.rag.embedders import Embedders


class Recording:
    """An embedder that records whether it was closed."""

    model_id = "recording"
    dimensions = 3
    max_tokens = 16

    def __init__(self) -> None:
        self.closed = False

    async def embed(self, texts: list[str]) -> list[list[float]]:
        """One fixed vector per text."""
        return [[1.0, 0.0, 0.0] for _ in texts]

    async def embed_query(self, text: str) -> list[float]:
        """The fixed vector."""
        return (await self.embed([text]))[0]

    async def aclose(self) -> None:
        """Remember the close."""
        self.closed = True


def embedders() -> tuple[Embedders, Recording, list[Recording]]:
    """Embedders whose remote factory hands out (and keeps) a new recording embedder."""
    local, opened = Recording(), []

    async def remote(tenant_id: int, model_id: str | None = None) -> Recording:
        opened.append(Recording())
        return opened[-1]

    return (
        Embedders(
            local=local,
            multilingual=Recording(),
            use=Recording(),
            fused=Recording(),
            remote=remote,
            default="openai",
        ),
        local,
        opened,
    )


async def test_a_remote_embedder_is_closed_when_its_block_ends() -> None:
    chosen, local, opened = embedders()
    async with chosen.open(7) as embedder:
        assert await embedder.embed(["hola"]) == [[1.0, 0.0, 0.0]]
        assert embedder is opened[0] and not opened[0].closed
    assert opened[0].closed and not local.closed


async def test_a_remote_embedder_is_closed_when_its_block_fails() -> None:
    chosen, _, opened = embedders()
    with pytest.raises(RuntimeError, match="search failed"):
        async with chosen.open(7, "openai"):
            raise RuntimeError("search failed")
    assert [e.closed for e in opened] == [True]


async def test_the_local_model_is_shared_and_stays_open_until_the_service_closes() -> None:
    chosen, local, opened = embedders()
    for _ in range(3):
        async with chosen.open(7, "local") as embedder:
            assert embedder is local
    assert opened == [] and not local.closed
    await chosen.aclose()
    assert local.closed
