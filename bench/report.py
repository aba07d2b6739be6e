"""What every benchmark shares: a PostgreSQL of its own, its JSON, and its table in markdown."""

import asyncio
import json
import shutil
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path

from sqlalchemy.engine import URL

from orchestrator_service.db.embedded import EmbeddedPostgres


def measured_on_embedded(
    prefix: str,
    measure: Callable[[EmbeddedPostgres, URL, Path], Awaitable[dict]],
    results_path: Path,
) -> dict:
    """Run `measure(embedded, url, data_dir)` on a PostgreSQL started in a temporary directory,
    then write what it returns to `results_path` as JSON."""
    data_dir = Path(tempfile.mkdtemp(prefix=prefix))
    embedded = EmbeddedPostgres(data_dir)
    try:
        results = asyncio.run(measure(embedded, embedded.start(), data_dir))
    finally:
        embedded.stop()
        shutil.rmtree(data_dir, ignore_errors=True)
    results_path.parent.mkdir(parents=True, exist_ok=True)
    results_path.write_text(json.dumps(results, indent=2) + "\n")
    return results


def markdown_table(rows: list[dict]) -> str:
    """The rows as a padded markdown table."""
    columns = list(rows[0])
    widths = {c: max(len(c), *(len(r[c]) for r in rows)) for c in columns}
    lines = [
        "| " + " | ".join(c.ljust(widths[c]) for c in columns) + " |",
        "|" + "|".join("-" * (widths[c] + 2) for c in columns) + "|",
    ]
    lines += ["| " + " | ".join(r[c].ljust(widths[c]) for c in columns) + " |" for r in rows]
    return "\n".join(lines)
