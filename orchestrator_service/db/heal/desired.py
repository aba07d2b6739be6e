"""The desired schema, read from the models and rendered in PostgreSQL's own terms."""

import hashlib
import re
from dataclasses import dataclass
from functools import cache

from sqlalchemy import (
    CheckConstraint,
    Column,
    DefaultClause,
    ForeignKeyConstraint,
    Index,
    String,
    Table,
    UniqueConstraint,
    literal,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.schema import AddConstraint, CreateIndex, CreateTable

from orchestrator_service.db.heal.targets import HealTarget, qualified

# Bump when the healer's own behaviour changes in a way that must re-run a full heal.
HEALER_VERSION = "2"

DIALECT = postgresql.dialect()

# SQLAlchemy's compiled type names and the names format_type() prints for the same types.
_TYPE_ALIASES = {
    "float": "double precision",
    "varchar": "character varying",
    "char": "character",
    "timestamp": "timestamp without time zone",
    "time": "time without time zone",
    "int": "integer",
    "decimal": "numeric",
}
_VOLATILE_DEFAULTS = ("gen_random_uuid", "random(", "clock_timestamp", "nextval", "uuid_generate")


def normalize_type(type_name: str) -> str:
    """Spell a column type the way PostgreSQL's format_type() does."""
    name = re.sub(r"\s+", " ", type_name.strip().lower())
    name = re.sub(r"\s*,\s*", ",", name)
    match = re.fullmatch(r"([a-z ]+?)\s*(\(.*\))?(\[\])?", name)
    if not match:
        return name
    base, args, array = match.group(1), match.group(2) or "", match.group(3) or ""
    return f"{_TYPE_ALIASES.get(base, base)}{args}{array}"


@dataclass(frozen=True)
class DesiredColumn:
    """A column the models require."""

    table: str
    name: str
    type: str
    nullable: bool
    column: Column

    @property
    def default_sql(self) -> str | None:
        """The server default as SQL text, or None."""
        default = self.column.server_default
        if not isinstance(default, DefaultClause):
            return None
        if isinstance(default.arg, str):  # a plain string is a string literal, as in the DDL
            literal_arg = literal(default.arg, String)
            return str(literal_arg.compile(dialect=DIALECT, compile_kwargs={"literal_binds": True}))
        return str(default.arg.compile(dialect=DIALECT))

    @property
    def safe_to_add(self) -> bool:
        """True when adding the column cannot fail on existing rows nor rewrite the table."""
        default = self.default_sql
        volatile = default is not None and any(v in default for v in _VOLATILE_DEFAULTS)
        if volatile:
            return False
        return self.nullable or default is not None


@dataclass(frozen=True)
class DesiredIndex:
    """An index (or a unique constraint, enforced by its index) the models require."""

    table: str
    name: str
    columns: tuple[str, ...] | None  # None when a key is an expression
    unique: bool
    nulls_not_distinct: bool
    create_sql: str


@dataclass(frozen=True)
class DesiredConstraint:
    """A foreign-key or check constraint the models require."""

    table: str
    name: str
    kind: str  # "f" or "c", as in pg_constraint.contype
    columns: tuple[str, ...]
    referred_table: str | None
    add_sql: str


@dataclass(frozen=True)
class DesiredSchema:
    """Everything the healer compares against the catalog."""

    columns: dict[str, dict[str, DesiredColumn]]
    indexes: dict[str, list[DesiredIndex]]
    constraints: dict[str, list[DesiredConstraint]]
    create_table_sql: dict[str, list[str]]
    hash: str


def _column_keys(index: Index | UniqueConstraint) -> tuple[str, ...] | None:
    keys = []
    for expr in index.expressions if isinstance(index, Index) else index.columns:
        if not isinstance(expr, Column):
            return None
        keys.append(expr.name)
    return tuple(keys)


def _desired_indexes(table: Table) -> list[DesiredIndex]:
    name = qualified(table)
    result = []
    for index in sorted(table.indexes, key=lambda i: str(i.name)):
        create = str(CreateIndex(index, if_not_exists=True).compile(dialect=DIALECT)).strip()
        result.append(
            DesiredIndex(
                table=name,
                name=str(index.name),
                columns=_column_keys(index),
                unique=bool(index.unique),
                nulls_not_distinct=bool(index.dialect_options["postgresql"]["nulls_not_distinct"]),
                create_sql=create,
            )
        )
    for constraint in table.constraints:
        if not isinstance(constraint, UniqueConstraint):
            continue
        nnd = bool(constraint.dialect_options["postgresql"]["nulls_not_distinct"])
        columns = ", ".join(DIALECT.identifier_preparer.quote(c.name) for c in constraint.columns)
        create = (
            f"CREATE UNIQUE INDEX IF NOT EXISTS {constraint.name} ON "
            f"{DIALECT.identifier_preparer.format_table(table)} ({columns})"
            f"{' NULLS NOT DISTINCT' if nnd else ''}"
        )
        result.append(
            DesiredIndex(
                table=name,
                name=str(constraint.name),
                columns=_column_keys(constraint),
                unique=True,
                nulls_not_distinct=nnd,
                create_sql=create,
            )
        )
    return result


def _desired_constraints(table: Table) -> list[DesiredConstraint]:
    result = []
    for constraint in sorted(table.constraints, key=lambda c: str(c.name)):
        if isinstance(constraint, ForeignKeyConstraint):
            kind, columns = "f", tuple(c.name for c in constraint.columns)
            referred = qualified(constraint.referred_table)
        elif isinstance(constraint, CheckConstraint):
            kind, columns, referred = "c", (), None
        else:
            continue
        # isolate_from_table=False keeps the constraint inline in CREATE TABLE too.
        add = AddConstraint(constraint, isolate_from_table=False)
        add_sql = str(add.compile(dialect=DIALECT)).strip()
        result.append(
            DesiredConstraint(
                table=qualified(table),
                name=str(constraint.name),
                kind=kind,
                columns=columns,
                referred_table=referred,
                add_sql=add_sql,
            )
        )
    return result


@cache
def desired_schema(target: HealTarget) -> DesiredSchema:
    """Compile the target's models once per process."""
    columns: dict[str, dict[str, DesiredColumn]] = {}
    indexes: dict[str, list[DesiredIndex]] = {}
    constraints: dict[str, list[DesiredConstraint]] = {}
    create_table_sql: dict[str, list[str]] = {}
    digest = hashlib.sha256(f"healer:{HEALER_VERSION}".encode())
    for table in target.tables:
        name = qualified(table)
        columns[name] = {
            c.name: DesiredColumn(
                table=name,
                name=c.name,
                type=normalize_type(c.type.compile(dialect=DIALECT)),
                nullable=bool(c.nullable),
                column=c,
            )
            for c in table.columns
        }
        indexes[name] = _desired_indexes(table)
        constraints[name] = _desired_constraints(table)
        create_table_sql[name] = [str(CreateTable(table).compile(dialect=DIALECT)).strip()] + [
            str(CreateIndex(i).compile(dialect=DIALECT)).strip()
            for i in sorted(table.indexes, key=lambda i: str(i.name))
        ]
        for statement in create_table_sql[name]:
            digest.update(statement.encode())
    for step in target.steps:
        digest.update(f"step:{step.id}:{step.checksum}".encode())
    for extension in target.extensions:
        digest.update(f"extension:{extension}".encode())
    if target.private:
        digest.update(f"private:{','.join(target.functions)}".encode())
    return DesiredSchema(
        columns=columns,
        indexes=indexes,
        constraints=constraints,
        create_table_sql=create_table_sql,
        hash=digest.hexdigest(),
    )
