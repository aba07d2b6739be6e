"""Schemathesis over the whole OpenAPI schema, in process (ASGI, no socket), as a tenant admin
and as a member (a member key made through the API): no 5xx, and every response matches what
the schema documents for it (status code, content type, body); in negative mode, invalid
input is also refused.

The application runs on the test session's event loop with a booted runtime (real PostgreSQL
for metadata and vectors); Hypothesis generates in a worker thread and hands each request to
that loop. No operation is excluded but the endless event stream (`GET /events/stream`, which
an in-process ASGI client cannot read: it buffers a response until the app ends it; tests/live
proves it over a socket): outbound calls (tools, models, webhooks) go through the
SSRF guard, whose resolver here knows no name, and the network fence fails the test on any
connection beyond loopback or any system name lookup.

Bounded for CI: `MAX_EXAMPLES` cases per operation, mode and caller (about 2,400 in all, a
minute or two on 2 cores), derandomized so every run sends the same cases. Each finding is
also held by a plain test in tests/test_api_schema.py.
"""

import asyncio
import copy
import json
import socket
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

import httpx
import hypothesis
import hypothesis.errors
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given
from pydantic import SecretStr
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy.engine import URL

from orchestrator_service.bootstrap import Runtime, boot
from orchestrator_service.config import Settings
from orchestrator_service.main import create_app
from tests.helpers import Caller, new_tenant, url_string
from tests.network import LoopbackHTTPServer, network  # noqa: F401 (autouse fence)

MAX_EXAMPLES = 8
BASE_URL = "http://orchestrator.test"
API = "/api/v1"
POSITIVE_CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
# Invalid input must be refused (4xx), and the refusal must match the schema too.


def negative_data_refused(ctx: Any, response: Any, case: schemathesis.Case) -> bool | None:
    """`negative_data_rejection`, with 413 counted as a refusal too: a generated body can pass
    ORCH_MAX_BODY_BYTES, and is then refused before it is read."""
    if response.status_code == 413:
        return None
    return negative_data_rejection(ctx, response, case)


NEGATIVE_CHECKS = [*POSITIVE_CHECKS, negative_data_refused]


async def no_dns(host: str, port: int) -> list[str]:
    """The SSRF guard's resolver: no name exists (IP literals are checked without it)."""
    raise socket.gaierror(socket.EAI_NONAME, f"{host} does not resolve in this test")


