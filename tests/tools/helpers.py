"""Helpers of the tool tests: faked DNS, the SSRF guard that uses it, real tool servers on
loopback that record what they receive, and the API calls that register and invoke tools."""

import json
import socket
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from sqlalchemy.engine import URL

from orchestrator_service.bootstrap import Runtime
from tests.helpers import Caller, sql
from tests.network import LoopbackHTTPServer

FAKE_DNS = {
    "localhost": ["127.0.0.1", "::1"],
    "tools.test": ["127.0.0.1"],
    "mirror.test": ["127.0.0.1"],
    "internal.corp.test": ["10.1.2.3"],
    "home.router.test": ["192.168.1.1"],
}
SLOW_SECONDS = 2.0
HUGE_BYTES = 256 * 1024


async def fake_resolver(host: str, port: int) -> list[str]:
    """Resolve the test hostnames of FAKE_DNS; any other name does not exist."""
    if host not in FAKE_DNS:
        raise socket.gaierror(socket.EAI_NONAME, f"{host} is not in the fake DNS")
    return list(FAKE_DNS[host])


def install_guard(runtime: Runtime, *allowed: str) -> None:
    """Give the service an SSRF guard with the fake resolver and this allow-list."""
    runtime.guard.resolver = fake_resolver
    runtime.guard.allow(*allowed)


@dataclass
class Received:
    """One request a tool server received."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        """The request body as JSON (None when empty)."""
        return json.loads(self.body) if self.body else None


class _Handler(BaseHTTPRequestHandler):
    """Routes: /echo, /slow, /fail, /huge, /redirect?to=URL[&code=307], /no-location?code=302
    (a redirect status without a Location), /hang-up (closes without answering),
    /reflect-headers (sends the request's headers back as response headers); all are
    recorded."""

    server: "_Server"

    def _handle(self) -> None:
        """Record the request, then answer according to its path."""
        parts = urlsplit(self.path)
        length = int(self.headers.get("content-length") or 0)
        received = Received(
            method=self.command,
            path=parts.path,
            query=parse_qs(parts.query),
            headers={k.lower(): v for k, v in self.headers.items()},
            body=self.rfile.read(length) if length else b"",
        )
        self.server.tool.received.append(received)
        if parts.path == "/echo":
            self._reply(200, _echo(received))
        elif parts.path == "/slow":
            self.server.tool.release.wait(SLOW_SECONDS)
            self._reply(200, {"slow": True})
        elif parts.path == "/fail":
            self._reply(500, {"error": "the tool exploded"})
        elif parts.path == "/huge":
            self._send(200, b"x" * HUGE_BYTES, "text/plain")
        elif parts.path == "/redirect":
            status = int(received.query.get("code", ["302"])[0])
            self._send(status, b"", "text/plain", location=received.query["to"][0])
        elif parts.path == "/no-location":
            self._send(int(received.query.get("code", ["302"])[0]), b"", "text/plain")
        elif parts.path == "/hang-up":
            self.close_connection = True
        elif parts.path == "/reflect-headers":
            reflected = {f"X-Echo-{k}": v for k, v in received.headers.items()}
            self._send(200, b"{}", "application/json", headers=reflected)
        else:
            self._reply(404, {"error": "no such route"})

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

    def _reply(self, status: int, payload: Any) -> None:
        """Answer with a JSON body."""
        self._send(status, json.dumps(payload).encode(), "application/json")

    def _send(
        self,
        status: int,
        body: bytes,
        content_type: str,
        location: str = "",
        headers: dict[str, str] | None = None,
    ) -> None:
        """Answer, unless the client has already hung up."""
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            if location:
                self.send_header("Location", location)
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)
        except OSError:  # the client gave up (timeout, size cap): nothing to answer
            pass

    def log_message(self, format: str, *args: Any) -> None:
        """Keep the test output quiet."""


def _echo(received: Received) -> dict:
    """What /echo answers: everything it received, headers included."""
    return {
        "method": received.method,
        "path": received.path,
        "query": received.query,
        "headers": received.headers,
        "json": received.json,
    }


class _Server(LoopbackHTTPServer):
    """A threaded HTTP server that knows the ToolServer recording for it."""

    tool: "ToolServer"


class ToolServer:
    """A real HTTP tool service on 127.0.0.1, in a daemon thread, recording its requests."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.release = threading.Event()
        self.httpd = _Server(("127.0.0.1", 0), _Handler)
        self.httpd.tool = self
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def url(self, path: str, host: str = "tools.test") -> str:
        """The URL of `path` on this server, under `host` (a fake-DNS name or 127.0.0.1)."""
        return f"http://{host}:{self.port}{path}"

    def __enter__(self) -> "ToolServer":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


async def create_tool(client: httpx.AsyncClient, caller: Caller, **fields: Any) -> dict:
    """Register a tool through the API and return its body."""
    response = await client.post("/api/v1/tools", headers=caller.headers, json=fields)
    assert response.status_code == 201, response.text
    return response.json()


async def http_tool(
    client: httpx.AsyncClient, caller: Caller, name: str, url: str, **config: Any
) -> dict:
    """Register an HTTP tool calling `url` (POST unless `method` says otherwise)."""
    return await create_tool(client, caller, name=name, type="http", config={"url": url, **config})


async def create_credential(
    client: httpx.AsyncClient, caller: Caller, name: str, value: str, **fields: Any
) -> dict:
    """Store a credential through the API and return its metadata. Unless `allowed_hosts` is
    given it may be sent to tools.test, the tool server's name (with none it could go nowhere,
    or only to its category's provider)."""
    fields.setdefault("allowed_hosts", ["tools.test"])
    response = await client.post(
        "/api/v1/credentials", headers=caller.headers, json={"name": name, "value": value, **fields}
    )
    assert response.status_code == 201, response.text
    return response.json()


async def invoke(
    client: httpx.AsyncClient,
    caller: Caller,
    agent_id: int,
    tool: str,
    arguments: dict | None = None,
    **extra: Any,
) -> httpx.Response:
    """Invoke one of an agent's tools through the API."""
    return await client.post(
        f"/api/v1/agents/{agent_id}/tools/{tool}/invoke",
        headers=caller.headers,
        json={"arguments": arguments or {}, **extra},
    )


async def executions(url: URL) -> list[dict]:
    """The `tool_executions` rows, oldest first, JSON decoded, each with its whole row as text."""
    rows = await sql(
        url,
        "SELECT t.*, t::text AS whole FROM tool_executions t ORDER BY started_at, created_at",
    )
    decoded = []
    for row in rows:
        item = dict(row)
        for column in ("input_parameters", "output_result"):
            if item[column] is not None:
                item[column] = json.loads(item[column])
        decoded.append(item)
    return decoded


async def audit_entries(client: httpx.AsyncClient, caller: Caller, **filters: str) -> list[dict]:
    """The caller's audit entries (first page), newest first."""
    response = await client.get(
        "/api/v1/audit-logs", headers=caller.headers, params={"limit": 200, **filters}
    )
    assert response.status_code == 200, response.text
    return response.json()["items"]
