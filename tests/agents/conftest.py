"""Fixtures of the agent-run tests: a network fence, a scripted OpenAI-compatible model on
loopback, and helpers that set up a tenant's agent and run it through the HTTP API.

The scripted model is a real HTTP server on 127.0.0.1 in a daemon thread. Each test gives it
a script, the replies to send in order; it records every request it gets (path, Authorization
header, JSON body). A text or tool-call reply is sent as one JSON completion, or as SSE chunks
ending with a usage chunk and `data: [DONE]` when the request asks to stream, so one script
serves a streamed and a non-streamed run alike. A request beyond the script is answered 500
and fails the test at teardown.

The fence wraps the connection call of the service's guarded HTTP client
(`httpcore.AnyIOBackend.connect_tcp`) and the system resolver: anything beyond loopback is
refused and fails the test.
"""

import asyncio
import json
import re
import threading
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any, TypeVar

import asyncpg
import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy.engine import URL

from orchestrator_service.bootstrap import Runtime, boot
from orchestrator_service.config import Settings
from orchestrator_service.db.urls import asyncpg_dsn, with_database
from orchestrator_service.main import create_app
from tests.conftest import Caller, new_tenant, url_string
from tests.network import LoopbackHTTPServer, network  # noqa: F401 (autouse fence)

LLM_KEY = f"sk-scripted-{uuid.uuid4().hex}"
TEMPLATE = "You are {{ bot }}, the assistant of {{ company }}. Greet {{ customer }} by name."
VARIABLES = {"bot": "Ana", "company": "Acme Peru", "customer": "Rosa"}
RENDERED = "You are Ana, the assistant of Acme Peru. Greet Rosa by name."

T = TypeVar("T")


# --- the scripted model ---------------------------------------------------------------------


def _usage(prompt: int, completion: int) -> dict:
    """An OpenAI usage object."""
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def _chunk(delta: dict, finish: str | None = None) -> dict:
    """One streamed chat-completion chunk."""
    return {
        "id": "chatcmpl-scripted",
        "object": "chat.completion.chunk",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


class _Answer:
    """A reply the model gives as a completion: JSON, or SSE chunks when asked to stream."""

    usage: tuple[int, int]
    finish: str

    def message(self) -> dict:
        """The assistant message of a non-streamed completion."""
        raise NotImplementedError

    def deltas(self) -> list[dict]:
        """The deltas of a streamed completion, in order."""
        raise NotImplementedError

    def serve(self, handler: "_ModelHandler", body: dict) -> None:
        """Answer the request, streamed if it asks to be."""
        usage = _usage(*self.usage)
        if body.get("stream"):
            chunks = [_chunk(d) for d in self.deltas()] + [_chunk({}, self.finish)]
            chunks.append({"id": "chatcmpl-scripted", "choices": [], "usage": usage})
            handler.send_events(chunks)
            return
        handler.send_json(
            200,
            {
                "id": "chatcmpl-scripted",
                "object": "chat.completion",
                "model": body.get("model"),
                "choices": [{"index": 0, "message": self.message(), "finish_reason": self.finish}],
                "usage": usage,
            },
        )


@dataclass
class Say(_Answer):
    """The model answers with text."""

    text: str
    usage: tuple[int, int] = (40, 9)
    finish: str = "stop"

    def message(self) -> dict:
        """The text as an assistant message."""
        return {"role": "assistant", "content": self.text}

    def deltas(self) -> list[dict]:
        """The text word by word."""
        pieces = re.findall(r"\S+\s*|\s+", self.text)
        return [{"role": "assistant", "content": piece} for piece in pieces]


@dataclass
class Call(_Answer):
    """The model asks for one tool call."""

    name: str
    arguments: dict = field(default_factory=dict)
    call_id: str = "call_1"
    usage: tuple[int, int] = (30, 7)
    finish: str = "tool_calls"

    @property
    def tool_call(self) -> dict:
        """The call as OpenAI sends it in a message."""
        return {
            "id": self.call_id,
            "type": "function",
            "function": {"name": self.name, "arguments": json.dumps(self.arguments)},
        }

    def message(self) -> dict:
        """An assistant message with the call and no text."""
        return {"role": "assistant", "content": None, "tool_calls": [self.tool_call]}

    def deltas(self) -> list[dict]:
        """The call's id and name first, then its arguments in two halves."""
        arguments = self.tool_call["function"]["arguments"]
        half = len(arguments) // 2
        head = {
            "index": 0,
            "id": self.call_id,
            "type": "function",
            "function": {"name": self.name, "arguments": ""},
        }
        return [
            {"role": "assistant", "content": None, "tool_calls": [head]},
            {"tool_calls": [{"index": 0, "function": {"arguments": arguments[:half]}}]},
            {"tool_calls": [{"index": 0, "function": {"arguments": arguments[half:]}}]},
        ]


@dataclass
class Refuse:
    """The model API answers an HTTP error, its body echoing the Authorization it got (as a
    careless API might), so a leak through error messages would show."""

    status: int

    def serve(self, handler: "_ModelHandler", body: dict) -> None:
        """Answer the error."""
        echoed = handler.headers.get("Authorization")
        handler.send_json(self.status, {"error": {"message": f"scripted {echoed}"}})


@dataclass
class Malformed:
    """The model API answers 200 with a body that is not JSON (or an SSE chunk that is not)."""

    def serve(self, handler: "_ModelHandler", body: dict) -> None:
        """Answer the broken body."""
        if body.get("stream"):
            handler.send_raw(200, b'data: {"choices": [{"delta": \n\n', "text/event-stream")
        else:
            handler.send_raw(200, b'{"choices": [{"message": {"content": "Hel', "application/json")


@dataclass
class Stall:
    """The model API answers only after `seconds` (or when the test ends)."""

    seconds: float

    def serve(self, handler: "_ModelHandler", body: dict) -> None:
        """Wait, then answer too late."""
        handler.server.model.release.wait(self.seconds)
        Say("Too late.").serve(handler, body)


@dataclass
class HangUp:
    """The model API closes the connection without answering."""

    def serve(self, handler: "_ModelHandler", body: dict) -> None:
        """Answer nothing."""
        handler.close_connection = True


@dataclass
class EchoKey(Say):
    """A careless model API: its answer quotes the Authorization header it was sent, streamed
    three characters at a time so the key arrives split across pieces."""

    text: str = ""

    def serve(self, handler: "_ModelHandler", body: dict) -> None:
        """Answer with the header in the text."""
        self.text = f"You sent me {handler.headers.get('Authorization')}, thanks."
        super().serve(handler, body)

    def deltas(self) -> list[dict]:
        """The text in pieces of three characters."""
        return [{"content": self.text[i : i + 3]} for i in range(0, len(self.text), 3)]


Reply = Say | Call | Refuse | Malformed | Stall | HangUp | EchoKey


@dataclass
class ModelRequest:
    """One request the scripted model received."""

    path: str
    authorization: str | None
    body: Any


class _ModelHandler(BaseHTTPRequestHandler):
    """Records a request and serves the script's next reply."""

    server: "_ModelHttpServer"

    def do_POST(self) -> None:
        """Record the request, then answer with the next reply."""
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length)
        try:
            body = json.loads(raw)
        except ValueError:
            body = raw.decode(errors="replace")
        model = self.server.model
        model.requests.append(ModelRequest(self.path, self.headers.get("Authorization"), body))
        model.next_reply().serve(self, body if isinstance(body, dict) else {})

    def send_raw(self, status: int, payload: bytes, content_type: str) -> None:
        """Answer with a body, unless the client has hung up."""
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        except OSError:  # the client gave up (its timeout): nothing to answer
            pass

    def send_json(self, status: int, payload: Any) -> None:
        """Answer with a JSON body."""
        self.send_raw(status, json.dumps(payload).encode(), "application/json")

    def send_events(self, chunks: list[dict]) -> None:
        """Answer with server-sent events, one chunk at a time, then `[DONE]`."""
        try:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Connection", "close")
            self.end_headers()
            for chunk in chunks:
                self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                self.wfile.flush()
            self.wfile.write(b"data: [DONE]\n\n")
        except OSError:
            pass

    def log_message(self, format: str, *args: Any) -> None:
        """Keep the test output quiet."""


