"""Run a heal: fast path, lock, extensions and schemas, create_all, steps, repair, verify."""

import asyncio
import json
import logging
import os
import random
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field

import asyncpg
from sqlalchemy.engine import URL

from orchestrator_service.config import Settings
from orchestrator_service.db.connect import connect
from orchestrator_service.db.heal import adopt
from orchestrator_service.db.heal.catalog import FINGERPRINT_SQL, Catalog, read_catalog
from orchestrator_service.db.heal.desired import DesiredSchema, desired_schema
from orchestrator_service.db.heal.ledger import STATE_TABLE, STEPS_TABLE
from orchestrator_service.db.heal.plan import Action, Drift, plan_repairs
from orchestrator_service.db.heal.targets import HealTarget
from orchestrator_service.errors import HealError

log = logging.getLogger(__name__)

# One key for every heal; advisory locks are scoped to a database, so the two never collide.
ADVISORY_LOCK_KEY = 0x6F72636868656131  # "orchheal" + 1

_FAST_PATH_SQL = f"""
SELECT schema_hash, catalog_fingerprint, drift::text AS drift, ({FINGERPRINT_SQL}) AS current
FROM {STATE_TABLE} WHERE id = 1
"""
_RECORD_STATE_SQL = f"""
INSERT INTO {STATE_TABLE} (id, schema_hash, catalog_fingerprint, drift, host, healed_at)
VALUES (1, $1, ({FINGERPRINT_SQL.replace("$2", "$5").replace("$1", "$4")}), $2::jsonb, $3, now())
ON CONFLICT (id) DO UPDATE SET schema_hash = EXCLUDED.schema_hash,
    catalog_fingerprint = EXCLUDED.catalog_fingerprint, drift = EXCLUDED.drift,
    host = EXCLUDED.host, healed_at = EXCLUDED.healed_at
"""

# Failures that mean "the data or the server refuses this repair", reported as drift.
_REPORTABLE = (
    asyncpg.UniqueViolationError,
    asyncpg.CheckViolationError,
    asyncpg.ForeignKeyViolationError,
    asyncpg.NotNullViolationError,
)


@dataclass
class HealReport:
    """What a heal did and found; served by `/health/ready` and `orchestrator migrate --json`."""

    database: str
    dry_run: bool = False
    fast_path: bool = False
    verified: bool = False
    applied: list[dict] = field(default_factory=list)
    drift: list[dict] = field(default_factory=list)
    duration_ms: float = 0.0
    schema_hash: str = ""

    def as_dict(self) -> dict:
        """The report as plain JSON-ready data."""
        return asdict(self)


def host_id() -> str:
    """Who applied a change: host name and process id."""
    return f"{socket.gethostname()}:{os.getpid()}"


