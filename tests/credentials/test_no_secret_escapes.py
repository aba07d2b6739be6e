"""No secret leaves the vault except inside the outbound request: a property test (Hypothesis).

Each example stores fresh random secrets (two tenants' and a global one, stored with a platform
key), then drives every path that resolves a credential:

- an HTTP tool with generated URL, header and body templates and arguments, created and
  invoked through the API against a loopback service that misbehaves as generated: error
  statuses, redirects on and off the host, to a private address and without a Location,
  echoes of the request as JSON, as text and as JSON text, hang-ups, truncated, slow,
  oversized and non-standard bodies, request headers reflected in response headers;
- an agent run, plain or streamed, whose scripted model calls that tool, echoes its key,
  refuses, hangs up or answers garbage;
- an ingestion through an OpenAI-compatible embeddings stand-in that answers, refuses
  (echoing the key), hangs up or answers text.

Then every response, a `pg_dump` of both databases and every log record are searched for every
secret stored so far. Each secret holds a distinctive core of capital letters (no template,
argument or other generated value holds any), wrapped in characters that URLs, JSON, headers
and COPY escape, so any form of a leak (raw, trimmed, percent-encoded, JSON- or COPY-escaped)
still shows the core. The service is booted once; the examples share it.
"""

import asyncio
import json
import logging
import string
import subprocess
import threading
import uuid
from collections.abc import Iterator
from contextlib import AsyncExitStack, contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import httpx
import hypothesis
import pytest
from hypothesis import HealthCheck, Phase
from hypothesis import strategies as st
from pgserver._commands import POSTGRES_BIN_PATH
from pydantic import SecretStr
from sqlalchemy.engine import URL

from orchestrator_service.bootstrap import Runtime, boot
from orchestrator_service.config import Settings
from orchestrator_service.db.urls import asyncpg_dsn, with_database
from orchestrator_service.main import create_app
from orchestrator_service.rag.embedders.local import DIMENSIONS
from orchestrator_service.tenants import service as tenant_service
from tests.agents.helpers import add_catalogue_model
from tests.helpers import TEST_ACTOR, Caller, new_tenant, url_string
from tests.network import LoopbackHTTPServer, network  # noqa: F401 (autouse fence)
from tests.scripted_model import Call, EchoKey, HangUp, Malformed, Refuse, Say, ScriptedModel
from tests.tools.helpers import fake_resolver

EXAMPLES = 50
CORE = "ABCDEFGHJKLMNPQRSTUVWXYZ"  # what no generated value other than a secret contains
AWKWARD = " \"'\\%&=+/?#;\téü€<>{}\x01\n"
SECRET = st.builds(
    lambda head, core, tail: head + core + tail,
    st.text(AWKWARD, max_size=3),
    st.text(CORE, min_size=12, max_size=20),
    st.text(AWKWARD, max_size=3),
)
LITERAL = st.text(string.ascii_lowercase + string.digits + " -_.,:;/", max_size=8)
CONTROL = st.sampled_from(["\x01", "\r\n", "\x7f", "\x1b"])
REFS = ["own0", "own1", "global", "other", "missing"]
CREDENTIAL = st.sampled_from(REFS).map(lambda ref: f"{{{{credential:${ref}}}}}")
ARGUMENT = st.sampled_from(["{{a}}", "{{b}}", "{{ a }}"])
BEHAVIOURS = [
    "/json",
    "/text",
    "/jsontext",
    "/headers",
    "/status/400",
    "/status/401",
    "/status/404",
    "/status/500",
    "/status/503",
    "/redirect/302/same",
    "/redirect/307/same",
    "/redirect/303/reflect",
    "/redirect/301/other",
    "/redirect/308/other",
    "/redirect/302/private",
    "/noloc/302",
    "/noloc/307",
    "/hangup",
    "/truncate",
    "/slow",
    "/huge",
    "/nan",
    "/odd",
]
FAILURE_CODES = {
    "tool_failed",
    "tool_timeout",
    "model_failed",
    "model_timeout",
    "run_failed",
    "embedding_failed",
}
HOSTS = ["tools.test", "mirror.test", "127.0.0.1"]
HEADER_NAMES = ["Authorization", "X-Api-Key", "X-Trace", "X-Key-2", "Cookie", "Bad Name"]


