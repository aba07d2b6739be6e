"""Adopting a vector table that LangChain's SupabaseVectorStore built (seed 003's deployments).

Such a `documents` table has `id bigserial` (or `uuid`), `content`, `metadata jsonb` and
`embedding vector(n)`, with the tenant, document and collection only inside `metadata`, and a
`match_documents` function whose return type differs from ours. At boot, under the heal lock
and before the migration steps (whose functions name our columns), the vector healer:

1. drops LangChain's `match_documents` (it searches every tenant's rows) and adds our
   columns, nullable (catalog only);
2. fills them from `metadata` in batches of `ORCH_ADOPT_BATCH_ROWS` rows keyed by id, each its
   own short transaction, so a crash resumes at the first row still without a tenant;
3. makes each adopted document searchable where the metadata database knows it under the
   same tenant: `visible_documents` gets a row, then `rag_documents` the adopted generation,
   the adopted embedding model and status `ready`;
4. makes the columns NOT NULL without a long lock: a CHECK added NOT VALID, VALIDATE (which
   blocks no reads or writes), then SET NOT NULL, which the validated CHECK spares a scan;
5. gives LangChain's bigint ids our uuid key: each id n becomes the uuid
   00000000-0000-0000-<n as 16 hex digits, split 4-12>, so the old id can still be read off
   the new one, and the bigint column goes (a catalog change, no rewrite).

Until step 4 or 5 is done the table still reads as one to adopt, so a heal that stops anywhere
is finished by the next one; every step is idempotent.

Rows without a usable tenant (missing, not an integer) get tenant 0, which no tenant has, and
are never visible; they and rows whose document the metadata does not know are left for the
reconciler to report as orphans. Nothing is deleted here.
"""

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import asyncpg
from sqlalchemy.engine import URL

from orchestrator_service.config import Settings
from orchestrator_service.db.connect import connect
from orchestrator_service.db.heal.desired import DesiredColumn
from orchestrator_service.errors import HealError

log = logging.getLogger(__name__)

TABLE = "public.documents"
# The generation of every adopted chunk (and of its document in the metadata database).
ADOPTED_GENERATION = "langchain"
# The tenant of rows whose metadata names none that can be ours: no tenant has id 0.
NO_TENANT = 0
# Seed 003's default collection, for rows whose metadata names none.
DEFAULT_COLLECTION = "General"
# Where the uuid of each LangChain bigint id is filled before it becomes the key.
_NEW_ID = "adopted_id"
_NOT_NULL_CHECK = "documents_adoption_not_null"
_NEW_ID_INDEX = "documents_adopted_id_key"
_OUR_MATCH_RESULT = "TABLE(id uuid, content text, metadata jsonb, similarity double precision)"

_COLUMNS_SQL = """
SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type, a.attnotnull AS not_null
FROM pg_attribute a
WHERE a.attrelid = to_regclass('public.documents') AND a.attnum > 0 AND NOT a.attisdropped
"""

# LangChain's match_documents (its guides publish several: bigint or uuid ids, with or without
# match_count, some returning the embedding too) searches every tenant's rows, and one with our
# arguments but another result stops CREATE OR REPLACE of ours. Every match_documents but ours
# (our arguments and result) is dropped; this runs only on a table that is LangChain's.
_DROP_FOREIGN_MATCH = f"""
DO $$
DECLARE
    fn regprocedure;
BEGIN
    FOR fn IN
        SELECT p.oid::regprocedure FROM pg_proc p
        WHERE p.proname = 'match_documents'
          AND p.pronamespace = 'public'::regnamespace
          AND NOT (p.pronargs = 3
                   AND (SELECT typname FROM pg_type WHERE oid = p.proargtypes[0]) = 'vector'
                   AND p.proargtypes[1] = 'integer'::regtype
                   AND p.proargtypes[2] = 'jsonb'::regtype
                   AND pg_get_function_result(p.oid) = '{_OUR_MATCH_RESULT}')
    LOOP
        EXECUTE format('DROP FUNCTION %s', fn);
    END LOOP;
END
$$
"""

