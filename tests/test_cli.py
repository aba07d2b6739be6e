"""The `orchestrator` command as a process: concurrent boots, a killed heal, bad URLs."""

import asyncio
import json
import signal
import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import URL

from orchestrator_service.db.heal.ledger import STEPS_TABLE
from orchestrator_service.db.urls import asyncpg_dsn
from orchestrator_service.models import METADATA
from tests.helpers import ORCHESTRATOR, cli_env, finish, run_cli, sql, url_string


def migrate(url: URL, tmp_path: Path, *args: str, **env: str) -> subprocess.Popen:
    """Start `orchestrator migrate --json` against one database."""
    return subprocess.Popen(
        [ORCHESTRATOR, "migrate", "--json", "--database-url", url_string(url), *args],
        env=cli_env(tmp_path, **env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


async def test_eight_processes_heal_one_empty_database_at_once(
    empty_db: URL, tmp_path: Path
) -> None:
    processes = [migrate(empty_db, tmp_path) for _ in range(8)]
    results = [await finish(p) for p in processes]

    for code, out, err in results:
        assert code == 0, err
        assert "ERROR" not in err and "Traceback" not in err
        assert json.loads(out)["ok"] is True
    reports = [json.loads(out)["databases"]["metadata"] for _, out, _ in results]
    assert all(r["verified"] for r in reports)
    # Exactly one process did the work; the others found it done.
    assert sum(1 for r in reports if r["applied"]) == 1
    ledger = await sql(empty_db, f"SELECT step_id, count(*) AS n FROM {STEPS_TABLE} GROUP BY 1")
    assert {r["step_id"]: r["n"] for r in ledger} == {s.id: 1 for s in METADATA.steps}


async def test_a_heal_killed_midway_is_completed_by_the_next_boot(
    fresh_db: URL, tmp_path: Path
) -> None:
    # fresh_db is healed already (a copy of the healed template): break it.
    await sql(fresh_db, "ALTER TABLE agents DROP COLUMN description")
    await sql(fresh_db, "DROP INDEX ix_agents_tenant_id")
    # Hold the table so the heal is stuck in the middle (retrying its ALTER) when it is killed.

    holder = await asyncpg.connect(asyncpg_dsn(fresh_db))
    await holder.execute("BEGIN; LOCK TABLE agents IN ACCESS EXCLUSIVE MODE")
    victim = migrate(fresh_db, tmp_path)
    try:
        for _ in range(400):
            waiting = await holder.fetchval(
                "SELECT count(*) FROM pg_locks WHERE NOT granted AND relation = 'agents'::regclass"
            )
            if waiting:
                break
            await asyncio.sleep(0.05)
        assert waiting, "the heal never reached the locked table"
        victim.send_signal(signal.SIGKILL)
        await finish(victim)
    finally:
        await holder.execute("ROLLBACK")
        await holder.close()

    code, out, err = await finish(migrate(fresh_db, tmp_path))

    assert code == 0, err
    report = json.loads(out)["databases"]["metadata"]
    assert report["verified"]
    applied = {(a["kind"], a["object"]) for a in report["applied"]}
    assert ("add_column", "public.agents.description") in applied
    assert ("create_index", "public.agents.ix_agents_tenant_id") in applied
    # And the schema now verifies from scratch.
    await sql(fresh_db, "DELETE FROM orchestrator_heal_state")
    code, out, _ = await finish(migrate(fresh_db, tmp_path))
    assert code == 0 and json.loads(out)["applied"] == []


async def test_dry_run_prints_the_plan_and_changes_nothing(empty_db: URL, tmp_path: Path) -> None:
    code, out, err = await finish(migrate(empty_db, tmp_path, "--dry-run"))

    assert code == 0, err
    summary = json.loads(out)
    assert summary["dry_run"] is True
    assert {"applied", "drift", "duration_ms"} <= summary.keys()
    planned = {a["object"] for a in summary["applied"] if a["kind"] == "create_table"}
    assert planned == set(METADATA.qualified_names)
    rows = await sql(empty_db, "SELECT count(*) AS n FROM pg_tables WHERE schemaname = 'public'")
    assert rows[0]["n"] == 0


async def test_dry_run_reports_a_vector_schema_opened_to_public(
    fresh_db: URL, vectors_db: URL, tmp_path: Path
) -> None:
    """`migrate --dry-run` names what is open and what to run; `migrate` closes it."""
    await sql(vectors_db, "GRANT EXECUTE ON FUNCTION orch_sources() TO PUBLIC")
    vectors = ("--vector-database-url", url_string(vectors_db))

    code, out, err = await finish(migrate(fresh_db, tmp_path, "--dry-run", *vectors))

    assert code == 0, err
    drift = [d for d in json.loads(out)["drift"] if d["kind"] == "exposed"]
    assert [(d["database"], d["object"]) for d in drift] == [("vectors", "public.orch_sources()")]
    assert "EXECUTE granted to PUBLIC" in drift[0]["detail"]
    assert "orchestrator migrate" in drift[0]["detail"]

    code, out, err = await finish(migrate(fresh_db, tmp_path, *vectors))
    assert code == 0, err
    assert json.loads(out)["drift"] == []


@pytest.fixture
def closed_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A loopback port that accepts connections and never answers."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join()
    for conn in accepted:
        conn.close()
    server.close()


def test_unreachable_database_is_one_clear_paragraph_and_exit_1(
    tmp_path: Path, closed_port: int
) -> None:
    url = f"postgresql://app:s3cret-pw@127.0.0.1:{closed_port}/orchestrator"
    result = run_cli(tmp_path, "migrate", "--database-url", url)

    assert result.returncode == 1
    assert f"host 127.0.0.1 port {closed_port}" in result.stderr
    assert "Traceback" not in result.stderr
    assert "s3cret-pw" not in result.stderr + result.stdout


def test_a_database_that_never_answers_fails_within_the_timeout(
    tmp_path: Path, silent_port: int
) -> None:
    url = f"postgresql://app:pw@127.0.0.1:{silent_port}/orchestrator"
    result = run_cli(tmp_path, "migrate", "--database-url", url, ORCH_CONNECT_TIMEOUT="1")

    assert result.returncode == 1
    assert "no answer within 1 s" in result.stderr
    assert f"port {silent_port}" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["migrate", "--no-such-flag"],
        ["no-such-command"],
        ["migrate", "--database-url", "mysql://u:p@127.0.0.1/db"],
    ],
)
def test_usage_errors_exit_2(tmp_path: Path, args: list[str]) -> None:
    result = run_cli(tmp_path, *args)

    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