class _ModelHttpServer(LoopbackHTTPServer):
    """A threaded HTTP server that knows its ScriptedModel."""

    model: "ScriptedModel"


class ScriptedModel:
    """An OpenAI-compatible chat-completions API on 127.0.0.1 that follows a script."""

    def __init__(self) -> None:
        self.requests: list[ModelRequest] = []
        self.overruns = 0
        self.release = threading.Event()
        self._script: list[Reply] = []
        self._forever: Reply | None = None
        self._lock = threading.Lock()
        self.httpd = _ModelHttpServer(("127.0.0.1", 0), _ModelHandler)
        self.httpd.model = self
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def play(self, *replies: Reply, forever: Reply | None = None) -> None:
        """Answer the next requests with `replies` in order, then with `forever` if given."""
        with self._lock:
            self._script = list(replies)
            self._forever = forever

    def next_reply(self) -> Reply:
        """The script's next reply; a request beyond the script is an overrun (500)."""
        with self._lock:
            if self._script:
                return self._script.pop(0)
            if self._forever is not None:
                return self._forever
            self.overruns += 1
            return Refuse(500)

    @property
    def bodies(self) -> list[dict]:
        """The JSON bodies of the requests received so far."""
        return [r.body for r in self.requests]

    def __enter__(self) -> "ScriptedModel":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def model() -> Iterator[ScriptedModel]:
    """The scripted model; fails the test if the service asked it more than scripted."""
    with ScriptedModel() as scripted:
        yield scripted
        assert scripted.overruns == 0, "the service called the model more often than scripted"


# --- the service ----------------------------------------------------------------------------


@pytest.fixture
def loopback_guard(runtime: Runtime) -> None:
    """Let the service's guarded HTTP client reach 127.0.0.1 (where the scripted model is)."""
    runtime.guard.allow("127.0.0.1")


