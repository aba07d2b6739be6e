"""The S3 adapter against an unreachable or hung endpoint: every call is `StorageUnavailable`
(503), with a fixed message naming the endpoint, never the credentials or the library's text."""

import asyncio
import hashlib
import socket
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import suppress

import pytest

from orchestrator_service.storage import StorageUnavailable
from orchestrator_service.storage.s3 import S3ObjectStore
from tests.s3_server import SECRET_KEY, S3StandIn
from tests.storage.test_contract import s3_store


async def _one(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def test_every_call_to_a_stopped_server_is_storage_unavailable(s3: S3StandIn) -> None:
    store = s3_store(s3)
    await store.put("1/kept", _one(b"kept"), sha256=hashlib.sha256(b"kept").hexdigest())
    s3.stop()

    failures = []
    for call in (
        lambda: store.put("1/new", _one(b"new"), sha256="0" * 64),
        lambda: store.open("1/kept"),
        lambda: store.delete("1/kept"),
        lambda: anext(store.pages(page_size=10)),
    ):
        with pytest.raises(StorageUnavailable) as caught:
            await call()
        failures.append(caught.value)

    for failure in failures:
        assert failure.status_code == 503 and failure.code == "storage_unavailable"
        assert failure.message == (
            f"Object storage is unreachable (127.0.0.1:{s3.port}); try again later"
        )
        assert SECRET_KEY not in str(failure.__dict__)
        assert failure.__cause__ is None  # the library's text (a signed request) is dropped

    s3.start()  # its objects are still there, and nothing was half-done while it was away
    stored = await store.open("1/kept")
    assert b"".join([c async for c in stored.chunks]) == b"kept"
    assert [i.key async for page in store.pages(page_size=10) for i in page] == ["1/kept"]


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A loopback port that accepts connections and never answers (a hung endpoint)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            with suppress(TimeoutError, OSError):
                accepted.append(listener.accept()[0])

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        thread.join()
        for connection in accepted:
            connection.close()
        listener.close()


async def test_a_hung_endpoint_is_storage_unavailable_within_the_timeout(
    silent_server: int,
) -> None:
    store = S3ObjectStore(
        "bucket",
        prefix="p",
        endpoint=f"http://127.0.0.1:{silent_server}",
        region="us-east-1",
        access_key_id="k",
        secret_access_key="s",
        timeout=1.0,
        retries=0,
    )
    # The guard only turns a hang into a failure of this test; the store's own timeout ends it.
    async with asyncio.timeout(60):
        with pytest.raises(StorageUnavailable):
            await store.put("1/doc", _one(b"x"), sha256="0" * 64)
        with pytest.raises(StorageUnavailable):
            await store.open("1/doc")