class Healer:
    """Heals one database towards one target."""

    def __init__(
        self, target: HealTarget, url: URL, settings: Settings, *, metadata_url: URL | None = None
    ) -> None:
        self.target = target
        self.url = url
        self.settings = settings
        # The vector heal adopts a LangChain table with the metadata database's documents.
        self.metadata_url = metadata_url
        self.desired: DesiredSchema = desired_schema(target)
        self.report = HealReport(database=target.name, schema_hash=self.desired.hash)

    async def run(self, *, dry_run: bool = False) -> HealReport:
        """Heal (or, with `dry_run`, only plan) and return the report."""
        started = time.perf_counter()
        self.report.dry_run = dry_run
        conn = await connect(self.url, timeout=self.settings.connect_timeout)
        try:
            stored_drift = await self._fast_path(conn)
            if stored_drift is not None:
                self.report.fast_path = self.report.verified = True
                self.report.drift = stored_drift
            elif dry_run:
                await self._plan_only(conn)
            else:
                await self._acquire_lock(conn)
                try:
                    await self._heal_locked(conn)
                finally:
                    await conn.execute("RESET lock_timeout")
                    await conn.execute("SELECT pg_advisory_unlock($1)", ADVISORY_LOCK_KEY)
        finally:
            await conn.close()
        self.report.duration_ms = round((time.perf_counter() - started) * 1000, 2)
        return self.report

    async def _fast_path(self, conn: asyncpg.Connection) -> list[dict] | None:
        """The stored drift when the ledger says this exact schema was verified, else None."""
        try:
            row = await conn.fetchrow(
                _FAST_PATH_SQL, self.target.qualified_names, self.target.functions
            )
        except asyncpg.UndefinedTableError:
            return None
        if row is None or row["schema_hash"] != self.desired.hash:
            return None
        if row["catalog_fingerprint"] != row["current"]:
            return None
        return json.loads(row["drift"])

    async def _acquire_lock(self, conn: asyncpg.Connection) -> None:
        deadline = time.monotonic() + self.settings.heal_lock_timeout
        delay = 0.02
        waited = False
        while not await conn.fetchval("SELECT pg_try_advisory_lock($1)", ADVISORY_LOCK_KEY):
            if not waited:
                log.info("%s: another process is healing; waiting for it", self.target.name)
                waited = True
            if time.monotonic() >= deadline:
                raise HealError(
                    f"The {self.target.name} database's heal lock has been held by another "
                    f"process for more than {self.settings.heal_lock_timeout:g} s "
                    "(ORCH_HEAL_LOCK_TIMEOUT). If no other replica is booting, look for a stuck "
                    "session in pg_stat_activity holding an advisory lock."
                )
            await asyncio.sleep(delay + random.uniform(0, delay / 2))  # noqa: S311 (jitter)
            # Capped low: a waiter should notice the release soon, the poll itself is cheap.
            delay = min(delay * 2, 0.1)

    async def _heal_locked(self, conn: asyncpg.Connection) -> None:
        # Another replica may have finished while this one waited for the lock.
        stored_drift = await self._fast_path(conn)
        if stored_drift is not None:
            self.report.fast_path = self.report.verified = True
            self.report.drift = stored_drift
            return
        await conn.execute(f"SET lock_timeout = '{self.settings.heal_ddl_lock_timeout_ms}ms'")
        catalog = await self._catalog(conn)
        await self._extensions_and_schemas(conn, catalog)
        await self._create_missing_tables(conn, catalog)
        if self.target.name == "vectors":
            await self._adopt(conn)
        await self._apply_steps(conn)
        plan = plan_repairs(self.desired, await self._catalog(conn))
        failed = await self._repair(conn, plan.actions)
        await self._verify(conn, failed)

    async def _catalog(self, conn: asyncpg.Connection) -> Catalog:
        return await read_catalog(
            conn,
            self.target.qualified_names,
            self.target.schemas,
            private_functions=self.target.functions if self.target.private else None,
        )

    async def _plan_only(self, conn: asyncpg.Connection) -> None:
        catalog = await self._catalog(conn)
        for extension in self.target.extensions:
            if extension not in catalog.extensions:
                self.report.applied.append({"kind": "create_extension", "object": extension})
        for schema in self.target.schemas:
            if schema not in catalog.schemas:
                self.report.applied.append({"kind": "create_schema", "object": schema})
        for table in self.target.qualified_names:
            if not catalog.has_table(table):
                self.report.applied.append({"kind": "create_table", "object": table})
        if self.target.name == "vectors":
            self.report.applied.extend(await adopt.planned(conn))
        ledger = await self._ledger(conn) if catalog.has_table(self._steps_table) else {}
        for step in self.target.steps:
            if step.id not in ledger:
                self.report.applied.append({"kind": "apply_step", "object": step.id})
        self._report_step_drift(ledger)
        plan = plan_repairs(self.desired, catalog)
        self.report.applied.extend(a.as_dict() for a in plan.actions)
        self.report.drift.extend(d.as_dict() for d in plan.drift)

    @property
    def _steps_table(self) -> str:
        return f"public.{STEPS_TABLE}"

    async def _extensions_and_schemas(self, conn: asyncpg.Connection, catalog: Catalog) -> None:
        for extension in self.target.extensions:
            if extension in catalog.extensions:
                continue
            try:
                await self._ddl(conn, [f'CREATE EXTENSION IF NOT EXISTS "{extension}"'])
            except asyncpg.PostgresError as exc:
                raise HealError(
                    f"The {self.target.name} database needs the PostgreSQL extension "
                    f"{extension!r} and could not create it: {exc}"
                ) from exc
            self._applied("create_extension", extension)
        for schema in self.target.schemas:
            if schema not in catalog.schemas:
                await self._ddl(conn, [f'CREATE SCHEMA IF NOT EXISTS "{schema}"'])
                self._applied("create_schema", schema)

    async def _create_missing_tables(self, conn: asyncpg.Connection, catalog: Catalog) -> None:
        """`create_all` with checkfirst: CREATE TABLE and its indexes for each missing table,
        in dependency order, in one transaction on the healer's own connection (so the lock
        and lock_timeout apply)."""
        missing = [t for t in self.target.qualified_names if not catalog.has_table(t)]
        if not missing:
            return
        statements = [s for t in missing for s in self.desired.create_table_sql[t]]
        await self._ddl(conn, statements, transaction=True)
        for table in missing:
            self._applied("create_table", table)

    async def _adopt(self, conn: asyncpg.Connection) -> None:
        """Adopt a vector table built by LangChain before the steps, whose functions name our
        columns (db/heal/adopt.py)."""
        await adopt.Adoption(
            conn,
            settings=self.settings,
            desired=self.desired.columns.get(adopt.TABLE, {}),
            metadata_url=self.metadata_url,
            retrying=self._retrying,
            applied=self._applied,
        ).run()

    async def _ledger(self, conn: asyncpg.Connection) -> dict[str, str]:
        rows = await conn.fetch(f"SELECT step_id, checksum FROM {STEPS_TABLE}")
        return {r["step_id"]: r["checksum"] for r in rows}

    def _report_step_drift(self, ledger: dict[str, str]) -> None:
        known = {s.id: s for s in self.target.steps}
        for step_id, checksum in ledger.items():
            step = known.get(step_id)
            if step is None:
                self.report.drift.append(
                    Drift(
                        "unknown_step",
                        step_id,
                        "recorded in the ledger but not in this version's steps manifest",
                    ).as_dict()
                )
            elif step.checksum != checksum:
                self.report.drift.append(
                    Drift(
                        "edited_step",
                        step_id,
                        "its SQL changed after it was applied; "
                        "not re-run. Add a new step instead of editing a shipped one",
                    ).as_dict()
                )

    async def _apply_steps(self, conn: asyncpg.Connection) -> None:
        ledger = await self._ledger(conn)
        self._report_step_drift(ledger)
        for step in self.target.steps:
            if step.id in ledger:
                continue
            started = time.perf_counter()

            async def apply(step=step, started=started) -> None:
                async with conn.transaction():
                    if not (step.skip_if and await conn.fetchval(step.skip_if)):
                        await conn.execute(step.sql)
                    await conn.execute(
                        f"INSERT INTO {STEPS_TABLE} "
                        "(step_id, checksum, description, duration_ms, host) "
                        "VALUES ($1, $2, $3, $4, $5)",
                        step.id,
                        step.checksum,
                        step.description,
                        int((time.perf_counter() - started) * 1000),
                        host_id(),
                    )

            try:
                await self._retrying(apply)
            except asyncpg.PostgresError as exc:
                raise HealError(
                    f"Migration step {step.id} failed and was rolled back: {exc}"
                ) from exc
            self._applied("apply_step", step.id)

    async def _repair(self, conn: asyncpg.Connection, actions: list[Action]) -> set[str]:
        """Run each safe repair; return the objects whose repair the data refused."""
        failed: set[str] = set()
        for action in actions:
            try:
                await self._ddl(conn, list(action.sql))
            except asyncpg.PostgresError as exc:
                await self._undo_failed(conn, action)
                if not self._reportable(action, exc):
                    raise HealError(
                        f"Could not {action.kind.replace('_', ' ')} {action.object}: {exc}"
                    ) from exc
                failed.add(action.object)
                self.report.drift.append(
                    Drift(
                        f"{action.kind}_failed", action.object, str(exc).splitlines()[0]
                    ).as_dict()
                )
                continue
            self._applied(action.kind, action.object)
        return failed

    @staticmethod
    def _reportable(action: Action, exc: asyncpg.PostgresError) -> bool:
        """Refusals by the data, and index builds a busy table kept waiting, are drift; the
        rest stops the boot."""
        if isinstance(exc, _REPORTABLE):
            return True
        if action.kind == "close_exposure":
            # Not the owner: the exposure stays, reported with what its owner must run.
            return isinstance(exc, asyncpg.InsufficientPrivilegeError)
        return "index" in action.kind and isinstance(exc, asyncpg.LockNotAvailableError)

    async def _undo_failed(self, conn: asyncpg.Connection, action: Action) -> None:
        """A failed concurrent build leaves an INVALID index behind; drop it."""
        if action.kind in ("create_index", "rebuild_invalid_index"):
            table, name = action.object.rsplit(".", 1)
            schema = table.split(".", 1)[0]
            await conn.execute(f'DROP INDEX CONCURRENTLY IF EXISTS "{schema}"."{name}"')

    async def _verify(self, conn: asyncpg.Connection, failed: set[str]) -> None:
        """Read the catalog back: every table, schema and extension present, nothing left to
        repair but what the data refused; then record the verified state."""
        catalog = await self._catalog(conn)
        problems = [t for t in self.target.qualified_names if not catalog.has_table(t)]
        problems += [s for s in self.target.schemas if s not in catalog.schemas]
        problems += [e for e in self.target.extensions if e not in catalog.extensions]
        plan = plan_repairs(self.desired, catalog)
        # An exposure still open (a role that does not own the object revokes nothing, with
        # only a warning) is drift saying what to run, not a failed boot.
        problems += [
            a.object for a in plan.actions if a.object not in failed and a.kind != "close_exposure"
        ]
        if problems:
            raise HealError(
                f"Heal of the {self.target.name} database did not verify; still missing: "
                + ", ".join(problems)
            )
        drift_keys = {(d["kind"], d["object"]) for d in self.report.drift}
        self.report.drift.extend(
            d.as_dict() for d in plan.drift if (d.kind, d.object) not in drift_keys
        )
        await conn.execute(
            _RECORD_STATE_SQL,
            self.desired.hash,
            json.dumps(self.report.drift),
            host_id(),
            self.target.qualified_names,
            self.target.functions,
        )
        self.report.verified = True

    async def _ddl(
        self, conn: asyncpg.Connection, statements: list[str], *, transaction: bool = False
    ) -> None:
        async def run() -> None:
            if transaction:
                async with conn.transaction():
                    for statement in statements:
                        await conn.execute(statement)
            else:
                for statement in statements:
                    await conn.execute(statement)

        await self._retrying(run)

    async def _retrying(self, operation: Callable[[], Awaitable[None]]) -> None:
        """Run `operation`, retrying when lock_timeout expires (someone holds a lock briefly)."""
        for attempt in range(self.settings.heal_ddl_retries + 1):
            try:
                await operation()
                return
            except asyncpg.LockNotAvailableError:
                if attempt == self.settings.heal_ddl_retries:
                    raise
                log.info("%s: lock busy, retrying DDL (attempt %d)", self.target.name, attempt + 1)
                await asyncio.sleep(min(0.1 * 2**attempt, 2.0))

    def _applied(self, kind: str, obj: str) -> None:
        log.info("%s: %s %s", self.target.name, kind, obj)
        self.report.applied.append({"kind": kind, "object": obj})


# Supabase's transaction-mode pooler: each statement may run on another server session.
TRANSACTION_POOLER_PORT = 6543


def refuse_transaction_pooler(url: URL) -> None:
    """The heal holds a session-level advisory lock, which a transaction-mode pooler cannot
    keep; refuse with the URL to use instead rather than heal unprotected."""
    if url.port == TRANSACTION_POOLER_PORT or url.query.get("pgbouncer") == "true":
        raise HealError(
            f"{url.host}:{url.port} looks like a transaction-mode connection pooler, which "
            "cannot hold the heal's session lock. Use the direct connection string "
            "(db.<project>.supabase.co:5432) or the pooler's session mode (port 5432)."
        )


async def heal(
    target: HealTarget,
    url: URL,
    settings: Settings,
    *,
    dry_run: bool = False,
    metadata_url: URL | None = None,
) -> HealReport:
    """Heal one database and return the report; raise `HealError` if it cannot be healed.
    The vector database's heal needs `metadata_url` to adopt a LangChain-built table."""
    refuse_transaction_pooler(url)
    return await Healer(target, url, settings, metadata_url=metadata_url).run(dry_run=dry_run)