async def store_llm_key(client: httpx.AsyncClient, caller: Caller) -> None:
    """Put the LLM key into the caller's vault as OPENAI_API_KEY."""
    response = await client.post(
        "/api/v1/credentials",
        headers=caller.headers,
        json={"name": "OPENAI_API_KEY", "value": LLM_KEY, "category": "openai"},
    )
    assert response.status_code == 201, response.text


@pytest.fixture
async def llm_key(client: httpx.AsyncClient, tenant_a: Caller, loopback_guard: None) -> str:
    """Tenant A's LLM key, in its vault; the guard lets the service reach the model."""
    await store_llm_key(client, tenant_a)
    return LLM_KEY


async def create_agent(
    client: httpx.AsyncClient,
    caller: Caller,
    model: ScriptedModel,
    *,
    config: dict | None = None,
    **fields: Any,
) -> dict:
    """Create an agent that talks to the scripted model, with `get_current_time` enabled."""
    body = {
        "name": "Concierge",
        "system_prompt_template": TEMPLATE,
        "model_version": "scripted-1",
        "model_provider": "openai_compatible",
        "temperature": 0.2,
        "max_tokens": 300,
        "enabled_tools": ["get_current_time"],
        "config": {"base_url": model.base_url, "timeout_s": 5, **(config or {})},
        **fields,
    }
    response = await client.post("/api/v1/agents", headers=caller.headers, json=body)
    assert response.status_code == 201, response.text
    return response.json()


async def run_agent(
    client: httpx.AsyncClient, caller: Caller, agent_id: int, text: str, **body: Any
) -> httpx.Response:
    """POST a run of the agent."""
    return await client.post(
        f"/api/v1/agents/{agent_id}/runs", headers=caller.headers, json={"input": text, **body}
    )


async def get_json(client: httpx.AsyncClient, caller: Caller, path: str, **params: Any) -> Any:
    """GET an API path as the caller; the JSON body of a 200."""
    response = await client.get(f"/api/v1{path}", headers=caller.headers, params=params)
    assert response.status_code == 200, response.text
    return response.json()


async def messages_of(client: httpx.AsyncClient, caller: Caller, conversation_id: str) -> list:
    """A conversation's messages, oldest first."""
    page = await get_json(client, caller, f"/conversations/{conversation_id}/messages", limit=200)
    return list(reversed(page["items"]))


def error_of(response: httpx.Response, status: int, code: str) -> dict:
    """Assert `response` is the one error body with this status and code; return the error."""
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code, error
    assert error["message"], error
    return error


def sse_events(text: str) -> list[tuple[str, dict]]:
    """The (event, data) pairs of a server-sent-event stream."""
    events = []
    for block in text.strip().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines())
        events.append((fields["event"], json.loads(fields["data"])))
    return events


async def eventually(
    fetch: Callable[[], Awaitable[T]], done: Callable[[T], bool], timeout: float = 20
) -> T:
    """Poll `fetch` until `done` holds for its value; the value (AssertionError on timeout)."""
    deadline = time.monotonic() + timeout
    while True:
        value = await fetch()
        if done(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"still not done after {timeout} s: {value}")
        await asyncio.sleep(0.2)


@dataclass
class Service:
    """A booted service, a client talking to it, and a tenant with the LLM key in its vault."""

    runtime: Runtime
    client: httpx.AsyncClient
    tenant: Caller


@asynccontextmanager
async def serve(settings: Settings) -> AsyncIterator[Service]:
    """Boot a service of its own on `settings`, able to reach the scripted model."""
    async with boot(settings) as runtime:
        runtime.guard.allow("127.0.0.1")
        transport = httpx.ASGITransport(app=create_app(settings, runtime=runtime))
        async with httpx.AsyncClient(transport=transport, base_url="http://agents.test") as client:
            tenant = await new_tenant(runtime, f"served-{uuid.uuid4().hex[:6]}")
            await store_llm_key(client, tenant)
            yield Service(runtime, client, tenant)


@asynccontextmanager
async def vector_database(settings: Settings, pg_base_url: URL) -> AsyncIterator[Settings]:
    """`settings` with a vector database of their own, dropped afterwards."""
    name = f"v_{uuid.uuid4().hex[:12]}"
    url = with_database(pg_base_url, name)
    admin = await asyncpg.connect(asyncpg_dsn(pg_base_url))
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        yield settings.model_copy(update={"vector_database_url": SecretStr(url_string(url))})
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture
async def vector_service(settings: Settings, pg_base_url: URL) -> AsyncIterator[Service]:
    """A service with a vector database (so documents can be ingested)."""
    async with vector_database(settings, pg_base_url) as configured, serve(configured) as service:
        yield service


@pytest.fixture(params=["metadata database only", "with a vector database"])
async def any_service(
    request: pytest.FixtureRequest, settings: Settings, pg_base_url: URL
) -> AsyncIterator[Service]:
    """A service booted without, then with, a vector database."""
    if request.param == "metadata database only":
        async with serve(settings) as service:
            yield service
        return
    async with vector_database(settings, pg_base_url) as configured, serve(configured) as service:
        yield service