# Inserts after adoption fill the full-text column as our generated column does.
_CONTENT_TSV_TRIGGER = """
CREATE OR REPLACE FUNCTION documents_fill_content_tsv() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.content_tsv := to_tsvector('spanish'::regconfig, NEW.content)
                       || to_tsvector('english'::regconfig, NEW.content);
    RETURN NEW;
END
$$;
REVOKE ALL ON FUNCTION documents_fill_content_tsv() FROM PUBLIC;
DROP TRIGGER IF EXISTS documents_fill_content_tsv ON documents;
CREATE TRIGGER documents_fill_content_tsv BEFORE INSERT OR UPDATE OF content ON documents
    FOR EACH ROW EXECUTE FUNCTION documents_fill_content_tsv();
"""


_PLAIN_CONTENT_TSV = """
SELECT attgenerated = '' FROM pg_attribute
WHERE attrelid = 'public.documents'::regclass AND attname = 'content_tsv' AND NOT attisdropped
"""


def _text_field(key: str, limit: int) -> str:
    """`metadata ->> key` when it is a non-empty string of at most `limit` characters."""
    value = f"d.metadata ->> '{key}'"
    return (
        f"CASE WHEN jsonb_typeof(d.metadata -> '{key}') IN ('string', 'number') "
        f"AND length({value}) BETWEEN 1 AND {limit} THEN {value} END"
    )


def _integer_field(key: str) -> str:
    """`metadata ->> key` as an integer when it is one (a JSON number or a string of digits)."""
    value = f"d.metadata ->> '{key}'"
    return f"CASE WHEN {value} ~ '^[0-9]{{1,9}}$' THEN ({value})::integer END"


def _batch_sql(id_type: str, new_id: bool) -> str:
    """One batch: the next rows without a tenant after `$1` (the last id done), at most `$2`,
    filled from their metadata; returns the batch's last id (NULL when none were left) and
    size. An adopted row's metadata gains our keys, as ours carry them (search reads them
    there); a row without a tenant keeps its metadata as it was, for whoever looks into it.
    `content_tsv` is filled by its trigger, which setting `content` fires."""
    uuid_of_id = (
        f", {_NEW_ID} = (concat('00000000-0000-0000-', substr(f.hex, 1, 4), '-', "
        "substr(f.hex, 5)))::uuid"
        if new_id
        else ""
    )
    hex_of_id = "lpad(to_hex(d.id), 16, '0')" if new_id else "NULL"
    return f"""
WITH batch AS (
    SELECT id FROM documents
    WHERE tenant_id IS NULL AND ($1::{id_type} IS NULL OR id > $1::{id_type})
    ORDER BY id LIMIT $2 FOR UPDATE
), filled AS (
    SELECT d.id,
           coalesce({_integer_field("tenant_id")}, {NO_TENANT}) AS tenant_id,
           coalesce({_text_field("source_id", 64)}, '') AS source_id,
           coalesce({_text_field("collection", 100)}, '{DEFAULT_COLLECTION}') AS collection,
           coalesce({_integer_field("chunk_index")}, 0) AS chunk_index,
           coalesce(d.metadata, '{{}}'::jsonb) AS metadata,
           coalesce(d.content, '') AS content,
           {hex_of_id} AS hex
    FROM documents d JOIN batch ON batch.id = d.id
), done AS (
    UPDATE documents d SET
        tenant_id = f.tenant_id,
        source_id = f.source_id,
        collection = f.collection,
        chunk_index = f.chunk_index,
        embedding_model = concat('openai:', $3::text, ':', coalesce(vector_dims(d.embedding), 0)),
        generation = '{ADOPTED_GENERATION}',
        content = f.content,
        metadata = CASE WHEN f.tenant_id = {NO_TENANT} THEN f.metadata
                        ELSE f.metadata || jsonb_build_object(
                            'tenant_id', f.tenant_id, 'source_id', f.source_id,
                            'collection', f.collection, 'chunk_index', f.chunk_index)
                   END
        {uuid_of_id}
    FROM filled f
    WHERE d.id = f.id
    RETURNING d.id
)
-- No max(uuid) in PostgreSQL: the last id by ordering, which suits bigint and uuid alike.
SELECT (SELECT id FROM done ORDER BY id DESC LIMIT 1) AS last, (SELECT count(*) FROM done) AS rows
"""


