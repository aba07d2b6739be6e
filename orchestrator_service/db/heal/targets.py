"""What a database must contain (models, schemas, extensions, migration steps), and the steps
shipped as package files; `orchestrator_service.models` builds the two targets."""

import re
from dataclasses import dataclass
from functools import cached_property

from sqlalchemy import MetaData, Table

from orchestrator_service.db.heal.steps import Database, Step, load_steps


@dataclass(frozen=True)
class HealTarget:
    """The desired state of one database."""

    name: Database
    metadata: MetaData
    extensions: tuple[str, ...]
    steps: tuple[Step, ...]
    # Closed to everyone but the service (Supabase's API roles and PUBLIC): the healer checks
    # row-level security and privileges on the tables and the steps' functions.
    private: bool = False

    @cached_property
    def tables(self) -> list[Table]:
        """Tables in dependency order."""
        return list(self.metadata.sorted_tables)

    @cached_property
    def schemas(self) -> tuple[str, ...]:
        """Every schema the tables live in, `public` included."""
        return tuple(sorted({t.schema or "public" for t in self.tables} | {"public"}))

    @cached_property
    def qualified_names(self) -> list[str]:
        """`schema.table` for every table."""
        return [qualified(t) for t in self.tables]

    @cached_property
    def functions(self) -> list[str]:
        """`public.name` of every function the steps create and no later step drops, for a
        private target (the privileges the healer checks); empty otherwise."""
        if not self.private:
            return []
        names: set[str] = set()
        for step in self.steps:
            names |= {_public(name) for name in _CREATE_FUNCTION.findall(step.sql)}
            names -= {_public(name) for name in _DROP_FUNCTION.findall(step.sql)}
        return sorted(names)


_CREATE_FUNCTION = re.compile(
    r"\bCREATE\s+(?:OR\s+REPLACE\s+)?FUNCTION\s+([A-Za-z_][\w.]*)\s*\(", re.IGNORECASE
)
_DROP_FUNCTION = re.compile(
    r"\bDROP\s+FUNCTION\s+(?:IF\s+EXISTS\s+)?([A-Za-z_][\w.]*)\s*\(", re.IGNORECASE
)


def _public(name: str) -> str:
    return name if "." in name else f"public.{name}"


def qualified(table: Table) -> str:
    """`schema.table`, with `public` made explicit."""
    return f"{table.schema or 'public'}.{table.name}"


STEPS = load_steps("orchestrator_service.db.steps")


def steps_of(database: Database) -> tuple[Step, ...]:
    """The shipped migration steps of one database, in order."""
    return tuple(s for s in STEPS if s.database == database)
