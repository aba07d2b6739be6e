"""Uploaded files on disk, at paths the service chooses (never the client)."""

import asyncio
from pathlib import Path

from orchestrator_service.config import Settings


def upload_path(settings: Settings, tenant_id: int, document_id: str) -> Path:
    """Where a document's bytes live: `<data dir>/uploads/<tenant id>/<document id>`."""
    return Path(settings.data_dir).resolve() / "uploads" / str(tenant_id) / document_id


async def save(path: Path, data: bytes) -> None:
    """Write the file (atomically: a reader never sees half of it)."""

    def write() -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".part")
        partial.write_bytes(data)
        partial.replace(path)

    await asyncio.to_thread(write)


async def load(path: Path) -> bytes:
    """Read the file."""
    return await asyncio.to_thread(path.read_bytes)


def remove(path: Path) -> bool:
    """Delete the file if present; True if it was there."""
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    return True
