"""The object storage port's contract, run against both adapters: local disk and S3 (moto's
server on loopback, spoken to over the S3 wire protocol by the real adapter)."""

import hashlib
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from orchestrator_service.storage import CHUNK_BYTES, ObjectMissing, ObjectStore
from orchestrator_service.storage.local import LocalStore
from orchestrator_service.storage.s3 import S3ObjectStore
from tests.s3_server import ACCESS_KEY, SECRET_KEY, S3StandIn


def s3_store(server: S3StandIn, prefix: str = "contract") -> S3ObjectStore:
    """The S3 adapter on the test's bucket."""
    return S3ObjectStore(
        server.bucket,
        prefix=prefix,
        endpoint=server.endpoint,
        region="us-east-1",
        access_key_id=ACCESS_KEY,
        secret_access_key=SECRET_KEY,
        timeout=5.0,
        retries=0,
    )


@pytest.fixture(params=["local", "s3"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ObjectStore]:
    """Each adapter in turn."""
    if request.param == "local":
        adapter: ObjectStore = LocalStore(tmp_path / "objects")
    else:
        adapter = s3_store(request.getfixturevalue("s3"))
    try:
        yield adapter
    finally:
        await adapter.close()


async def chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


async def read(store: ObjectStore, key: str) -> tuple[str | None, bytes]:
    stored = await store.open(key)
    return stored.sha256, b"".join([chunk async for chunk in stored.chunks])


async def keys(store: ObjectStore, page_size: int = 100) -> list[str]:
    return sorted([i.key async for page in store.pages(page_size=page_size) for i in page])


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


async def test_an_object_reads_back_with_the_hash_it_carries(store: ObjectStore) -> None:
    await store.put("7/doc-1", chunks(b"hola ", b"mundo"), sha256=sha(b"hola mundo"))

    carried, data = await read(store, "7/doc-1")

    assert (carried, data) == (sha(b"hola mundo"), b"hola mundo")
    assert (await store.open("7/doc-1")).size == len(b"hola mundo")


async def test_a_large_object_streams_in_parts_and_back(store: ObjectStore) -> None:
    # Over two S3 parts (5 MiB each): a multipart upload, never one body in memory.
    parts = [os.urandom(CHUNK_BYTES) for _ in range(12)]
    whole = b"".join(parts)

    await store.put("7/big", chunks(*parts), sha256=sha(whole))

    stored = await store.open("7/big")
    hasher, pieces = hashlib.sha256(), 0
    async for chunk in stored.chunks:
        hasher.update(chunk)
        pieces += 1
    assert hasher.hexdigest() == sha(whole) == stored.sha256
    assert stored.size == len(whole) and pieces > 1


async def test_putting_again_replaces_the_object(store: ObjectStore) -> None:
    await store.put("7/doc", chunks(b"first"), sha256=sha(b"first"))
    await store.put("7/doc", chunks(b"second"), sha256=sha(b"second"))

    assert await read(store, "7/doc") == (sha(b"second"), b"second")
    assert await keys(store) == ["7/doc"]


async def test_a_missing_object_is_object_missing(store: ObjectStore) -> None:
    with pytest.raises(ObjectMissing):
        await store.open("7/never-stored")


async def test_delete_removes_and_deleting_nothing_is_no_error(store: ObjectStore) -> None:
    await store.put("7/doc", chunks(b"x"), sha256=sha(b"x"))

    await store.delete("7/doc")
    await store.delete("7/doc")
    await store.delete("7/never-stored")

    with pytest.raises(ObjectMissing):
        await store.open("7/doc")
    assert await keys(store) == []


async def test_listing_comes_page_by_page_within_the_page_size(store: ObjectStore) -> None:
    stored = sorted(f"{tenant}/doc-{n}" for tenant in (1, 2) for n in range(4))
    for key in stored:
        await store.put(key, chunks(key.encode()), sha256=sha(key.encode()))
    await store.put("1/doc-0", chunks(b"again"), sha256=sha(b"again"))

    pages = [page async for page in store.pages(page_size=3)]

    assert [len(page) for page in pages] == [3, 3, 2]
    assert sorted(info.key for page in pages for info in page) == stored
    sizes = {info.key: info.size for page in pages for info in page}
    assert sizes["1/doc-0"] == len(b"again") and sizes["2/doc-3"] == len(b"2/doc-3")


async def test_an_upload_that_fails_midway_leaves_nothing(store: ObjectStore) -> None:
    class ClientWentAway(Exception):
        pass

    async def broken() -> AsyncIterator[bytes]:
        yield os.urandom(6 * CHUNK_BYTES)  # past the first S3 part: a multipart upload began
        raise ClientWentAway

    with pytest.raises(ClientWentAway):
        await store.put("7/half", broken(), sha256=sha(b"whatever"))

    with pytest.raises(ObjectMissing):
        await store.open("7/half")
    assert await keys(store) == []


def test_a_local_key_never_leaves_the_root(tmp_path: Path) -> None:
    local = LocalStore(tmp_path / "objects")
    for key in ("../outside", "7/../../outside", "/etc/passwd", "", "."):
        with pytest.raises(ValueError, match="outside the store"):
            local.path(key)
