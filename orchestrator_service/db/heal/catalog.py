"""What the database holds, read from pg_catalog in a few bulk queries (never one per table)."""

from dataclasses import dataclass, field

import asyncpg

# Columns of the given tables. `$1` is a text[] of `schema.table` names, resolved to oids so
# that the catalog indexes are used however many other tables the database holds.
_COLUMNS_SQL = """
SELECT n.nspname || '.' || c.relname AS table_name, a.attname AS column_name,
       format_type(a.atttypid, a.atttypmod) AS type, a.attnotnull AS not_null
FROM pg_attribute a
JOIN pg_class c ON c.oid = a.attrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped
  AND c.oid = ANY(ARRAY(SELECT to_regclass(x) FROM unnest($1::text[]) AS x))
"""

# Indexes of the given tables, with their key columns (NULL for an expression key).
# indnullsnotdistinct exists from PostgreSQL 15; reading it through to_jsonb keeps 14 working.
_INDEXES_SQL = """
SELECT n.nspname || '.' || t.relname AS table_name, ic.relname AS index_name,
       i.indisunique AS is_unique, i.indisprimary AS is_primary, i.indisvalid AS is_valid,
       coalesce((to_jsonb(i) ->> 'indnullsnotdistinct')::boolean, false) AS nulls_not_distinct,
       i.indpred IS NOT NULL AS is_partial,
       ARRAY(
           SELECT a.attname
           FROM unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord)
           LEFT JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
           ORDER BY k.ord
       ) AS columns,
       pg_get_indexdef(i.indexrelid) AS definition
FROM pg_index i
JOIN pg_class t ON t.oid = i.indrelid
JOIN pg_class ic ON ic.oid = i.indexrelid
JOIN pg_namespace n ON n.oid = t.relnamespace
WHERE t.oid = ANY(ARRAY(SELECT to_regclass(x) FROM unnest($1::text[]) AS x))
"""

# Foreign-key and check constraints of the given tables.
_CONSTRAINTS_SQL = """
SELECT n.nspname || '.' || t.relname AS table_name, con.conname AS name, con.contype AS kind,
       con.convalidated AS validated,
       ARRAY(
           SELECT a.attname
           FROM unnest(con.conkey) WITH ORDINALITY AS k(attnum, ord)
           JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum
           ORDER BY k.ord
       ) AS columns,
       rn.nspname || '.' || rt.relname AS referred_table
FROM pg_constraint con
JOIN pg_class t ON t.oid = con.conrelid
JOIN pg_namespace n ON n.oid = t.relnamespace
LEFT JOIN pg_class rt ON rt.oid = con.confrelid
LEFT JOIN pg_namespace rn ON rn.oid = rt.relnamespace
WHERE con.contype IN ('f', 'c')
  AND t.oid = ANY(ARRAY(SELECT to_regclass(x) FROM unnest($1::text[]) AS x))
"""

_OBJECTS_SQL = """
SELECT 'schema' AS kind, nspname AS name FROM pg_namespace WHERE nspname = ANY($1::text[])
UNION ALL
SELECT 'extension', extname || ' ' || extversion FROM pg_extension
"""

# One md5 over the columns, indexes and constraints of our tables: it changes whenever anyone
# alters them, so the fast path notices hand-made changes without a full comparison.
FINGERPRINT_SQL = """
SELECT md5(coalesce(string_agg(x, ',' ORDER BY x), '')) FROM (
    SELECT n.nspname || '.' || c.relname || '.' || a.attname || ':'
           || format_type(a.atttypid, a.atttypmod) || ':' || a.attnotnull AS x
    FROM pg_attribute a
    JOIN pg_class c ON c.oid = a.attrelid
    JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped
      AND c.oid = ANY(ARRAY(SELECT to_regclass(x) FROM unnest($1::text[]) AS x))
    UNION ALL
    SELECT n.nspname || '.' || ic.relname || ':' || i.indisvalid || ':'
           || pg_get_indexdef(i.indexrelid)
    FROM pg_index i
    JOIN pg_class t ON t.oid = i.indrelid
    JOIN pg_class ic ON ic.oid = i.indexrelid
    JOIN pg_namespace n ON n.oid = t.relnamespace
    WHERE t.oid = ANY(ARRAY(SELECT to_regclass(x) FROM unnest($1::text[]) AS x))
    UNION ALL
    SELECT n.nspname || '.' || con.conname || ':' || con.convalidated
    FROM pg_constraint con
    JOIN pg_class t ON t.oid = con.conrelid
    JOIN pg_namespace n ON n.oid = t.relnamespace
    WHERE t.oid = ANY(ARRAY(SELECT to_regclass(x) FROM unnest($1::text[]) AS x))
) AS parts
"""


@dataclass(frozen=True)
class ActualIndex:
    """An index as pg_index describes it."""

    table: str
    name: str
    unique: bool
    primary: bool
    valid: bool
    nulls_not_distinct: bool
    partial: bool
    columns: tuple[str | None, ...]
    definition: str


@dataclass(frozen=True)
class ActualConstraint:
    """A foreign-key or check constraint as pg_constraint describes it."""

    table: str
    name: str
    kind: str
    validated: bool
    columns: tuple[str, ...]
    referred_table: str | None


@dataclass
class Catalog:
    """A snapshot of the parts of pg_catalog the healer compares."""

    columns: dict[str, dict[str, tuple[str, bool]]] = field(default_factory=dict)
    indexes: dict[str, list[ActualIndex]] = field(default_factory=dict)
    constraints: dict[str, list[ActualConstraint]] = field(default_factory=dict)
    schemas: set[str] = field(default_factory=set)
    extensions: dict[str, str] = field(default_factory=dict)

    def has_table(self, table: str) -> bool:
        """True when the table exists."""
        return table in self.columns


async def read_catalog(
    conn: asyncpg.Connection, tables: list[str], schemas: tuple[str, ...]
) -> Catalog:
    """Read columns, indexes, constraints, schemas and extensions in four queries."""
    catalog = Catalog()
    for row in await conn.fetch(_COLUMNS_SQL, tables):
        catalog.columns.setdefault(row["table_name"], {})[row["column_name"]] = (
            row["type"],
            row["not_null"],
        )
    for row in await conn.fetch(_INDEXES_SQL, tables):
        catalog.indexes.setdefault(row["table_name"], []).append(
            ActualIndex(
                table=row["table_name"],
                name=row["index_name"],
                unique=row["is_unique"],
                primary=row["is_primary"],
                valid=row["is_valid"],
                nulls_not_distinct=row["nulls_not_distinct"],
                partial=row["is_partial"],
                columns=tuple(row["columns"]),
                definition=row["definition"],
            )
        )
    for row in await conn.fetch(_CONSTRAINTS_SQL, tables):
        catalog.constraints.setdefault(row["table_name"], []).append(
            ActualConstraint(
                table=row["table_name"],
                name=row["name"],
                kind=row["kind"],
                validated=row["validated"],
                columns=tuple(row["columns"]),
                referred_table=row["referred_table"],
            )
        )
    for row in await conn.fetch(_OBJECTS_SQL, list(schemas)):
        if row["kind"] == "schema":
            catalog.schemas.add(row["name"])
        else:
            name, version = row["name"].split(" ", 1)
            catalog.extensions[name] = version
    return catalog