@dataclass(frozen=True)
class Columns:
    """The columns `documents` has: name -> (type, NOT NULL)."""

    types: dict[str, tuple[str, bool]]

    @property
    def langchain_shaped(self) -> bool:
        """LangChain's four columns, with our tenant column missing or still nullable, or the
        bigint key not swapped yet: an adoption to start or to finish."""
        have = self.types
        if not {"id", "content", "metadata", "embedding"} <= have.keys():
            return False
        tenant = have.get("tenant_id")
        return tenant is None or not tenant[1] or have["id"][0] != "uuid" or _NEW_ID in have


async def read_columns(conn: asyncpg.Connection) -> Columns | None:
    """The columns of `public.documents`, or None when there is no such table."""
    rows = await conn.fetch(_COLUMNS_SQL)
    if not rows:
        return None
    return Columns({r["name"]: (r["type"], r["not_null"]) for r in rows})


async def planned(conn: asyncpg.Connection) -> list[dict]:
    """What a heal would do to adopt the table (for `migrate --dry-run`)."""
    columns = await read_columns(conn)
    if columns is None or not columns.langchain_shaped:
        return []
    return [{"kind": "adopt_langchain_table", "object": TABLE}]


Retrying = Callable[[Callable[[], Awaitable[None]]], Awaitable[None]]


