"""The object storage port: where uploaded files live, on local disk (the embedded default) or
in S3-compatible object storage (AWS S3, Supabase Storage's S3 endpoint, MinIO, R2).

Keys are chosen by the service (`documents.document_key`), never by a client. Every object
carries the SHA-256 of its bytes, which readers check against the metadata before trusting it.
An adapter's failure to reach its storage is `StorageUnavailable` (503), with a fixed message
that names the store and never quotes the library.
"""

from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from orchestrator_service.errors import OrchestratorError

# Bytes read or written at a time: a file never sits whole in memory.
CHUNK_BYTES = 1 << 20


class StorageUnavailable(OrchestratorError):
    """The object storage could not be reached (or refused the request); nothing was stored."""

    status_code = 503
    code = "storage_unavailable"


class ObjectMissing(LookupError):
    """No object under that key."""


@dataclass(frozen=True)
class ObjectInfo:
    """One stored object, as a listing shows it."""

    key: str
    size: int
    modified: datetime


@dataclass
class StoredObject:
    """An object being read: the hash it carries (None for a file stored before hashes were
    recorded) and its bytes, chunk by chunk."""

    sha256: str | None
    size: int
    chunks: AsyncGenerator[bytes, None]


class ObjectStore(Protocol):
    """Where uploaded files live."""

    @property
    def url(self) -> str:
        """Where the store is, for people (no credentials): `s3://bucket/prefix`, a path."""
        ...

    async def put(self, key: str, chunks: AsyncIterable[bytes], *, sha256: str) -> None:
        """Store the object, streamed, carrying `sha256`; it appears whole or not at all."""
        ...

    async def open(self, key: str) -> StoredObject:
        """Start reading an object (`ObjectMissing` when there is none)."""
        ...

    async def delete(self, key: str) -> None:
        """Delete the object; deleting a missing one is not an error."""
        ...

    def pages(self, *, page_size: int) -> AsyncIterator[list[ObjectInfo]]:
        """Every object, `page_size` at a time (memory bounded by the page, not the store)."""
        ...

    async def close(self) -> None:
        """Release what the adapter holds."""
        ...
