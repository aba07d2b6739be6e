"""Compare the desired schema with the catalog: what is safe to repair, and what is only drift."""

import re
from dataclasses import dataclass, field

from sqlalchemy.schema import CreateColumn

from orchestrator_service.db.heal.catalog import ActualIndex, Catalog, Exposure
from orchestrator_service.db.heal.desired import (
    DIALECT,
    DesiredIndex,
    DesiredSchema,
    normalize_type,
)


@dataclass(frozen=True)
class Action:
    """One safe repair; `sql` runs in order, each statement on its own (some cannot share a
    transaction, such as CREATE INDEX CONCURRENTLY)."""

    kind: str
    object: str
    sql: tuple[str, ...]

    def as_dict(self) -> dict:
        """The action as it appears in a heal report."""
        return {"kind": self.kind, "object": self.object}


@dataclass(frozen=True)
class Drift:
    """A difference the healer reports and never repairs on its own."""

    kind: str
    object: str
    detail: str

    def as_dict(self) -> dict:
        """The drift as it appears in a heal report."""
        return {"kind": self.kind, "object": self.object, "detail": self.detail}


@dataclass
class Plan:
    """Repairs in the order they must run, and the drift found alongside."""

    add_columns: list[Action] = field(default_factory=list)
    indexes: list[Action] = field(default_factory=list)
    constraints: list[Action] = field(default_factory=list)
    closures: list[Action] = field(default_factory=list)
    drift: list[Drift] = field(default_factory=list)

    @property
    def actions(self) -> list[Action]:
        """All repairs: columns first, then indexes, then constraints that may use both, then
        what closes a private table or function again."""
        return [*self.add_columns, *self.indexes, *self.constraints, *self.closures]


def concurrently(create_index_sql: str) -> str:
    """Turn a CREATE INDEX statement into its CONCURRENTLY, IF NOT EXISTS form."""
    return re.sub(
        r"^CREATE (UNIQUE )?INDEX (IF NOT EXISTS )?",
        lambda m: f"CREATE {m.group(1) or ''}INDEX CONCURRENTLY IF NOT EXISTS ",
        create_index_sql.strip(),
        count=1,
    )


def _drop_index_sql(table: str, index_name: str) -> str:
    schema = table.split(".", 1)[0]
    return f'DROP INDEX CONCURRENTLY IF EXISTS "{schema}"."{index_name}"'


def _satisfies(actual: ActualIndex, desired: DesiredIndex) -> bool:
    if actual.name == desired.name:
        return True
    return (
        desired.columns is not None
        and actual.columns == desired.columns
        and actual.unique == desired.unique
        and actual.nulls_not_distinct == desired.nulls_not_distinct
        and not actual.partial
    )