def templates(controls: bool) -> st.SearchStrategy[str]:
    """Template text: literals, credential references, arguments, maybe control characters."""
    parts = [LITERAL, CREDENTIAL, ARGUMENT, *([CONTROL] if controls else [])]
    return st.lists(st.one_of(*parts), max_size=4).map("".join)


@dataclass
class Scenario:
    """One example: the secrets to store and what to drive with them."""

    secrets: dict[str, list[str]]
    tenant: str
    method: str
    path: str
    query: list[tuple[str, str]]
    headers: dict[str, str]
    body: Any
    timeout_s: float
    retries: int
    arguments: dict[str, Any]
    run: tuple[str, bool, str] | None
    embed: str | None


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    """A random scenario."""
    controls = draw(st.sampled_from([False, False, False, True]))
    template = templates(controls)
    body_value = st.one_of(template, st.integers(-3, 3), st.lists(template, max_size=2))
    argument = st.one_of(
        LITERAL,
        st.text(string.ascii_lowercase + "\x01\r\n\t ", max_size=6),
        st.sampled_from(["{{credential:$own0}}", "{{credential:$global}}"]),
        st.integers(-3, 3),
    )
    return Scenario(
        secrets={
            "a": draw(st.lists(SECRET, min_size=2, max_size=2)),
            "b": draw(st.lists(SECRET, min_size=2, max_size=2)),
            "global": draw(st.lists(SECRET, min_size=1, max_size=1)),
            "embed": draw(st.lists(SECRET, min_size=2, max_size=2)),
        },
        tenant=draw(st.sampled_from("ab")),
        method=draw(st.sampled_from(["GET", "POST", "PUT", "DELETE"])),
        path=draw(st.sampled_from(BEHAVIOURS))
        + draw(st.sampled_from(["", "/{{credential:$own0}}"])),
        query=draw(st.lists(st.tuples(st.sampled_from("kqx"), template), max_size=2)),
        headers=draw(
            st.dictionaries(
                st.sampled_from(HEADER_NAMES),
                template,
                max_size=3,
            )
        ),
        body=draw(
            st.one_of(st.none(), st.dictionaries(st.sampled_from("uvw"), body_value, max_size=3))
        ),
        timeout_s=draw(st.sampled_from([0.6, 3.0])),
        retries=draw(st.sampled_from([0, 1])),
        arguments={"a": draw(argument), "b": draw(argument)},
        run=draw(
            st.one_of(
                st.none(),
                st.tuples(
                    st.sampled_from(["tool", "echo", "refuse", "hangup", "malformed"]),
                    st.booleans(),
                    st.sampled_from(["own0", "global", "embed", "missing"]),
                ),
            )
        ),
        embed=draw(st.one_of(st.none(), st.sampled_from(["ok", "refuse", "hangup", "text"]))),
    )


REFLECTED_HEADER = Scenario(
    secrets={
        "a": ["x'\"\\QWERTYUPASDFGHJK", "ZXCVBNMQWERTYUPA"],
        "b": ["BBBBBBBBBBBBBB", "CCCCCCCCCCCCCC"],
        "global": ["DDDDDDDDDDDDDD"],
        "embed": ["EEEEEEEEEEEEEEE", "FFFFFFFFFFFFFFFF"],
    },
    tenant="a",
    method="GET",
    path="/headers",
    query=[("k", "{{credential:$own0}}")],
    headers={"X-Api-Key": "{{credential:$own0}}"},
    body={"u": "{{credential:$own0}}"},
    timeout_s=3.0,
    retries=0,
    arguments={"a": "", "b": ""},
    run=("echo", True, "own0"),
    embed="refuse",
)


# --- the stand-ins --------------------------------------------------------------------------


