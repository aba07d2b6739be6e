"""Fixtures of the console's browser tests: a system Chromium for pytest-playwright-asyncio, the
service served by uvicorn on loopback in a thread of its own, an OpenAI-compatible embeddings
stand-in that can hold ingestion after its first batch, and the scripted model."""

import asyncio
import hashlib
import json
import os
import shutil
import threading
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any, TypeVar

import numpy as np
import pytest
import uvicorn
from playwright.async_api import expect
from pydantic import SecretStr
from sqlalchemy.engine import URL

from orchestrator_service.bootstrap import Runtime
from orchestrator_service.config import Settings
from orchestrator_service.main import create_app
from tests.helpers import free_port, url_string
from tests.network import LoopbackHTTPServer
from tests.rag.helpers import answer_embeddings

T = TypeVar("T")
# How long a page may take to show what a test expects: generous, for a loaded CI machine (a
# bound on waiting, not an assertion about speed).
expect.set_options(timeout=20_000)
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
DIMENSIONS = 384


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict) -> dict:
    """Launch the system's Chromium (`scripts/run.py test` installs it as root when missing);
    never skip without one: fail saying what to install."""
    path = os.environ.get("ORCH_TEST_CHROMIUM") or next(
        (found for name in BROWSERS if (found := shutil.which(name))), None
    )
    if path is None:
        pytest.fail("no Chromium on PATH: install Debian's `chromium` (or set ORCH_TEST_CHROMIUM)")
    quiet = ["--disable-background-networking", "--disable-component-update", "--no-first-run"]
    return {**browser_type_launch_args, "executable_path": path, "args": quiet}


def word_vector(text: str) -> list[float]:
    """A bag-of-hashed-words embedding: texts sharing words are near, so a vector search for
    a word finds the chunks that hold it."""
    vector = np.zeros(DIMENSIONS)
    for word in text.lower().split():
        digest = hashlib.sha256(word.strip(".,;:!?").encode()).digest()
        vector[int.from_bytes(digest[:4], "big") % DIMENSIONS] += 1.0
    norm = np.linalg.norm(vector)
    return (vector / norm if norm else vector + 1 / np.sqrt(DIMENSIONS)).tolist()


class Embeddings:
    """An OpenAI-compatible /v1/embeddings on loopback. With `hold`, the first request of more
    than one text is answered and the later ones wait until `release()`, so a test can watch
    ingestion stand part-way."""

    def __init__(self) -> None:
        self.hold = False
        self.released = threading.Event()
        self.first_batch_done = threading.Event()
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                texts = body["input"]
                if stand_in.hold and len(texts) > 1:
                    if stand_in.first_batch_done.is_set():
                        stand_in.released.wait(60)
                    stand_in.first_batch_done.set()
                answer_embeddings(self, body, word_vector)

            def log_message(self, *args: object) -> None:
                """Silence the default request log."""

        self.server = LoopbackHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def release(self) -> None:
        """Let held requests through."""
        self.released.set()


@pytest.fixture
def embeddings() -> Iterator[Embeddings]:
    """The embeddings stand-in, serving in a daemon thread."""
    stand_in = Embeddings()
    threading.Thread(target=stand_in.server.serve_forever, daemon=True).start()
    yield stand_in
    stand_in.release()
    stand_in.server.shutdown()
    stand_in.server.server_close()


@dataclass
class Served:
    """The service serving on loopback, and a way to run coroutines on its event loop."""

    base_url: str
    runtime: Runtime
    loop: asyncio.AbstractEventLoop

    async def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run a coroutine on the server's loop (where its engines live)."""
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coroutine, self.loop))


@pytest.fixture
def served(settings: Settings, vectors_db: URL, embeddings: Embeddings) -> Iterator[Served]:
    """`orchestrator serve` in a thread: uvicorn on 127.0.0.1 and a free port, booting (and
    healing) through the app's own lifespan, with its workers; embeddings from the stand-in;
    outbound calls allowed to loopback (the stand-ins)."""
    configured = settings.model_copy(
        update={
            "vector_database_url": SecretStr(url_string(vectors_db)),
            "embedder": "openai",
            "openai_embedding_base_url": embeddings.base_url,
            "outbound_allowed_hosts": "127.0.0.1",
        }
    )
    app = create_app(configured)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    loops: list[asyncio.AbstractEventLoop] = []

    async def main() -> None:
        loops.append(asyncio.get_running_loop())
        await server.serve()

    thread = threading.Thread(target=asyncio.run, args=(main(),), daemon=True)
    thread.start()
    for _ in range(1200):
        if server.started or not thread.is_alive():
            break
        threading.Event().wait(0.1)
    assert server.started, "the service did not start"
    yield Served(f"http://127.0.0.1:{port}", app.state.runtime, loops[0])
    server.should_exit = True
    thread.join(60)
