"""The embedded default: `orchestrator serve` with no database URL, shared by a second process."""

import json
import signal
import subprocess
from pathlib import Path

import httpx

from tests.helpers import ORCHESTRATOR, cli_env, finish, free_port, wait_ready


async def test_serve_on_the_embedded_default_shares_its_server_and_stops_it(
    tmp_path: Path,
) -> None:
    port = free_port()
    env = cli_env(tmp_path)
    serve = subprocess.Popen(
        [ORCHESTRATOR, "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    postmaster = tmp_path / "data" / "pgdata" / "postmaster.pid"
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            ready = (await wait_ready(client, serve)).json()
            assert ready == {"ready": True}  # to an anonymous caller, the status alone
            assert (await client.get("/health/live")).json() == {"status": "ok"}

            # A second process with the same data dir joins the running server.
            second = subprocess.Popen(
                [ORCHESTRATOR, "migrate", "--json"],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            code, out, err = await finish(second)
            assert code == 0, err
            healed = json.loads(out)["databases"]
            assert {"metadata", "vectors"} <= healed.keys()
            assert all(r["fast_path"] and r["verified"] for r in healed.values())
            # Its exit does not stop the server the first process still uses.
            assert postmaster.exists()
            assert (await client.get("/health/ready")).status_code == 200
    finally:
        serve.send_signal(signal.SIGTERM)
        code, _, err = await finish(serve, timeout=60)

    assert code == 0, err
    assert not postmaster.exists(), "the last process out must stop the embedded PostgreSQL"
