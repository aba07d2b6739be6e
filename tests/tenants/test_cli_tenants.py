"""`orchestrator tenant create`, `platform-key create`, and the default tenant of `serve`."""

import asyncio
import json
import re
import signal
import subprocess
from pathlib import Path

import httpx
from sqlalchemy.engine import URL

from orchestrator_service.auth.tokens import hash_token
from tests.helpers import (
    ORCHESTRATOR,
    Caller,
    bearer,
    cli_env,
    free_port,
    run_cli,
    sql,
    url_string,
    wait_ready,
)

KEY = re.compile(r"orch_[0-9a-f]{12}_[A-Za-z0-9_-]+")


async def _cli(tmp_path: Path, url: URL, *args: str) -> subprocess.CompletedProcess:
    """Run `orchestrator` against the test's database without blocking the event loop."""
    return await asyncio.to_thread(run_cli, tmp_path, *args, ORCH_DATABASE_URL=url_string(url))


async def test_tenant_create_prints_one_json_object_with_a_working_key(
    client: httpx.AsyncClient, fresh_db: URL, tmp_path: Path
) -> None:
    result = await _cli(tmp_path, fresh_db, "tenant", "create", "acme", "--json")

    assert result.returncode == 0, result.stderr
    (line,) = result.stdout.splitlines()
    printed = json.loads(line)
    assert set(printed) == {"tenant_id", "api_key"}
    assert isinstance(printed["tenant_id"], int) and isinstance(printed["api_key"], str)
    assert printed["api_key"] not in result.stderr
    rows = await sql(
        fresh_db, "SELECT key_hash, role FROM api_keys WHERE tenant_id = $1", printed["tenant_id"]
    )
    assert [(r["key_hash"], r["role"]) for r in rows] == [(hash_token(printed["api_key"]), "admin")]
    me = await client.get("/api/v1/me", headers=bearer(printed["api_key"]))
    assert me.status_code == 200
    assert (me.json()["tenant_id"], me.json()["tenant_name"], me.json()["role"]) == (
        printed["tenant_id"],
        "acme",
        "admin",
    )


async def test_a_duplicate_tenant_name_exits_1_with_a_clear_message(
    client: httpx.AsyncClient, tenant_a: Caller, fresh_db: URL, tmp_path: Path
) -> None:
    before = await sql(fresh_db, "SELECT count(*) AS n FROM api_keys")

    result = await _cli(tmp_path, fresh_db, "tenant", "create", "tenant-a", "--json")

    assert result.returncode == 1
    assert result.stdout == ""
    assert "already exists" in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("orchestrator tenant:")
    assert await sql(fresh_db, "SELECT count(*) AS n FROM api_keys") == before
    rows = await sql(fresh_db, "SELECT id FROM tenants WHERE name = 'tenant-a'")
    assert [r["id"] for r in rows] == [tenant_a.tenant_id]


async def test_a_blank_tenant_name_is_a_usage_error(fresh_db: URL, tmp_path: Path) -> None:
    result = await _cli(tmp_path, fresh_db, "tenant", "create", "   ", "--json")

    assert result.returncode == 2
    assert result.stdout == "" and "Traceback" not in result.stderr
    assert await sql(fresh_db, "SELECT id FROM tenants") == []


async def test_a_platform_key_from_the_cli_lists_tenants(
    client: httpx.AsyncClient, tenant_a: Caller, fresh_db: URL, tmp_path: Path
) -> None:
    result = await _cli(tmp_path, fresh_db, "platform-key", "create", "ops", "--json")

    assert result.returncode == 0, result.stderr
    (line,) = result.stdout.splitlines()
    printed = json.loads(line)
    assert set(printed) == {"api_key"}
    rows = await sql(fresh_db, "SELECT key_hash, tenant_id, role FROM api_keys WHERE name = 'ops'")
    assert [tuple(r.values()) for r in rows] == [
        (hash_token(printed["api_key"]), None, "platform_admin")
    ]
    listed = await client.get("/api/v1/tenants", headers=bearer(printed["api_key"]))
    assert listed.status_code == 200
    assert [t["id"] for t in listed.json()["items"]] == [tenant_a.tenant_id]


def _start_serve(tmp_path: Path, run: str) -> tuple[subprocess.Popen, int]:
    """Start `orchestrator serve` on a free port with only ORCH_DATA_DIR set; output to files."""
    port = free_port()
    with (tmp_path / f"{run}.out").open("w") as out, (tmp_path / f"{run}.err").open("w") as err:
        process = subprocess.Popen(
            [ORCHESTRATOR, "serve", "--port", str(port)],
            env=cli_env(tmp_path),
            stdout=out,
            stderr=err,
        )
    return process, port


async def _stop(process: subprocess.Popen) -> int:
    """Stop a server with SIGTERM and return its exit code."""
    process.send_signal(signal.SIGTERM)
    return await asyncio.to_thread(process.wait, 60)


async def test_serve_on_the_embedded_default_prints_a_default_tenant_key_once(
    tmp_path: Path,
) -> None:
    first, port = _start_serve(tmp_path, "first")
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            await wait_ready(http, first)
            printed = (tmp_path / "first.out").read_text()
            (api_key,) = KEY.findall(printed)
            me = await http.get(
                "/api/v1/me", headers={**bearer(api_key), "X-Request-ID": "serve-me-1"}
            )
    finally:
        first_code = await _stop(first)

    assert first_code == 0, (tmp_path / "first.err").read_text()
    assert printed.count("Created tenant 'default'") == 1
    assert me.status_code == 200
    assert (me.json()["tenant_name"], me.json()["role"]) == ("default", "admin")
    logged = (tmp_path / "first.err").read_text()
    assert api_key not in logged
    # The access log line carries the request id the client sent.
    assert re.search(r"orchestrator_service\.access \[serve-me-1\] GET /api/v1/me 200", logged)

    second, port = _start_serve(tmp_path, "second")
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            await wait_ready(http, second)
            again = await http.get("/api/v1/me", headers=bearer(api_key))
    finally:
        second_code = await _stop(second)

    assert second_code == 0, (tmp_path / "second.err").read_text()
    assert again.status_code == 200
    reprinted = (tmp_path / "second.out").read_text()
    assert KEY.findall(reprinted) == [] and "Created tenant" not in reprinted