class _Upstream(BaseHTTPRequestHandler):
    """The one upstream on loopback: an OpenAI-compatible model that always says "ok" (a JSON
    completion, or SSE chunks when asked to stream) and, on any other path, a tool service
    that echoes what it got."""

    def _answer(self, status: int, payload: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("content-length") or 0))
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            body = {}
        if not self.path.endswith("/chat/completions"):
            self._answer(200, json.dumps({"ok": True, "got": body}).encode(), "application/json")
            return
        usage = {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6}
        message = {"role": "assistant", "content": "ok"}
        if isinstance(body, dict) and body.get("stream"):
            chunks = [
                {"choices": [{"index": 0, "delta": message, "finish_reason": None}]},
                {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
                {"choices": [], "usage": usage},
            ]
            events = "".join(f"data: {json.dumps(c)}\n\n" for c in chunks) + "data: [DONE]\n\n"
            self._answer(200, events.encode(), "text/event-stream")
            return
        completion = {
            "id": "chatcmpl-fuzz",
            "object": "chat.completion",
            "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
            "usage": usage,
        }
        self._answer(200, json.dumps(completion).encode(), "application/json")

    def do_GET(self) -> None:
        self._answer(200, b'{"ok": true}', "application/json")

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""


@pytest.fixture
def upstream() -> Iterator[str]:
    """The loopback upstream's base URL."""
    server = LoopbackHTTPServer(("127.0.0.1", 0), _Upstream)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture
async def fuzz_runtime(settings: Settings, vectors_db: URL) -> AsyncIterator[Runtime]:
    """A runtime with a vector database of its own; its guard resolves no name and allows
    only 127.0.0.1 (where the upstream stand-in listens)."""
    configured = settings.model_copy(
        update={"vector_database_url": SecretStr(url_string(vectors_db))}
    )
    async with boot(configured) as runtime:
        runtime.guard.resolver = no_dns
        runtime.guard.allow("127.0.0.1")
        yield runtime


@dataclass
class Findings:
    """What the run saw: cases per caller and mode, statuses, and failures per operation."""

    cases: Counter = field(default_factory=Counter)
    statuses: Counter = field(default_factory=Counter)
    answered: set[str] = field(default_factory=set)  # operations that gave a 2xx
    failures: dict[str, list[str]] = field(default_factory=dict)
    request_seconds: float = 0.0

    @property
    def total(self) -> int:
        return sum(self.cases.values())


async def _seed(client: httpx.AsyncClient, admin: Caller, upstream: str) -> dict[str, Any]:
    """One object of every kind, made through the API, for the pass that names real ones:
    the path-parameter values by name. The agent whose sub-resources are fuzzed talks to the
    loopback model and has the loopback echo tool; the agent, tool and credential that
    `/agents/{id}`, `/tools/{id}` and `/credentials/{id}` get (and may change or delete) are
    others, so the runs keep working."""

    async def post(path: str, **kwargs: Any) -> Any:
        response = await client.post(f"{API}{path}", headers=admin.headers, **kwargs)
        assert response.status_code in (200, 201, 202), (path, response.text)
        return response.json()

    loopback = {"allowed_hosts": ["127.0.0.1"]}
    await post(
        "/credentials",
        json={"name": "OPENAI_API_KEY", "value": "sk-fuzz", "category": "openai", **loopback},
    )
    credential = await post("/credentials", json={"name": "SPARE", "value": "spare", **loopback})
    await post("/tools", json={"name": "fuzz_echo", "type": "http", "service_url": f"{upstream}/e"})
    tool = await post(
        "/tools", json={"name": "fuzz_spare", "type": "http", "service_url": upstream}
    )
    agent = await post(
        "/agents",
        json={
            "name": "fuzzed",
            "system_prompt_template": "You help {{ customer }}.",
            "enabled_tools": ["fuzz_echo"],
            "config": {"base_url": f"{upstream}/v1", "timeout_s": 5},
        },
    )
    spare = await post("/agents", json={"name": "spare", "system_prompt_template": "hi"})
    memory = await post(
        f"/agents/{agent['id']}/memories", json={"user_key": "u1", "key": "k", "value": "v"}
    )
    run = await post(f"/agents/{agent['id']}/runs", json={"input": "hello"})
    conversation = await post("/conversations", json={"agent_id": agent["id"]})
    asset = await post("/business-assets", json={"asset_type": "faq", "content": {"q": "a"}})
    document = await post("/rag/documents", files={"file": ("a.txt", b"hola", "text/plain")})
    user = await post("/users", json={"email": "fuzz.user@acme.io"})
    key = await post("/api-keys", json={"name": "spare key"})
    logs = await client.get(f"{API}/audit-logs", headers=admin.headers)
    return {
        "agent_id": agent["id"],
        "spare_agent_id": spare["id"],
        "tool_name": "fuzz_echo",
        "tool_id": tool["id"],
        "credential_id": credential["id"],
        "memory_id": memory["id"],
        "execution_id": run["execution_id"],
        "conversation_id": conversation["id"],
        "asset_id": asset["id"],
        "document_id": document["id"],
        "user_id": user["id"],
        "key_id": key["id"],
        "audit_log_id": logs.json()["items"][0]["id"],
        "tenant_id": admin.tenant_id,
    }


def _real_path_parameters(path: str, ids: dict[str, Any]) -> dict[str, Any] | None:
    """The seeded ids for an operation's path, or None if it names something not seeded."""
    names = [part[1:-1] for part in path.split("/") if part.startswith("{")]
    values = dict(ids)
    if path == f"{API}/agents/{{agent_id}}":
        values["agent_id"] = ids["spare_agent_id"]
    if not names or not set(names) <= values.keys():
        return None
    return {name: values[name] for name in names}


def _sent_with_a_key(openapi: dict) -> dict:
    """The schema without its security requirements: every case here carries a caller's key
    (see `_send`), so a case "without the Authorization header" would be sent with it anyway.
    Refusing a missing or bad key is proved in tests/auth and tests/test_isolation.py."""
    schema = copy.deepcopy(openapi)
    for operations in schema["paths"].values():
        for operation in operations.values():
            operation.pop("security", None)
    return schema


def _send(
    loop: asyncio.AbstractEventLoop, client: httpx.AsyncClient, case: schemathesis.Case, key: str
) -> httpx.Response:
    """Serialize the case as Schemathesis would for `requests`, send it on the app's loop."""
    kwargs = case.as_transport_kwargs(base_url=BASE_URL, headers={"Authorization": f"Bearer {key}"})
    request = requests.Request(
        **{
            k: v
            for k, v in kwargs.items()
            if k in {"method", "url", "headers", "params", "json", "data", "files", "cookies"}
        }
    ).prepare()
    future = asyncio.run_coroutine_threadsafe(
        client.request(
            request.method or "GET",
            request.url or BASE_URL,
            headers=dict(request.headers),
            content=request.body,
        ),
        loop,
    )
    return future.result(timeout=60)


def _runner(
    strategy: object,
    checks: list,
    send: Callable[[schemathesis.Case], httpx.Response],
    count: Callable[[int], None],
) -> Callable[[], None]:
    """A Hypothesis test of one operation, mode and caller."""

    @hypothesis.settings(
        max_examples=MAX_EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def run(case: schemathesis.Case) -> None:
        response = send(case)
        count(response.status_code)
        case.validate_response(response, checks=checks)

    return run


def _endless(operation: dict) -> bool:
    """True for an operation that answers an endless event stream."""
    content = operation.get("responses", {}).get("200", {}).get("content", {})
    return set(content) == {"text/event-stream"}


def _fuzz(
    schema: schemathesis.schemas.BaseSchema,
    loop: asyncio.AbstractEventLoop,
    client: httpx.AsyncClient,
    callers: dict[str, str],
    ids: dict[str, Any],
    findings: Findings,
) -> None:
    """Every operation in both generation modes, then (positive) every operation whose path
    names objects with the seeded ones, deletions last; each for every caller. Runs in a
    worker thread."""
    operations = [
        operation
        for operation in (result.ok() for result in schema.get_all_operations())
        if not _endless(operation.definition.raw)
    ]
    passes = [
        (operation, mode, checks, None)
        for operation in operations
        for mode, checks in (
            (GenerationMode.POSITIVE, POSITIVE_CHECKS),
            (GenerationMode.NEGATIVE, NEGATIVE_CHECKS),
        )
    ]
    for operation in sorted(operations, key=lambda o: o.method.lower() == "delete"):
        real = _real_path_parameters(operation.path, ids)
        if real is not None:
            passes.append((operation, GenerationMode.POSITIVE, POSITIVE_CHECKS, real))
    for operation, mode, checks, real in passes:
        label = f"{operation.method.upper()} {operation.path}"
        kind = "seeded ids" if real else mode.value
        strategy = operation.as_strategy(generation_mode=mode, path_parameters=real)
        for who, key in callers.items():

            def count(status: int, tag: tuple = (who, kind), op: str = label) -> None:
                findings.cases[tag] += 1
                findings.statuses[status] += 1
                if status < 300:
                    findings.answered.add(op)

            def send(case: schemathesis.Case, key: str = key) -> httpx.Response:
                started = time.perf_counter()
                try:
                    return _send(loop, client, case, key)
                finally:
                    findings.request_seconds += time.perf_counter() - started

            try:
                _runner(strategy, checks, send, count)()
            except hypothesis.errors.Unsatisfiable:
                continue  # nothing to make invalid (no parameters, no body)
            # Schemathesis' FailureGroup is a BaseExceptionGroup; collected and reported
            # together at the end.
            except (Exception, BaseExceptionGroup) as exc:
                findings.failures.setdefault(label, []).append(f"[{who}, {kind}] {exc}"[:1500])


@pytest.mark.parametrize("role", ["admin", "member"])
async def test_every_operation_as_admin_and_member(
    fuzz_runtime: Runtime, settings: Settings, upstream: str, role: str
) -> None:
    app = create_app(settings, runtime=fuzz_runtime)
    admin = await new_tenant(fuzz_runtime, "fuzz")
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 51000))
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as client:
        created = await client.post(
            f"{API}/api-keys",
            json={"name": "member key", "role": "member"},
            headers=admin.headers,
        )
        assert created.status_code == 201, created.text
        member = Caller(api_key=created.json()["api_key"], tenant_id=admin.tenant_id)
        ids = await _seed(client, admin, upstream)
        schema = schemathesis.openapi.from_dict(_sent_with_a_key(app.openapi()))
        findings = Findings()
        started = time.perf_counter()
        await asyncio.to_thread(
            _fuzz,
            schema,
            asyncio.get_running_loop(),
            client,
            {role: {"admin": admin.api_key, "member": member.api_key}[role]},
            ids,
            findings,
        )
        elapsed = time.perf_counter() - started
    print(
        f"\nSchemathesis: {findings.total} cases in {elapsed:.0f} s "
        f"({findings.request_seconds:.0f} s in requests) "
        f"({dict(findings.cases)}); statuses {dict(sorted(findings.statuses.items()))}; "
        f"{sum(n for s, n in findings.statuses.items() if s >= 500)} server errors; "
        f"{len(findings.answered)} operations answered 2xx at least once"
    )
    report = "\n\n".join(f"{op}:\n" + "\n".join(f) for op, f in findings.failures.items())
    assert not findings.failures, report
