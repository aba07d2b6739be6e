"""Concurrent search queries are embedded together (rag/embedders/batching.py): each caller
gets exactly the vector a query of its own would get, in its own order; a lone caller runs at
once; a failed run fails only its own callers, with a fixed message."""

import asyncio
import threading

import numpy as np
import pytest

from orchestrator_service.rag.embedders.batching import QueryBatcher
from orchestrator_service.rag.embedders.local import LocalEmbedder
from orchestrator_service.rag.embedders.multilingual import MultilingualEmbedder
from orchestrator_service.rag.embedders.openai import EmbeddingFailed

QUESTIONS = [
    "When does the office open?",
    "¿Cuánto tardan los envíos a Lima?",
    "refund",
    "How long does a refund to the original card take, and is store credit immediate?",
    "horario de los sábados",
    "tracking number by email",
    "¿Puedo pagar con tarjeta?",
    "Lima",
]


class Recorder:
    """Wraps a model run: records each run's texts and the thread it ran on."""

    def __init__(self, batcher: QueryBatcher) -> None:
        self.runs: list[list[str]] = []
        self.threads: set[int] = set()
        self._run = batcher._run
        batcher._run = self

    def __call__(self, texts: list[str]) -> np.ndarray:
        self.runs.append(list(texts))
        self.threads.add(threading.get_ident())
        return self._run(texts)


@pytest.mark.parametrize("embedder_class", [LocalEmbedder, MultilingualEmbedder])
async def test_concurrent_queries_get_their_own_vectors_in_order_from_fewer_runs(
    embedder_class: type[LocalEmbedder] | type[MultilingualEmbedder],
) -> None:
    embedder = embedder_class()
    alone = [await embedder.embed_query(question) for question in QUESTIONS]
    recorder = Recorder(embedder._queries)

    together = await asyncio.gather(*(embedder.embed_query(q) for q in QUESTIONS))

    assert len(recorder.runs) < len(QUESTIONS)  # batched
    assert sorted(q for run in recorder.runs for q in run) == sorted(QUESTIONS)
    assert threading.get_ident() not in recorder.threads  # never on the event loop
    for mine, own in zip(together, alone, strict=True):
        assert len(mine) == embedder.dimensions
        assert np.allclose(mine, own, atol=1e-4)
    # Each caller's vector is its own question's, not a neighbour's.
    similarity = np.asarray(together) @ np.asarray(alone).T
    assert list(similarity.argmax(axis=1)) == list(range(len(QUESTIONS)))


async def test_a_lone_query_runs_at_once_alone_and_queries_embed_like_passages() -> None:
    embedder = LocalEmbedder()
    recorder = Recorder(embedder._queries)

    vector = await embedder.embed_query("When does the office open?")

    assert recorder.runs == [["When does the office open?"]]
    assert np.allclose(vector, (await embedder.embed(["When does the office open?"]))[0])


async def test_a_query_the_model_fails_on_fails_alone_with_a_fixed_message() -> None:
    model = LocalEmbedder()
    started, release = threading.Event(), threading.Event()
    runs: list[list[str]] = []

    def run(texts: list[str]) -> np.ndarray:
        runs.append(list(texts))
        if texts == ["first"]:
            started.set()
            release.wait(30)  # the model is busy while the others arrive
        if "poison" in texts:
            raise RuntimeError(f"[ONNXRuntimeError] : 2 : INVALID_ARGUMENT : input {texts!r}")
        return model.embed_array(texts)

    batcher = QueryBatcher(run, model="test-model", max_batch=2)
    first = asyncio.ensure_future(batcher.embed("first"))
    await asyncio.to_thread(started.wait, 30)
    # Queued while the model is busy, in this order: runs [poison, bystander], [after, last].
    waiting = [
        asyncio.ensure_future(batcher.embed(text))
        for text in ("poison", "bystander", "after", "last")
    ]
    await asyncio.sleep(0)
    release.set()
    results = await asyncio.gather(first, *waiting, return_exceptions=True)

    # The failed run is retried one query at a time: only the poison's caller fails.
    assert runs == [
        ["first"],
        ["poison", "bystander"],
        ["poison"],
        ["bystander"],
        ["after", "last"],
    ]
    expected = model.embed_array(["first", "bystander", "after", "last"])
    for got, want in zip([results[0], *results[2:]], expected, strict=True):
        assert isinstance(got, list)
        assert np.allclose(got, want, atol=1e-4)
    failed = results[1]
    assert isinstance(failed, EmbeddingFailed)
    assert failed.message == "The local embedding model test-model failed"
    assert "poison" not in failed.message and "ONNX" not in failed.message
    # The batcher is idle again and serves the next caller.
    assert np.allclose(await batcher.embed("again"), model.embed_array(["again"])[0], atol=1e-4)


async def test_a_broken_model_fails_every_caller_with_the_fixed_message(caplog) -> None:
    def run(texts: list[str]) -> np.ndarray:
        raise RuntimeError(f"cannot allocate while embedding {texts!r}")

    batcher = QueryBatcher(run, model="test-model")
    results = await asyncio.gather(
        *(batcher.embed(f"secret question {i}") for i in range(3)), return_exceptions=True
    )

    for failed in results:
        assert isinstance(failed, EmbeddingFailed)
        assert failed.message == "The local embedding model test-model failed"
    assert "secret question" not in caplog.text  # the log names the failure class only
    assert "RuntimeError" in caplog.text


async def test_a_caller_that_gives_up_is_skipped_and_the_others_are_served() -> None:
    model = LocalEmbedder()
    started, release = threading.Event(), threading.Event()
    runs: list[list[str]] = []

    def run(texts: list[str]) -> np.ndarray:
        runs.append(list(texts))
        if texts == ["first"]:
            started.set()
            release.wait(30)
        return model.embed_array(texts)

    batcher = QueryBatcher(run, model="test-model")
    first = asyncio.ensure_future(batcher.embed("first"))
    await asyncio.to_thread(started.wait, 30)
    gone = asyncio.ensure_future(batcher.embed("gone"))
    stays = asyncio.ensure_future(batcher.embed("stays"))
    await asyncio.sleep(0)
    gone.cancel()
    release.set()

    assert np.allclose(await stays, model.embed_array(["stays"])[0], atol=1e-4)
    assert len(await first) == model.dimensions
    assert gone.cancelled()
    assert runs == [["first"], ["stays"]]
