"""Uploaded files on disk, at paths the service chooses (never the client)."""

import asyncio
from collections.abc import Iterator
from pathlib import Path


class FileStore:
    """Documents' bytes under one root: `<root>/<tenant id>/<document id>`."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()

    def path(self, tenant_id: int, document_id: str) -> Path:
        """Where a document's bytes live."""
        return self.root / str(tenant_id) / document_id

    async def save(self, path: Path, data: bytes) -> None:
        """Write the file (atomically: a reader never sees half of it)."""

        def write() -> None:
            path.parent.mkdir(parents=True, exist_ok=True)
            partial = path.with_suffix(".part")
            partial.write_bytes(data)
            partial.replace(path)

        await asyncio.to_thread(write)

    async def load(self, path: Path) -> bytes:
        """Read the file."""
        return await asyncio.to_thread(path.read_bytes)

    def remove(self, path: Path) -> bool:
        """Delete the file if present; True if it was there."""
        try:
            path.unlink()
        except FileNotFoundError:
            return False
        return True

    def older_than(self, cutoff: float) -> Iterator[Path]:
        """Every stored file last written before `cutoff` (a POSIX time)."""
        if not self.root.exists():
            return
        for path in self.root.glob("*/*"):
            if path.is_file() and path.stat().st_mtime < cutoff:
                yield path