class Adoption:
    """Adopts the LangChain-built `documents` on the vector healer's connection."""

    def __init__(
        self,
        conn: asyncpg.Connection,
        *,
        settings: Settings,
        desired: dict[str, DesiredColumn],
        metadata_url: URL | None,
        retrying: Retrying,
        applied: Callable[[str, str], None],
    ) -> None:
        self._conn = conn
        self._settings = settings
        self._desired = desired
        self._metadata_url = metadata_url
        self._retrying = retrying
        self._applied = applied

    async def run(self) -> None:
        """Adopt the table if it is LangChain's; nothing (one catalog query) otherwise."""
        columns = await read_columns(self._conn)
        if columns is None or not columns.langchain_shaped:
            return
        if self._metadata_url is None:
            raise HealError(
                "The vector database holds a LangChain documents table to adopt; adopting it "
                "needs the metadata database too (heal both, as `orchestrator migrate` does)"
            )
        started = time.perf_counter()
        new_id = columns.types["id"][0] != "uuid"
        try:
            await self._shape(columns, new_id=new_id)
            rows = await self._backfill(columns.types["id"][0])
            # Linked before the constraints: until they hold, the table still reads as one to
            # adopt, so a heal stopped after this point links again (idempotently).
            linked = await self._link()
            await self._not_null(new_id=new_id)
            if new_id:
                await self._swap_key()
        except asyncpg.PostgresError as exc:
            raise HealError(
                f"Adopting the LangChain documents table stopped: {exc}. What it did stays "
                "done (filled rows stay filled); the next boot resumes where it stopped"
            ) from exc
        log.info(
            "vectors: adopted the LangChain documents table (%d rows filled, %d documents "
            "linked) in %.1f s",
            rows,
            linked,
            time.perf_counter() - started,
        )

    async def _ddl(self, *statements: str, transaction: bool = False) -> None:
        conn = self._conn

        async def run() -> None:
            if transaction:
                async with conn.transaction():
                    for statement in statements:
                        await conn.execute(statement)
            else:
                for statement in statements:
                    await conn.execute(statement)

        await self._retrying(run)

    async def _shape(self, columns: Columns, *, new_id: bool) -> None:
        """Our columns added nullable (catalog only), the foreign function dropped."""
        await self._ddl(_DROP_FOREIGN_MATCH)
        missing = [
            c
            for name, c in self._desired.items()
            if name not in columns.types and (not c.nullable or c.column.computed is not None)
        ]
        added = [f'ADD COLUMN IF NOT EXISTS "{c.name}" {c.type}' for c in missing]
        if new_id:
            added.append(f'ADD COLUMN IF NOT EXISTS "{_NEW_ID}" uuid')
        if added:
            await self._ddl(f"ALTER TABLE {TABLE} " + ", ".join(added))
        if await self._conn.fetchval(_PLAIN_CONTENT_TSV):
            # A generated column would rewrite the whole table under an exclusive lock; a
            # plain one filled in batches, and by this trigger afterwards, does not. Made on
            # every run until adopted, so a crash between the two cannot lose it.
            await self._ddl(_CONTENT_TSV_TRIGGER, transaction=True)
        if not new_id:
            # LangChain's Python guide declares `id uuid primary key` with no default; our
            # writers leave the id to the database.
            await self._ddl(f"ALTER TABLE {TABLE} ALTER COLUMN id SET DEFAULT gen_random_uuid()")
        for c in missing:
            self._applied("adopt_add_column", f"{TABLE}.{c.name}")

    async def _backfill(self, id_type: str) -> int:
        """Fill every row still without a tenant, a batch per transaction; the rows filled."""
        sql = _batch_sql(id_type, id_type != "uuid")
        batch = self._settings.adopt_batch_rows
        model = self._settings.adopted_embedding_model
        left = await self._conn.fetchval("SELECT count(*) FROM documents WHERE tenant_id IS NULL")
        done = 0
        last = None
        while True:
            last_of_batch, rows = await self._fill_batch(sql, last, batch, model)
            if last_of_batch is None:
                if last is None:
                    break
                last = None  # a row written behind this pass while it ran: one more pass
                continue
            last = last_of_batch
            done += rows
            log.info("vectors: adopting documents: %d of %d rows filled", done, left)
        if done:
            self._applied("adopt_backfill", TABLE)
        return done

    async def _fill_batch(
        self, sql: str, after: object, batch: int, model: str
    ) -> tuple[object, int]:
        """One batch in its own transaction: its last id (None when none was left), its size."""
        outcome: list[tuple[object, int]] = []

        async def one() -> None:
            async with self._conn.transaction():
                row = await self._conn.fetchrow(sql, after, batch, model)
            outcome[:] = [(row["last"], row["rows"]) if row is not None else (None, 0)]

        await self._retrying(one)
        return outcome[0]

    async def _not_null(self, *, new_id: bool) -> None:
        """SET NOT NULL on every adopted column without scanning under an exclusive lock."""
        names = [n for n, c in self._desired.items() if not c.nullable]
        if new_id:
            names = [n for n in names if n != "id"] + [_NEW_ID]
        columns = await read_columns(self._conn)
        types = columns.types if columns is not None else {}
        nullable = [n for n in names if n in types and not types[n][1]]
        if not nullable:
            return
        check = " AND ".join(f'"{n}" IS NOT NULL' for n in nullable)
        exists = await self._conn.fetchval(
            "SELECT true FROM pg_constraint WHERE conrelid = 'public.documents'::regclass "
            "AND conname = $1",
            _NOT_NULL_CHECK,
        )
        if not exists:
            await self._ddl(
                f'ALTER TABLE {TABLE} ADD CONSTRAINT "{_NOT_NULL_CHECK}" CHECK ({check}) NOT VALID'
            )
        # Rows a writer added before the CHECK existed, without a tenant: filled like the rest.
        await self._backfill(types["id"][0])
        try:
            await self._ddl(f'ALTER TABLE {TABLE} VALIDATE CONSTRAINT "{_NOT_NULL_CHECK}"')
        except asyncpg.CheckViolationError as exc:
            raise HealError(
                "Adopting the LangChain documents table: some rows have no embedding, which "
                "no search can use; delete them (SELECT id FROM documents WHERE embedding IS "
                "NULL), then boot again"
            ) from exc
        set_not_null = ", ".join(f'ALTER COLUMN "{n}" SET NOT NULL' for n in nullable)
        await self._ddl(
            f"ALTER TABLE {TABLE} {set_not_null}",
            f'ALTER TABLE {TABLE} DROP CONSTRAINT "{_NOT_NULL_CHECK}"',
            transaction=True,
        )
        self._applied("adopt_not_null", TABLE)

    async def _swap_key(self) -> None:
        """The uuid column becomes the primary key `id`; the bigint one goes with its sequence."""
        valid = await self._conn.fetchval(
            "SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
            "WHERE c.relname = $1 AND c.relnamespace = 'public'::regnamespace",
            _NEW_ID_INDEX,
        )
        if valid is False:  # left INVALID by an interrupted build
            await self._ddl(f'DROP INDEX CONCURRENTLY IF EXISTS public."{_NEW_ID_INDEX}"')
        await self._ddl(
            f'CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS "{_NEW_ID_INDEX}" '
            f'ON {TABLE} ("{_NEW_ID}")'
        )
        primary = await self._conn.fetchval(
            "SELECT conname FROM pg_constraint WHERE conrelid = 'public.documents'::regclass "
            "AND contype = 'p'"
        )
        statements = [f'ALTER TABLE {TABLE} DROP CONSTRAINT "{primary}"'] if primary else []
        statements += [
            f"ALTER TABLE {TABLE} DROP COLUMN id",
            f'ALTER TABLE {TABLE} RENAME COLUMN "{_NEW_ID}" TO id',
            f"ALTER TABLE {TABLE} ALTER COLUMN id SET DEFAULT gen_random_uuid()",
            f"ALTER TABLE {TABLE} ADD CONSTRAINT documents_pkey "
            f'PRIMARY KEY USING INDEX "{_NEW_ID_INDEX}"',
        ]
        try:
            await self._ddl(*statements, transaction=True)
        except asyncpg.DependentObjectsStillExistError as exc:
            raise HealError(
                "Adopting the LangChain documents table: its bigint id cannot make way for "
                f"the uuid key while another object depends on it ({exc}); drop or change "
                "that object (a view, a foreign key), then boot again"
            ) from exc
        self._applied("adopt_uuid_key", TABLE)

    async def _link(self) -> int:
        """Adopted documents the metadata database knows under the same tenant become
        searchable: visible at the adopted generation, then ready there. The number linked."""
        sources = await self._conn.fetch(
            "SELECT tenant_id, source_id, max(embedding_model) AS model, count(*) AS chunks "
            "FROM documents WHERE generation = $1 AND tenant_id <> $2 "
            "GROUP BY tenant_id, source_id",
            ADOPTED_GENERATION,
            NO_TENANT,
        )
        if not sources:
            return 0
        assert self._metadata_url is not None
        metadata = await connect(self._metadata_url, timeout=self._settings.connect_timeout)
        try:
            known = await metadata.fetch(
                "SELECT d.id, d.tenant_id FROM rag_documents d "
                "JOIN unnest($1::text[], $2::integer[]) AS s(source_id, tenant_id) "
                "ON d.id = s.source_id AND d.tenant_id = s.tenant_id "
                "WHERE (d.generation IS NULL OR d.generation = $3) AND d.status <> 'deleting'",
                [s["source_id"] for s in sources],
                [s["tenant_id"] for s in sources],
                ADOPTED_GENERATION,
            )
            pairs = {(r["tenant_id"], r["id"]) for r in known}
            linked = [s for s in sources if (s["tenant_id"], s["source_id"]) in pairs]
            # Visible first, then ready in the metadata: search trusts the metadata, so a
            # crash in between shows nothing early, and the next heal finishes the pair.
            await self._conn.executemany(
                "INSERT INTO visible_documents (tenant_id, source_id, generation) "
                "VALUES ($1, $2, $3) ON CONFLICT (tenant_id, source_id) DO NOTHING",
                [(s["tenant_id"], s["source_id"], ADOPTED_GENERATION) for s in linked],
            )
            async with metadata.transaction():
                await metadata.executemany(
                    "UPDATE rag_documents SET generation = $3, embedding_model = $4, "
                    "status = 'ready', chunk_count = $5, chunks_done = $5, chunks_total = $5, "
                    "error = NULL WHERE id = $2 AND tenant_id = $1",
                    [
                        (
                            s["tenant_id"],
                            s["source_id"],
                            ADOPTED_GENERATION,
                            s["model"],
                            s["chunks"],
                        )
                        for s in linked
                    ],
                )
        finally:
            await metadata.close()
        if linked:
            self._applied("adopt_link_documents", "public.rag_documents")
        return len(linked)
