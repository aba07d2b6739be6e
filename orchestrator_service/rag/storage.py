"""Documents' files in the object store: keys from tenant and document id (never the client's
file name), uploads streamed in, and copies fetched for the worker process."""

import asyncio
import hashlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import BinaryIO

from orchestrator_service.rag.documents import ParseError
from orchestrator_service.storage import CHUNK_BYTES, ObjectStore


def document_key(tenant_id: int, document_id: str) -> str:
    """The key of a document's file: `<tenant id>/<document id>`."""
    if not document_id or "/" in document_id or document_id in (".", ".."):
        raise ValueError(f"document id {document_id!r} cannot name a stored file")
    return f"{tenant_id}/{document_id}"


def parse_document_key(key: str) -> tuple[int, str] | None:
    """(tenant id, document id) of a document key; None for any other key."""
    tenant, _, document_id = key.partition("/")
    if not tenant.isdigit() or not document_id or "/" in document_id:
        return None
    return int(tenant), document_id


async def chunks_of(source: BinaryIO) -> AsyncIterator[bytes]:
    """A file's bytes from its start, a chunk at a time (read off the event loop)."""
    await asyncio.to_thread(source.seek, 0)
    while chunk := await asyncio.to_thread(source.read, CHUNK_BYTES):
        yield chunk


async def fetch(store: ObjectStore, key: str, destination: Path, *, sha256: str) -> None:
    """Copy a stored file to `destination`, streamed; a file whose carried hash is not the
    metadata's is refused (the worker process then checks the bytes themselves)."""
    stored = await store.open(key)
    if stored.sha256 is not None and stored.sha256 != sha256:
        await stored.chunks.aclose()
        raise ParseError(_MISMATCH)
    with destination.open("wb") as handle:
        async for chunk in stored.chunks:
            await asyncio.to_thread(handle.write, chunk)


def verify(data: bytes, sha256: str) -> None:
    """Refuse bytes that are not the ones uploaded (a corrupted or substituted object)."""
    if hashlib.sha256(data).hexdigest() != sha256:
        raise ParseError(_MISMATCH)


_MISMATCH = (
    "The stored file does not match the content hash recorded at upload (it was corrupted or "
    "replaced in storage); upload it again"
)
