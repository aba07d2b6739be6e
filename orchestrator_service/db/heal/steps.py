"""Migration steps: ordered, idempotent SQL with an id and a checksum recorded in the ledger."""

import hashlib
import re
import tomllib
from dataclasses import dataclass
from importlib.resources import files
from typing import Literal

Database = Literal["metadata", "vectors"]


@dataclass(frozen=True)
class Step:
    """One idempotent change that `create_all` and the drift repair cannot make on their own."""

    id: str
    description: str
    sql: str
    database: Database = "metadata"
    # A query returning true when the change is already there (for SQL that cannot say
    # IF NOT EXISTS itself, such as a library's install script); the step is then recorded
    # without running.
    skip_if: str | None = None

    @property
    def checksum(self) -> str:
        """SHA-256 of the SQL with whitespace collapsed, so reformatting is not an edit."""
        normalized = re.sub(r"\s+", " ", f"{self.sql}\n{self.skip_if or ''}").strip()
        return hashlib.sha256(normalized.encode()).hexdigest()


def load_steps(package: str) -> tuple[Step, ...]:
    """The steps `package`'s manifest.toml lists, in its order, each with the SQL of `<id>.sql`."""
    root = files(package)
    manifest = tomllib.loads(root.joinpath("manifest.toml").read_text(encoding="utf-8"))
    return tuple(
        Step(
            id=entry["id"],
            description=entry["description"],
            sql=root.joinpath(f"{entry['id']}.sql").read_text(encoding="utf-8"),
            database=entry.get("database", "metadata"),
            skip_if=entry.get("skip_if"),
        )
        for entry in manifest["step"]
    )
