"""The local-disk adapter: `<root>/<key>`, the hash beside it in `<key>.sha256`.

A file is written under a temporary name and renamed into place, hash first, so a reader
never sees half of one. Files stored before hashes were recorded have no `.sha256`; they are
read with `sha256=None` and checked against the metadata's hash alone.
"""

import asyncio
import os
import uuid
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator, Iterator
from datetime import UTC, datetime
from itertools import islice
from pathlib import Path

from orchestrator_service.storage import CHUNK_BYTES, ObjectInfo, ObjectMissing, StoredObject

_HASH = ".sha256"
_PART = ".part"


class LocalStore:
    """Objects as files under one directory."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()

    @property
    def url(self) -> str:
        """The directory."""
        return str(self.root)

    def path(self, key: str) -> Path:
        """Where an object's bytes live (a key never leaves the root)."""
        path = (self.root / key).resolve()
        if not path.is_relative_to(self.root) or path == self.root:
            raise ValueError(f"key {key!r} is outside the store")
        return path

    async def put(self, key: str, chunks: AsyncIterable[bytes], *, sha256: str) -> None:
        """Write the file under a temporary name, then rename it (and its hash) into place."""
        path = self.path(key)
        partial = path.with_name(f"{path.name}.{uuid.uuid4().hex}{_PART}")
        await asyncio.to_thread(path.parent.mkdir, parents=True, exist_ok=True)
        handle = await asyncio.to_thread(partial.open, "wb")
        try:
            async for chunk in chunks:
                await asyncio.to_thread(handle.write, chunk)
            await asyncio.to_thread(handle.close)
            await asyncio.to_thread(_write_atomically, path.with_name(path.name + _HASH), sha256)
            await asyncio.to_thread(partial.replace, path)
        except BaseException:
            handle.close()
            partial.unlink(missing_ok=True)
            raise

    async def open(self, key: str) -> StoredObject:
        """The file's hash (if recorded), size and bytes."""
        path = self.path(key)
        try:
            handle = await asyncio.to_thread(path.open, "rb")
        except (FileNotFoundError, IsADirectoryError):
            raise ObjectMissing(key) from None
        size = os.fstat(handle.fileno()).st_size
        try:
            sha256 = (await asyncio.to_thread(path.with_name(path.name + _HASH).read_text)).strip()
        except FileNotFoundError:
            sha256 = None
        return StoredObject(sha256=sha256, size=size, chunks=_read(handle))

    async def delete(self, key: str) -> None:
        """Remove the file and its hash, if there."""
        path = self.path(key)
        await asyncio.to_thread(path.unlink, missing_ok=True)
        await asyncio.to_thread(path.with_name(path.name + _HASH).unlink, missing_ok=True)

    async def pages(self, *, page_size: int) -> AsyncIterator[list[ObjectInfo]]:
        """Every stored file (not hashes, not files being written), a page at a time."""
        files = _walk(self.root)
        while page := await asyncio.to_thread(lambda: list(islice(files, page_size))):
            yield page

    async def close(self) -> None:
        """Nothing to release."""


def _write_atomically(path: Path, text: str) -> None:
    partial = path.with_name(f"{path.name}.{uuid.uuid4().hex}{_PART}")
    partial.write_text(text)
    partial.replace(path)


async def _read(handle) -> AsyncGenerator[bytes, None]:
    try:
        while chunk := await asyncio.to_thread(handle.read, CHUNK_BYTES):
            yield chunk
    finally:
        handle.close()


def _walk(root: Path) -> Iterator[ObjectInfo]:
    """Files under `root`, depth first, one directory listing in memory at a time."""
    if not root.is_dir():
        return
    stack = [root]
    while stack:
        directory = stack.pop()
        with os.scandir(directory) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(Path(entry.path))
                elif entry.is_file(follow_symlinks=False) and not entry.name.endswith(
                    (_HASH, _PART)
                ):
                    stat = entry.stat()
                    yield ObjectInfo(
                        key=Path(entry.path).relative_to(root).as_posix(),
                        size=stat.st_size,
                        modified=datetime.fromtimestamp(stat.st_mtime, UTC),
                    )
