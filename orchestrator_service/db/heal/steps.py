"""Migration steps: ordered, idempotent SQL with an id and a checksum recorded in the ledger."""

import hashlib
import re
from dataclasses import dataclass
from typing import Literal

Database = Literal["metadata", "vectors"]


@dataclass(frozen=True)
class Step:
    """One idempotent change that `create_all` and the drift repair cannot make on their own."""

    id: str
    description: str
    sql: str
    database: Database = "metadata"

    @property
    def checksum(self) -> str:
        """SHA-256 of the SQL with whitespace collapsed, so reformatting is not an edit."""
        normalized = re.sub(r"\s+", " ", self.sql).strip()
        return hashlib.sha256(normalized.encode()).hexdigest()
