"""The S3-compatible adapter (AWS S3, Supabase Storage's S3 endpoint, MinIO, R2), on obstore.

obstore is the Python binding of the Rust `object_store` crate (the one behind Apache Arrow,
DataFusion and Polars): its async calls run on Rust's own runtime without holding the GIL,
an upload from an async iterator becomes a multipart upload of fixed-size parts (concurrent,
and invisible until completed), and listings stream page by page. See README, "Object storage".
"""

from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator
from datetime import timedelta
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import obstore
from obstore.exceptions import BaseError, NotFoundError
from obstore.store import S3Store

if TYPE_CHECKING:
    from obstore import GetResult

from orchestrator_service.storage import (
    CHUNK_BYTES,
    ObjectInfo,
    ObjectMissing,
    StorageUnavailable,
    StoredObject,
)

# What obstore raises: its own errors, and Python's for I/O (a missing object is Python's
# FileNotFoundError, so it is caught before these).
_FAILURES = (BaseError, OSError)
# User-defined metadata (`x-amz-meta-sha256`): the hash travels with the object.
_HASH_ATTRIBUTE = "sha256"


class S3ObjectStore:
    """Objects under `prefix` in one bucket."""

    def __init__(
        self,
        bucket: str,
        *,
        prefix: str,
        endpoint: str | None,
        region: str,
        access_key_id: str | None,
        secret_access_key: str | None,
        timeout: float,
        retries: int,
    ) -> None:
        self._bucket, self._prefix = bucket, prefix.strip("/")
        config: dict[str, object] = {"region": region}
        if endpoint:
            # Path-style requests: MinIO and most self-hosted endpoints have no bucket DNS.
            config |= {"endpoint": endpoint, "virtual_hosted_style_request": False}
        if access_key_id and secret_access_key:
            config |= {"access_key_id": access_key_id, "secret_access_key": secret_access_key}
        self._where = urlsplit(endpoint).netloc if endpoint else f"{bucket} (AWS S3)"
        self._store = S3Store(
            bucket,
            prefix=self._prefix or None,
            config=config,  # pyright: ignore[reportArgumentType]
            client_options={
                "allow_http": bool(endpoint and endpoint.startswith("http://")),
                "timeout": timedelta(seconds=timeout),
                "connect_timeout": timedelta(seconds=min(timeout, 5.0)),
            },
            retry_config={
                "max_retries": retries,
                "retry_timeout": timedelta(seconds=timeout),
                "backoff": {
                    "init_backoff": timedelta(milliseconds=100),
                    "max_backoff": timedelta(seconds=2),
                    "base": 2,
                },
            },
        )

    @property
    def url(self) -> str:
        """`s3://bucket/prefix`."""
        return f"s3://{self._bucket}/{self._prefix}".rstrip("/")

    def _unavailable(self) -> StorageUnavailable:
        # A fixed message: the library's text can quote a signed request.
        return StorageUnavailable(f"Object storage is unreachable ({self._where}); try again later")

    async def put(self, key: str, chunks: AsyncIterable[bytes], *, sha256: str) -> None:
        """Upload (multipart past one part), carrying the hash as user metadata."""
        try:
            await obstore.put_async(
                self._store,
                key,
                chunks,
                attributes={_HASH_ATTRIBUTE: sha256},
                chunk_size=5 * CHUNK_BYTES,
                max_concurrency=4,
            )
        except _FAILURES:
            raise self._unavailable() from None

    async def open(self, key: str) -> StoredObject:
        """The object's carried hash, size and bytes."""
        try:
            result = await obstore.get_async(self._store, key)
        except (NotFoundError, FileNotFoundError):
            raise ObjectMissing(key) from None
        except _FAILURES:
            raise self._unavailable() from None
        sha256 = result.attributes.get(_HASH_ATTRIBUTE)
        return StoredObject(
            sha256=str(sha256) if sha256 is not None else None,
            size=result.meta["size"],
            chunks=self._stream(result),
        )

    async def _stream(self, result: "GetResult") -> AsyncGenerator[bytes, None]:
        try:
            async for chunk in result.stream(min_chunk_size=CHUNK_BYTES):
                yield bytes(chunk)
        except _FAILURES:
            raise self._unavailable() from None

    async def delete(self, key: str) -> None:
        """Delete the object (S3 deletes are idempotent)."""
        try:
            await obstore.delete_async(self._store, key)
        except (NotFoundError, FileNotFoundError):
            return
        except _FAILURES:
            raise self._unavailable() from None

    async def pages(self, *, page_size: int) -> AsyncIterator[list[ObjectInfo]]:
        """ListObjectsV2, one page of `page_size` keys at a time."""
        stream = obstore.list(self._store, chunk_size=page_size)
        try:
            async for batch in stream:
                yield [
                    ObjectInfo(key=meta["path"], size=meta["size"], modified=meta["last_modified"])
                    for meta in batch
                ]
        except _FAILURES:
            raise self._unavailable() from None

    async def close(self) -> None:
        """Nothing to release (connections close with the store)."""