class _Service(BaseHTTPRequestHandler):
    """The tool's service: behaves as its path says (see BEHAVIOURS)."""

    server: "_ServiceServer"

    def _handle(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length).decode("utf-8", "replace") if length else ""
        echo = {
            "method": self.command,
            "target": self.path,
            "headers": dict(self.headers.items()),
            "body": body,
        }
        parts = urlsplit(self.path).path.split("/")[1:]
        kind = parts[0]
        if kind == "json":
            self._send(200, json.dumps(echo), "application/json")
        elif kind == "text":
            raw = f"{self.requestline}\r\n{self.headers.as_string()}{body}"
            self._send(200, raw, "text/plain")
        elif kind == "jsontext":
            self._send(200, json.dumps(echo), "text/plain")
        elif kind == "headers":
            reflected = {f"X-Echo-{i}": v for i, v in enumerate(self.headers.values())}
            self._send(200, "{}", "application/json", reflected)
        elif kind == "status":
            self._send(int(parts[1]), json.dumps(echo), "application/json")
        elif kind == "redirect":
            target = {
                "same": "/json",
                "reflect": f"/json?{urlsplit(self.path).query}",
                "other": f"http://mirror.test:{self.server.server_port}/json",
                "private": "http://169.254.169.254/latest/meta-data",
            }[parts[2]]
            self._send(int(parts[1]), "", "text/plain", {"Location": target})
        elif kind == "noloc":
            self._send(int(parts[1]), "", "text/plain")
        elif kind == "hangup":
            self.close_connection = True
        elif kind == "truncate":
            text = json.dumps(echo).encode()
            self._raw(200, text[: len(text) // 2], "application/json", len(text))
        elif kind == "slow":
            self.server.release.wait(1.0)
            self._send(200, json.dumps(echo), "application/json")
        elif kind == "huge":
            self._send(200, json.dumps(echo) * (8192 // len(json.dumps(echo)) + 2), "text/plain")
        elif kind == "nan":
            self._send(200, '{"n": NaN, "echo": ' + json.dumps(echo) + "}", "application/json")
        elif kind == "odd":
            odd = '{"nul": "a\\u0000b", "lone": "\\ud800", "echo": ' + json.dumps(echo) + "}"
            self._send(200, odd, "application/json")
        else:
            self._send(404, "{}", "application/json")

    do_GET = do_POST = do_PUT = do_DELETE = _handle

    def _send(self, status: int, text: str, content_type: str, headers: dict | None = None) -> None:
        payload = text.encode()
        self._raw(status, payload, content_type, len(payload), headers)

    def _raw(
        self,
        status: int,
        payload: bytes,
        content_type: str,
        length: int,
        headers: dict | None = None,
    ) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(length))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)
        except OSError:  # the client gave up
            pass

    def log_message(self, format: str, *args: Any) -> None:
        """Keep the test output quiet."""


class _ServiceServer(LoopbackHTTPServer):
    release: threading.Event


class _Embeddings(BaseHTTPRequestHandler):
    """An OpenAI-compatible /v1/embeddings that behaves as its server's `behaviour` says."""

    server: "_EmbeddingsServer"

    def do_POST(self) -> None:
        """Answer the embeddings request."""
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        key = self.headers.get("Authorization", "")
        behaviour = self.server.behaviour
        if behaviour == "hangup":
            self.close_connection = True
            return
        if behaviour == "ok":
            data = [
                {"index": i, "embedding": [1.0] + [0.0] * (DIMENSIONS - 1)}
                for i in range(len(body["input"]))
            ]
            status, text, kind = 200, json.dumps({"data": data}), "application/json"
        elif behaviour == "refuse":
            status, text, kind = 401, json.dumps({"error": f"bad key {key}"}), "application/json"
        else:
            status, text, kind = 200, f"you sent {key}", "text/plain"
        payload = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        """Keep the test output quiet."""


class _EmbeddingsServer(LoopbackHTTPServer):
    behaviour: str = "ok"


@contextmanager
def serving(server: LoopbackHTTPServer) -> Iterator[LoopbackHTTPServer]:
    """Run a loopback server in a daemon thread for the duration of the block."""
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield server
    finally:
        if isinstance(server, _ServiceServer):
            server.release.set()
        server.shutdown()
        server.server_close()


# --- the world the examples share -----------------------------------------------------------


@dataclass
class World:
    """One booted service with two tenants, a platform key and the stand-ins."""

    runtime: Runtime
    client: httpx.AsyncClient
    tenants: dict[str, Caller]
    platform: Caller
    service_port: int
    embeddings: _EmbeddingsServer
    model: ScriptedModel
    databases: list[URL]
    secrets: list[str] = field(default_factory=list)
    responses: list[tuple[str, str]] = field(default_factory=list)
    examples: int = 0
    embed_ids: dict[str, str] = field(default_factory=dict)

    async def call(self, caller: Caller, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """Call the API; keep the response to search; never a 500 or a 5xx we did not expect."""
        response = await self.client.request(method, path, headers=caller.headers, **kwargs)
        self.responses.append((f"{method} {path}", response.text))
        if response.status_code >= 500:
            code = response.json().get("error", {}).get("code")
            assert code in FAILURE_CODES, (method, path, response.status_code, response.text)
        return response

    async def store(self, caller: Caller, name: str, value: str) -> None:
        """Store a secret (the whole value is what to search for, its core in particular)."""
        self.secrets.append(value)
        body = {"name": name, "value": value, "allowed_hosts": HOSTS}
        response = await self.call(caller, "POST", "/api/v1/credentials", json=body)
        assert response.status_code == 201, response.text

    async def replace(self, caller: Caller, name: str, value: str) -> None:
        """Give the credential `name` of the caller a new value."""
        self.secrets.append(value)
        response = await self.call(
            caller, "PATCH", f"/api/v1/credentials/{self.embed_ids[name]}", json={"value": value}
        )
        assert response.status_code == 200, response.text

    async def play(self, scenario: Scenario) -> None:
        """Drive every path that resolves a credential through one scenario."""
        i = self.examples = self.examples + 1
        a, b = self.tenants["a"], self.tenants["b"]
        for owner, caller in (("a", a), ("b", b)):
            for j, value in enumerate(scenario.secrets[owner]):
                await self.store(caller, f"{owner.upper()}{i}_{j}", value)
        await self.store(self.platform, f"G{i}", scenario.secrets["global"][0])
        await self.replace(a, "a", scenario.secrets["embed"][0])
        await self.replace(self.platform, "global", scenario.secrets["embed"][1])

        me, other = scenario.tenant, "b" if scenario.tenant == "a" else "a"
        caller = self.tenants[me]
        names = {
            "$own0": f"{me.upper()}{i}_0",
            "$own1": f"{me.upper()}{i}_1",
            "$global": f"G{i}",
            "$other": f"{other.upper()}{i}_0",
            "$missing": "NO_SUCH_CREDENTIAL",
            "$embed": "OPENAI_API_KEY",
        }

        def named(value: Any) -> Any:
            if isinstance(value, str):
                for ref, name in names.items():
                    value = value.replace(ref, name)
                return value
            if isinstance(value, dict):
                return {k: named(v) for k, v in value.items()}
            if isinstance(value, list):
                return [named(v) for v in value]
            return value

        query = "&".join(f"{k}={v}" for k, v in scenario.query)
        url = f"http://tools.test:{self.service_port}{scenario.path}" + (
            f"?{query}" if query else ""
        )
        config = {
            "url": url,
            "method": scenario.method,
            "headers": scenario.headers,
            "timeout_s": scenario.timeout_s,
            "retries": scenario.retries,
            "max_response_bytes": 4096,
            **({"body": scenario.body} if scenario.body is not None else {}),
        }
        tool = f"t{i}"
        created = await self.call(
            caller,
            "POST",
            "/api/v1/tools",
            json={"name": tool, "type": "http", "config": named(config)},
        )
        assert created.status_code in (201, 422), created.text
        agent_config: dict = {"base_url": self.model.base_url, "timeout_s": 2}
        if scenario.run is not None:
            agent_config["api_key_credential"] = names[f"${scenario.run[2]}"]
        await add_catalogue_model(self.client, caller, "scripted-1")
        agent = await self.call(
            caller,
            "POST",
            "/api/v1/agents",
            json={
                "name": f"agent {i}",
                "system_prompt_template": "You help.",
                "model_version": "scripted-1",
                "enabled_tools": [tool] if created.status_code == 201 else [],
                "config": agent_config,
            },
        )
        assert agent.status_code == 201, agent.text
        agent_id = agent.json()["id"]
        arguments = named(scenario.arguments)
        if created.status_code == 201:
            await self.call(
                caller,
                "POST",
                f"/api/v1/agents/{agent_id}/tools/{tool}/invoke",
                json={"arguments": arguments},
            )
        if scenario.run is not None:
            await self.run(caller, agent_id, tool, arguments, scenario.run)
        if scenario.embed is not None:
            await self.embed(caller, scenario.embed)

    async def run(
        self, caller: Caller, agent_id: int, tool: str, arguments: dict, run: tuple
    ) -> None:
        """Run the agent against the scripted model, then read back its record."""
        script, stream, _ = run
        replies = {
            "tool": [Call(tool, arguments), Say("Done.")],
            "echo": [EchoKey()],
            "refuse": [Refuse(401)],
            "hangup": [HangUp()],
            "malformed": [Malformed()],
        }[script]
        self.model.play(*replies, forever=Say("Again."))
        response = await self.call(
            caller,
            "POST",
            f"/api/v1/agents/{agent_id}/runs",
            json={"input": "Go", "stream": stream},
        )
        executions = await self.call(
            caller, "GET", "/api/v1/executions", params={"agent_id": agent_id}
        )
        for execution in executions.json()["items"]:
            detail = await self.call(caller, "GET", f"/api/v1/executions/{execution['id']}")
            conversation = detail.json()["conversation_id"]
            await self.call(
                caller,
                "GET",
                f"/api/v1/conversations/{conversation}/messages",
                params={"limit": 200},
            )
        assert response.status_code != 500

    async def embed(self, caller: Caller, behaviour: str) -> None:
        """Ingest a document through the embeddings stand-in, then read it back."""
        self.embeddings.behaviour = behaviour
        uploaded = await self.call(
            caller,
            "POST",
            "/api/v1/rag/documents",
            files={"file": ("faq.txt", f"Returns are free in Peru ({uuid.uuid4()}).".encode())},
            data={"collection": "General"},
        )
        assert uploaded.status_code in (200, 201, 202), uploaded.text
        document = uploaded.json()["id"]
        await self.runtime.ingestor.ingest(document, embedder_name="openai")
        await self.call(caller, "GET", f"/api/v1/rag/documents/{document}")

    async def read_back(self) -> None:
        """Read what each caller can list, to search it too."""
        for caller in (*self.tenants.values(), self.platform):
            for path in ("/api/v1/credentials", "/api/v1/tools", "/api/v1/audit-logs"):
                await self.call(caller, "GET", path, params={"limit": 200})


def _dump(url: URL) -> str:
    """A data-only pg_dump of one database."""
    return subprocess.run(
        [
            str(POSTGRES_BIN_PATH / "pg_dump"),
            "--data-only",
            url_string(url).replace("postgresql+asyncpg", "postgresql"),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def _core(secret: str) -> str:
    """The distinctive part of a generated secret."""
    return "".join(c for c in secret if c in CORE)


def _leaks(secrets: list[str], places: list[tuple[str, str]]) -> list[str]:
    """Where a secret (by its core) shows up."""
    found = []
    for secret in secrets:
        core = _core(secret)
        for where, text in places:
            at = text.find(core)
            if at >= 0:
                found.append(f"{secret!r} in {where}: ...{text[max(0, at - 120) : at + 80]!r}")
    return found


# --- the property ---------------------------------------------------------------------------


async def _open_world(
    stack: AsyncExitStack,
    settings: Settings,
    databases: list[URL],
    service: _ServiceServer,
    embeddings: _EmbeddingsServer,
    model: ScriptedModel,
) -> World:
    """Boot the service (a vector database, the embeddings stand-in), create the callers."""
    configured = settings.model_copy(
        update={
            "vector_database_url": SecretStr(url_string(databases[1])),
            "openai_embedding_base_url": f"http://127.0.0.1:{embeddings.server_port}/v1",
        }
    )
    runtime = await stack.enter_async_context(boot(configured))
    runtime.guard.resolver = fake_resolver
    runtime.guard.allow("127.0.0.1")
    transport = httpx.ASGITransport(app=create_app(configured, runtime=runtime))
    client = await stack.enter_async_context(
        httpx.AsyncClient(transport=transport, base_url="http://orchestrator.test", timeout=30)
    )
    async with runtime.sessionmaker.begin() as session:
        platform_key = await tenant_service.create_platform_key(
            session, name="property test", actor=TEST_ACTOR
        )
    world = World(
        runtime=runtime,
        client=client,
        tenants={"a": await new_tenant(runtime, "a"), "b": await new_tenant(runtime, "b")},
        platform=Caller(api_key=platform_key, tenant_id=None),
        service_port=service.server_port,
        embeddings=embeddings,
        model=model,
        databases=databases,
    )
    # The embedding key: tenant A's own, and the global one tenant B falls back to.
    for owner, caller in (("a", world.tenants["a"]), ("global", world.platform)):
        first = "sk-embed-" + "".join(CORE[int(c, 16)] for c in uuid.uuid4().hex)
        world.secrets.append(first)
        response = await world.call(
            caller,
            "POST",
            "/api/v1/credentials",
            json={"name": "OPENAI_API_KEY", "value": first, "allowed_hosts": HOSTS},
        )
        assert response.status_code == 201, response.text
        world.embed_ids[owner] = response.json()["id"]
    return world


async def _vector_database(pg_base_url: URL) -> URL:
    name = f"v_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(asyncpg_dsn(pg_base_url))
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    return with_database(pg_base_url, name)


def test_no_secret_appears_in_any_response_dump_or_log(
    settings: Settings, fresh_db: URL, pg_base_url: URL, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    service = _ServiceServer(("127.0.0.1", 0), _Service)
    service.release = threading.Event()
    embeddings = _EmbeddingsServer(("127.0.0.1", 0), _Embeddings)
    with (
        asyncio.Runner() as runner,
        serving(service),
        serving(embeddings),
        ScriptedModel() as model,
    ):
        vectors = runner.run(_vector_database(pg_base_url))
        stack = AsyncExitStack()
        world = runner.run(
            _open_world(stack, settings, [fresh_db, vectors], service, embeddings, model)
        )
        try:

            @hypothesis.settings(
                max_examples=EXAMPLES,
                deadline=None,
                database=None,
                # Every example boots nothing but still takes a second or more: report a failing
                # example as found rather than spend minutes shrinking it.
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
            )
            # Found by this test: a service reflecting the request's headers in its answer's
            # headers, which httpcore logs (debug) as the repr of bytes, escaped unlike any
            # form the scrubber knew when the secret holds both kinds of quote.
            @hypothesis.example(scenario=REFLECTED_HEADER)
            @hypothesis.given(scenario=scenarios())
            def no_secret_escapes(scenario: Scenario) -> None:
                logged = len(caplog.records)
                world.responses.clear()
                runner.run(world.play(scenario))
                places = list(world.responses)
                places += [(f"dump of {url.database}", _dump(url)) for url in world.databases]
                places += [
                    (f"log {r.name}", f"{r.getMessage()}\n{r.exc_text or ''}")
                    for r in caplog.records[logged:]
                ]
                assert _leaks(world.secrets, places) == []

            no_secret_escapes()
            world.responses.clear()
            runner.run(world.read_back())
            assert _leaks(world.secrets, world.responses) == []
        finally:
            runner.run(stack.aclose())
            runner.run(_drop(pg_base_url, vectors))
    print(f"\n{world.examples} examples, {len(world.secrets)} secrets stored")
    assert world.examples >= EXAMPLES


async def _drop(pg_base_url: URL, database: URL) -> None:
    admin = await asyncpg.connect(asyncpg_dsn(pg_base_url))
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{database.database}" WITH (FORCE)')
    finally:
        await admin.close()
