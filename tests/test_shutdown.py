"""SIGTERM to a running `orchestrator serve` with a request and an ingestion job in flight:
both finish (or the job is handed back and finished by the next process), the process exits 0
and the embedded database is stopped."""

import asyncio
import queue
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from tests.test_cli import ORCHESTRATOR, cli_env, finish
from tests.test_embedded import _free_port, _wait_ready

DOCS = "/api/v1/rag/documents"


@pytest.fixture
def slow_tool() -> Iterator[str]:
    """A tool server on loopback that takes two seconds to answer."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            time.sleep(2)
            body = b'{"done": true}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            """Silence the default request log."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/slow"
    server.shutdown()
    server.server_close()


def _serve(env: dict, port: int, log: Path) -> tuple[subprocess.Popen, "queue.Queue[str]"]:
    process = subprocess.Popen(
        [ORCHESTRATOR, "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=log.open("a"),
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(
        target=lambda: [lines.put(line) for line in process.stdout], daemon=True
    ).start()
    return process, lines


def _admin_key(lines: "queue.Queue[str]") -> str:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        line = lines.get(timeout=120).strip()
        if line.startswith("orch_"):
            return line
    raise AssertionError("serve printed no admin key")


async def test_sigterm_finishes_what_is_in_flight_and_stops_cleanly(
    tmp_path: Path, slow_tool: str
) -> None:
    env = cli_env(
        tmp_path,
        ORCH_OUTBOUND_ALLOWED_HOSTS="127.0.0.1",
        ORCH_SHUTDOWN_TIMEOUT="60",
        ORCH_JOB_LEASE_SECONDS="3",
    )
    port = _free_port()
    log = tmp_path / "serve.log"
    process, lines = _serve(env, port, log)
    postmaster = tmp_path / "data" / "pgdata" / "postmaster.pid"
    base = f"http://127.0.0.1:{port}"
    async with httpx.AsyncClient(base_url=base, timeout=60) as client:
        await _wait_ready(client, process)
        headers = {"Authorization": f"Bearer {_admin_key(lines)}"}
        tool = {"name": "slow", "type": "http", "config": {"url": slow_tool, "timeout_s": 10}}
        assert (await client.post("/api/v1/tools", headers=headers, json=tool)).status_code == 201
        agent = (
            await client.post(
                "/api/v1/agents",
                headers=headers,
                json={"name": "a", "system_prompt_template": "x", "enabled_tools": ["slow"]},
            )
        ).json()
        text = "\n\n".join(f"Part {i}. " + "All about shutdowns. " * 60 for i in range(150))
        document = (
            await client.post(DOCS, headers=headers, files={"file": ("long.txt", text.encode())})
        ).json()
        deadline = time.monotonic() + 120
        while (await client.get(f"{DOCS}/{document['id']}", headers=headers)).json()[
            "chunks_done"
        ] == 0:
            assert time.monotonic() < deadline, "ingestion never started"
            await asyncio.sleep(0.1)
        in_flight = asyncio.create_task(
            client.post(
                f"/api/v1/agents/{agent['id']}/tools/slow/invoke",
                headers=headers,
                json={"arguments": {}},
            )
        )
        await asyncio.sleep(0.5)  # the request is now waiting on the slow tool

        process.send_signal(signal.SIGTERM)
        answered = await in_flight
        code, _, _ = await finish(process, timeout=120)
        state_at_exit = None

        assert answered.status_code == 200 and answered.json()["output"] == {"done": True}
        assert code == 0
        assert not postmaster.exists(), "the embedded PostgreSQL must be stopped"

        # The job either finished before the exit, or was handed back: the next process
        # finishes it.
        process, lines = _serve(env, port, log)
        try:
            await _wait_ready(client, process)
            deadline = time.monotonic() + 180
            while True:
                state_at_exit = (
                    await client.get(f"{DOCS}/{document['id']}", headers=headers)
                ).json()
                if state_at_exit["status"] in ("ready", "failed") or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.3)
        finally:
            process.send_signal(signal.SIGTERM)
            await finish(process, timeout=120)
    assert state_at_exit["status"] == "ready", state_at_exit
    assert state_at_exit["chunks_done"] == state_at_exit["chunk_count"] > 0