def _plan_columns(plan: Plan, desired: DesiredSchema, catalog: Catalog, table: str) -> None:
    actual = catalog.columns[table]
    for name, column in desired.columns[table].items():
        where = f"{table}.{name}"
        if name not in actual:
            if column.safe_to_add:
                spec = str(CreateColumn(column.column).compile(dialect=DIALECT)).strip()
                plan.add_columns.append(
                    Action(
                        "add_column",
                        where,
                        (f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS {spec}",),
                    )
                )
            else:
                plan.drift.append(
                    Drift(
                        "missing_column_unsafe",
                        where,
                        "NOT NULL without a constant default: add it with a migration step",
                    )
                )
            continue
        actual_type, not_null = actual[name]
        if normalize_type(actual_type) != column.type:
            plan.drift.append(
                Drift(
                    "type_mismatch", where, f"models want {column.type}, database has {actual_type}"
                )
            )
        if not_null == column.nullable:
            want = "NULL" if column.nullable else "NOT NULL"
            have = "NOT NULL" if not_null else "NULL"
            plan.drift.append(
                Drift("nullability_mismatch", where, f"models want {want}, database has {have}")
            )
    for name in sorted(set(actual) - set(desired.columns[table])):
        plan.drift.append(
            Drift("extra_column", f"{table}.{name}", "not in the models; left in place")
        )


def _plan_indexes(plan: Plan, desired: DesiredSchema, catalog: Catalog, table: str) -> None:
    actual = [i for i in catalog.indexes.get(table, []) if not i.primary]
    matched: set[str] = set()
    for index in desired.indexes[table]:
        found = next((a for a in actual if a.valid and _satisfies(a, index)), None)
        if found is None:
            found = next((a for a in actual if _satisfies(a, index)), None)
        if found is not None:
            matched.add(found.name)
        where = f"{table}.{index.name}"
        if found is None:
            # The drop clears an INVALID leftover of an earlier attempt, which IF NOT EXISTS
            # would otherwise keep.
            plan.indexes.append(
                Action(
                    "create_index",
                    where,
                    (_drop_index_sql(table, index.name), concurrently(index.create_sql)),
                )
            )
        elif found.building:
            plan.drift.append(_being_built(table, found))
        elif not found.valid:
            plan.indexes.append(
                Action(
                    "rebuild_invalid_index",
                    f"{table}.{found.name}",
                    (_drop_index_sql(table, found.name), concurrently(index.create_sql)),
                )
            )
    for index in actual:
        if index.building and index.name not in matched:
            plan.drift.append(_being_built(table, index))
        elif not index.valid and index.name not in matched:
            plan.indexes.append(
                Action(
                    "rebuild_invalid_index",
                    f"{table}.{index.name}",
                    (_drop_index_sql(table, index.name), concurrently(index.definition)),
                )
            )


def _being_built(table: str, index: ActualIndex) -> Drift:
    """An index another session is building concurrently: INVALID until that build ends, so
    rebuilding it now would wait for the build or undo it; left alone, looked at next boot."""
    return Drift(
        "index_being_built",
        f"{table}.{index.name}",
        "another session is building it concurrently; left alone",
    )


def _plan_constraints(plan: Plan, desired: DesiredSchema, catalog: Catalog, table: str) -> None:
    actual = catalog.constraints.get(table, [])
    for constraint in desired.constraints[table]:
        found = next(
            (
                a
                for a in actual
                if a.name == constraint.name
                or (
                    constraint.kind == "f"
                    and a.kind == "f"
                    and a.columns == constraint.columns
                    and a.referred_table == constraint.referred_table
                )
            ),
            None,
        )
        where = f"{table}.{constraint.name}"
        validate = f'ALTER TABLE {table} VALIDATE CONSTRAINT "{constraint.name}"'
        if found is None:
            # NOT VALID takes a brief lock and checks only new rows; VALIDATE then scans
            # existing rows without blocking writes, and may fail on old data (reported).
            plan.constraints.append(
                Action("add_constraint", where, (f"{constraint.add_sql} NOT VALID", validate))
            )
        elif not found.validated:
            plan.constraints.append(
                Action(
                    "validate_constraint",
                    f"{table}.{found.name}",
                    (f'ALTER TABLE {table} VALIDATE CONSTRAINT "{found.name}"',),
                )
            )


def closing_sql(exposure: Exposure) -> tuple[str, ...]:
    """Row-level security on and the grants to PUBLIC and the API roles revoked: removes
    access only, never data, so the healer runs it on its own."""
    sql = []
    if exposure.rls_off:
        sql.append(f"ALTER TABLE {exposure.target} ENABLE ROW LEVEL SECURITY")
    kind = exposure.kind.upper()
    for grantee in sorted(exposure.grants):
        who = "PUBLIC" if grantee == "PUBLIC" else DIALECT.identifier_preparer.quote(grantee)
        sql.append(f"REVOKE ALL ON {kind} {exposure.target} FROM {who}")
    return tuple(sql)


def exposure_drift(exposure: Exposure) -> Drift:
    """An open private object, with what closes it."""
    return Drift(
        "exposed",
        exposure.name,
        f"{exposure.describe()}: callers of Supabase's REST API (the project's public anon "
        "key, any signed-in user) or any role of the database can reach it. Run "
        "`orchestrator migrate`, which closes it where the service's role owns it, or as "
        "its owner: " + "; ".join(closing_sql(exposure)),
    )


def plan_repairs(desired: DesiredSchema, catalog: Catalog) -> Plan:
    """Plan the safe repairs of every existing table; missing tables are `create_all`'s job.
    An exposed private table or function is both closed and reported: the drift stays in the
    report if the closing does not take (the role does not own the object)."""
    plan = Plan()
    for table in desired.columns:
        if not catalog.has_table(table):
            continue
        _plan_columns(plan, desired, catalog, table)
        _plan_indexes(plan, desired, catalog, table)
        _plan_constraints(plan, desired, catalog, table)
    for exposure in catalog.exposures:
        plan.closures.append(Action("close_exposure", exposure.name, closing_sql(exposure)))
        plan.drift.append(exposure_drift(exposure))
    return plan
