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

from tests.helpers import ORCHESTRATOR, cli_env, eventually, finish, free_port, wait_ready

DOCS = "/api/v1/rag/documents"


class HeldTool:
    """A tool server on loopback that answers only when the test releases it, so a request to
    it is in flight for as long as the test needs."""

    def __init__(self) -> None:
        self.arrived = threading.Event()
        self.release = threading.Event()
        held = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                held.arrived.set()
                held.release.wait(60)
                body = b'{"done": true}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                """Silence the default request log."""

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/slow"


@pytest.fixture
def held_tool() -> Iterator[HeldTool]:
    """The tool the in-flight request waits on."""
    tool = HeldTool()
    threading.Thread(target=tool.server.serve_forever, daemon=True).start()
    yield tool
    tool.release.set()
    tool.server.shutdown()
    tool.server.server_close()


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
    tmp_path: Path, held_tool: HeldTool
) -> None:
    env = cli_env(
        tmp_path,
        ORCH_OUTBOUND_ALLOWED_HOSTS="127.0.0.1",
        ORCH_SHUTDOWN_TIMEOUT="60",
        ORCH_JOB_LEASE_SECONDS="3",
    )
    port = free_port()
    log = tmp_path / "serve.log"
    process, lines = _serve(env, port, log)
    postmaster = tmp_path / "data" / "pgdata" / "postmaster.pid"
    base = f"http://127.0.0.1:{port}"
    async with httpx.AsyncClient(base_url=base, timeout=60) as client:
        await wait_ready(client, process)
        headers = {"Authorization": f"Bearer {_admin_key(lines)}"}
        tool = {"name": "slow", "type": "http", "config": {"url": held_tool.url, "timeout_s": 30}}
        assert (await client.post("/api/v1/tools", headers=headers, json=tool)).status_code == 201
        agent = (
            await client.post(
                "/api/v1/agents",
                headers=headers,
                json={"name": "a", "system_prompt_template": "x", "enabled_tools": ["slow"]},
            )
        ).json()
        # 150 chunks, three embedding batches of 64: the job is still running after the first.
        text = "\n\n".join(f"Part {i}. " + "All about shutdowns. " * 60 for i in range(75))
        document = (
            await client.post(DOCS, headers=headers, files={"file": ("long.txt", text.encode())})
        ).json()

        async def state() -> dict:
            return (await client.get(f"{DOCS}/{document['id']}", headers=headers)).json()

        await eventually(state, lambda body: body["chunks_done"] > 0, attempts=1200)
        in_flight = asyncio.create_task(
            client.post(
                f"/api/v1/agents/{agent['id']}/tools/slow/invoke",
                headers=headers,
                json={"arguments": {}},
            )
        )
        assert await asyncio.to_thread(held_tool.arrived.wait, 60), "the tool was never called"

        process.send_signal(signal.SIGTERM)
        # The tool answers once the server is shutting down with the request still open.
        await eventually(
            lambda: asyncio.to_thread(log.read_text), lambda text: "Shutting down" in text
        )
        held_tool.release.set()
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
            await wait_ready(client, process)
            state_at_exit = await eventually(
                state, lambda body: body["status"] in ("ready", "failed"), attempts=1800
            )
        finally:
            process.send_signal(signal.SIGTERM)
            await finish(process, timeout=120)
    assert state_at_exit["status"] == "ready", state_at_exit
    assert state_at_exit["chunks_done"] == state_at_exit["chunk_count"] > 0
