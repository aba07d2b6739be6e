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

# Indexes of the given tables, with their key columns (NULL for an expression key) and whether a
# concurrent build of the index is running right now.
# indnullsnotdistinct exists from PostgreSQL 15; reading it through to_jsonb keeps 14 working.
_INDEXES_SQL = """
SELECT n.nspname || '.' || t.relname AS table_name, ic.relname AS index_name,
       i.indisunique AS is_unique, i.indisprimary AS is_primary, i.indisvalid AS is_valid,
       coalesce((to_jsonb(i) ->> 'indnullsnotdistinct')::boolean, false) AS nulls_not_distinct,
       i.indpred IS NOT NULL AS is_partial,
       EXISTS (SELECT 1 FROM pg_stat_progress_create_index p WHERE p.index_relid = i.indexrelid)
           AS is_building,
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
    UNION ALL
    SELECT n.nspname || '.' || c.relname || ':rls=' || c.relrowsecurity || ':'
           || coalesce(c.relacl::text, 'default')
    FROM pg_class c
    JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.oid = ANY(ARRAY(SELECT to_regclass(x) FROM unnest($1::text[]) AS x))
    UNION ALL
    SELECT n.nspname || '.' || p.proname || '(' || pg_get_function_identity_arguments(p.oid)
           || '):' || coalesce(p.proacl::text, 'default')
    FROM pg_proc p
    JOIN pg_namespace n ON n.oid = p.pronamespace
    WHERE n.nspname || '.' || p.proname = ANY($2::text[])
) AS parts
"""

# Supabase's roles for callers of its REST API: `anon` holds the project's public key,
# `authenticated` any signed-in end user. With PUBLIC, the grantees a private target must
# not have; absent on plain PostgreSQL, where only PUBLIC applies.
API_ROLES = ("anon", "authenticated")

# Row-level security and the grants to PUBLIC and the API roles, of the given tables ($1) and
# of every overload of the given functions ($2, `schema.name`), in one query. A NULL acl is
# the default one: nothing for others on a table, EXECUTE for PUBLIC on a function.
_EXPOSURE_SQL = """
WITH objects AS (
    SELECT 'table' AS kind, n.nspname || '.' || c.relname AS name,
           format('%I.%I', n.nspname, c.relname) AS target, c.relrowsecurity AS rls,
           coalesce(c.relacl, acldefault('r', c.relowner)) AS acl
    FROM pg_class c
    JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.oid = ANY(ARRAY(SELECT to_regclass(x) FROM unnest($1::text[]) AS x))
    UNION ALL
    SELECT 'function',
           n.nspname || '.' || p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ')',
           format('%I.%I(%s)', n.nspname, p.proname, pg_get_function_identity_arguments(p.oid)),
           NULL, coalesce(p.proacl, acldefault('f', p.proowner))
    FROM pg_proc p
    JOIN pg_namespace n ON n.oid = p.pronamespace
    WHERE n.nspname || '.' || p.proname = ANY($2::text[])
)
SELECT o.kind, o.name, o.target, o.rls IS FALSE AS rls_off,
       ARRAY(
           SELECT DISTINCT (CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE r.rolname END)
                  || ':' || a.privilege_type
           FROM aclexplode(o.acl) AS a
           LEFT JOIN pg_roles r ON r.oid = a.grantee
           WHERE a.grantee = 0 OR r.rolname = ANY($3::text[])
       ) AS grants
FROM objects o
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
    # Another session is building it (CREATE INDEX CONCURRENTLY in progress): INVALID until
    # that build ends, and not a leftover to rebuild.
    building: bool = False


@dataclass(frozen=True)
class ActualConstraint:
    """A foreign-key or check constraint as pg_constraint describes it."""

    table: str
    name: str
    kind: str
    validated: bool
    columns: tuple[str, ...]
    referred_table: str | None


@dataclass(frozen=True)
class Exposure:
    """A private table or function that others can reach: row-level security off, or
    privileges held by PUBLIC or an API role."""

    kind: str  # "table" or "function"
    name: str  # `schema.table` or `schema.function(arguments)`
    target: str  # the same, quoted for SQL
    rls_off: bool
    grants: dict[str, tuple[str, ...]]  # grantee -> privileges

    def describe(self) -> str:
        """What is open, e.g. `row-level security is off; SELECT granted to anon`."""
        parts = ["row-level security is off"] if self.rls_off else []
        parts += [f"{', '.join(p)} granted to {g}" for g, p in sorted(self.grants.items())]
        return "; ".join(parts)


@dataclass
class Catalog:
    """A snapshot of the parts of pg_catalog the healer compares."""

    columns: dict[str, dict[str, tuple[str, bool]]] = field(default_factory=dict)
    indexes: dict[str, list[ActualIndex]] = field(default_factory=dict)
    constraints: dict[str, list[ActualConstraint]] = field(default_factory=dict)
    schemas: set[str] = field(default_factory=set)
    extensions: dict[str, str] = field(default_factory=dict)
    exposures: list[Exposure] = field(default_factory=list)

    def has_table(self, table: str) -> bool:
        """True when the table exists."""
        return table in self.columns


async def read_catalog(
    conn: asyncpg.Connection,
    tables: list[str],
    schemas: tuple[str, ...],
    *,
    private_functions: list[str] | None = None,
) -> Catalog:
    """Read columns, indexes, constraints, schemas and extensions in four queries; with
    `private_functions` (a private target), also what of it others can reach, in a fifth."""
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
                building=row["is_building"],
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
    if private_functions is not None:
        catalog.exposures = await read_exposures(conn, tables, private_functions)
    return catalog


async def read_exposures(
    conn: asyncpg.Connection, tables: list[str], functions: list[str]
) -> list[Exposure]:
    """The tables and functions (every overload) that others can reach, in one query."""
    exposures = []
    for row in await conn.fetch(_EXPOSURE_SQL, tables, functions, list(API_ROLES)):
        grants: dict[str, list[str]] = {}
        for grant in sorted(row["grants"]):
            grantee, privilege = grant.rsplit(":", 1)
            grants.setdefault(grantee, []).append(privilege)
        if row["rls_off"] or grants:
            exposures.append(
                Exposure(
                    kind=row["kind"],
                    name=row["name"],
                    target=row["target"],
                    rls_off=row["rls_off"],
                    grants={g: tuple(p) for g, p in grants.items()},
                )
            )
    return sorted(exposures, key=lambda e: (e.kind != "table", e.name))
