"""The store `ORCH_STORAGE_URL` names: unset or a path (`file:///srv/uploads`) is local disk,
`s3://bucket/prefix` is S3-compatible object storage."""

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from orchestrator_service.errors import ConfigError
from orchestrator_service.storage import ObjectStore
from orchestrator_service.storage.local import LocalStore
from orchestrator_service.storage.s3 import S3ObjectStore


@dataclass(frozen=True)
class S3Options:
    """How to reach an S3-compatible endpoint (operator configuration, never tenant input)."""

    endpoint: str | None
    region: str
    access_key_id: str | None
    secret_access_key: str | None
    timeout: float
    retries: int


def is_local(url: str | None) -> bool:
    """True when the URL names local disk."""
    return url is None or urlsplit(url).scheme in ("", "file")


def open_store(url: str | None, *, default_root: Path, s3: S3Options) -> ObjectStore:
    """The adapter for `url` (unset: local disk under `default_root`)."""
    if url is None:
        return LocalStore(default_root)
    parts = urlsplit(url)
    if parts.scheme == "":
        return LocalStore(Path(url))
    if parts.scheme == "file":
        return LocalStore(Path(parts.path))
    if parts.scheme == "s3" and parts.netloc:
        return S3ObjectStore(
            parts.netloc,
            prefix=parts.path,
            endpoint=s3.endpoint,
            region=s3.region,
            access_key_id=s3.access_key_id,
            secret_access_key=s3.secret_access_key,
            timeout=s3.timeout,
            retries=s3.retries,
        )
    raise ConfigError(
        f"ORCH_STORAGE_URL must be s3://bucket[/prefix] or a local path, not {parts.scheme}://..."
    )
