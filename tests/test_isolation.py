"""Tenant isolation and authentication, proved over every route of the OpenAPI schema.

The tests read `app.openapi()`, so a route added later joins the proof by existing:

* every route under /api/v1 with a path parameter answers tenant B with 404 (the same 404 as
  for an id that never existed) on tenant A's objects, for each of its methods, and A's
  objects are unchanged afterwards; no route without path parameters shows A's ids to B;
* platform-admin routes (`PLATFORM_PREFIXES`) answer 403 to any tenant key, whatever the id;
* every route except the expected public ones answers 401 to missing, malformed, unknown and
  revoked credentials, with the error body and `WWW-Authenticate: Bearer`.

Extending: a new path parameter needs a factory in `FACTORIES`, registered with
`@factory("<parameter name>")`. A factory is an async function `(owner, made) -> id`: `owner`
calls the API as tenant A's admin (`owner.create`, `owner.read`, `owner.update`, `owner.call`),
`made` holds the ids already created for the parameters to its left in the same path (the
`tool_name` factory enables its tool on `made["agent_id"]`), and it returns the new object's
id as the API spells it in URLs. Ids must be distinctive (UUIDs, or names with a random hex
part), because list responses are searched for them. Request bodies are built from the
schema (required fields only); when a route needs a body that cannot be derived, put one in
`BODIES`. A parameter without a factory, a body the route refuses or an id tenant A cannot
read back fails the test instead of being skipped.
"""

import re
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from pydantic import SecretStr

from orchestrator_service.agents.models import Agent, AgentMemory
from orchestrator_service.api import PREFIX, PUBLIC_ROUTES
from orchestrator_service.calendar.models import CalendarEvent
from orchestrator_service.config import Settings
from orchestrator_service.conversations.models import ChatConversation
from orchestrator_service.integrations.models import Integration
from orchestrator_service.mail.models import Email, MailAccount
from orchestrator_service.models import METADATA
from orchestrator_service.notes.models import Note
from orchestrator_service.privacy.registry import user_owned_models
from tests.helpers import PASSWORD, Caller, bearer, create_key, create_user, login

PLATFORM_PREFIXES = (f"{PREFIX}/tenants", f"{PREFIX}/system-config")
OPENAI_PREFIX = "/v1/"
# Public routes outside /api/v1 (a later `/metrics` belongs here too).
UNVERSIONED_PUBLIC = frozenset(
    {
        ("GET", "/health/live"),
        ("GET", "/health/ready"),
        # Meta's webhook callback: authenticated by the verify token and the body's signature.
        ("GET", "/webhooks/meta/{connection_id}"),
        ("POST", "/webhooks/meta/{connection_id}"),
    }
)
EXPECTED_PUBLIC_API = frozenset({("POST", f"{PREFIX}/auth/login")})
HTTP_METHODS = ("get", "put", "post", "delete", "patch")
# Routes the walks must reach today, so that they can never pass by reaching nothing.
MIN_OBJECT_ROUTES = {
    ("GET", f"{PREFIX}/users/{{user_id}}"),
    ("PATCH", f"{PREFIX}/users/{{user_id}}"),
    ("DELETE", f"{PREFIX}/users/{{user_id}}"),
    ("GET", f"{PREFIX}/api-keys/{{key_id}}"),
    ("DELETE", f"{PREFIX}/api-keys/{{key_id}}"),
    ("GET", f"{PREFIX}/audit-logs/{{audit_log_id}}"),
    ("POST", f"{PREFIX}/agents/{{agent_id}}/tools/{{tool_name}}/invoke"),
    ("GET", f"{PREFIX}/integrations/{{integration_id}}"),
    ("DELETE", f"{PREFIX}/integrations/{{integration_id}}"),
}
MIN_LIST_ROUTES = {f"{PREFIX}/users", f"{PREFIX}/api-keys", f"{PREFIX}/audit-logs"}
MIN_PLATFORM_ROUTES = {
    ("PUT", f"{PREFIX}/system-config/{{key}}"),
    ("DELETE", f"{PREFIX}/system-config/{{key}}"),
    ("POST", f"{PREFIX}/tenants"),
    ("GET", f"{PREFIX}/tenants"),
    ("GET", f"{PREFIX}/tenants/{{tenant_id}}"),
    ("PATCH", f"{PREFIX}/tenants/{{tenant_id}}"),
}
UNKNOWN_KEY = "orch_000000000000_" + "A" * 43
UNKNOWN_SESSION = "orchs_000000000000_" + "A" * 43
PATH_PARAM = re.compile(r"\{(\w+)[^}]*\}")


@dataclass(frozen=True)
class Operation:
    """One method of one path of the OpenAPI schema."""

    method: str
    path: str
    spec: dict

    def __str__(self) -> str:
        """`METHOD /path`, as failure messages name the operation."""
        return f"{self.method} {self.path}"

    @property
    def path_params(self) -> list[str]:
        """The path parameters, outermost first."""
        return PATH_PARAM.findall(self.path)

    def parameters(self, where: str) -> list[dict]:
        """The parameters declared `in` this place (path, query, header, cookie)."""
        return [p for p in self.spec.get("parameters", []) if p["in"] == where]


@dataclass(frozen=True)
class Owner:
    """Tenant A's admin, through whom the factories create objects."""

    client: httpx.AsyncClient
    caller: Caller

    async def call(self, method: str, path: str, expect: int, **request: Any) -> Any:
        """Call the API as A, insist on the `expect` status and return the JSON body."""
        response = await self.client.request(method, path, headers=self.caller.headers, **request)
        assert response.status_code == expect, f"{method} {path} as A: {_show(response)}"
        return response.json()

    async def create(self, path: str, body: dict) -> dict:
        """POST `body` to `path` as A and return the created object."""
        return await self.call("POST", path, 201, json=body)

    async def read(self, path: str, **query: str) -> dict:
        """GET `path` as A and return the body."""
        return await self.call("GET", path, 200, params=query)

    async def update(self, path: str, body: dict) -> dict:
        """PATCH `path` with `body` as A and return the changed object."""
        return await self.call("PATCH", path, 200, json=body)


Factory = Callable[[Owner, dict[str, Any]], Awaitable[Any]]
FACTORIES: dict[str, Factory] = {}
# (METHOD, path) -> a request body, for routes whose body cannot be derived from the schema.
BODIES: dict[tuple[str, str], Any] = {}


def factory(param: str) -> Callable[[Factory], Factory]:
    """Register the factory of tenant A's objects named by this path parameter."""

    def register(make: Factory) -> Factory:
        """Add `make` to FACTORIES and return it unchanged."""
        FACTORIES[param] = make
        return make

    return register


def _unique() -> str:
    """A distinctive name."""
    return f"iso-{uuid.uuid4().hex}"


@factory("user_id")
async def _make_user(owner: Owner, made: dict[str, Any]) -> str:
    """A user of tenant A."""
    body = {"email": f"{_unique()}@example.com", "full_name": "A's user"}
    return (await owner.create(f"{PREFIX}/users", body))["id"]


@factory("key_id")
async def _make_key(owner: Owner, made: dict[str, Any]) -> str:
    """An API key of tenant A."""
    return (await owner.create(f"{PREFIX}/api-keys", {"name": _unique(), "role": "viewer"}))["id"]


@factory("credential_id")
async def _make_credential(owner: Owner, made: dict[str, Any]) -> str:
    """A credential of tenant A."""
    body = {"name": _unique(), "value": "tenant A's secret"}
    return (await owner.create(f"{PREFIX}/credentials", body))["id"]


@factory("agent_id")
async def _make_agent(owner: Owner, made: dict[str, Any]) -> int:
    """An agent of tenant A."""
    body = {"name": _unique(), "system_prompt_template": "You are tenant A's agent."}
    return (await owner.create(f"{PREFIX}/agents", body))["id"]


@factory("tool_id")
async def _make_tool(owner: Owner, made: dict[str, Any]) -> int:
    """An HTTP tool of tenant A (never called: its URL is only stored)."""
    body = {"name": _unique(), "type": "http", "config": {"url": "https://tool.example.com/a"}}
    return (await owner.create(f"{PREFIX}/tools", body))["id"]


@factory("tool_name")
async def _make_agent_tool(owner: Owner, made: dict[str, Any]) -> str:
    """A tool of tenant A, enabled on the agent made for `agent_id`."""
    tool = await owner.read(f"{PREFIX}/tools/{await _make_tool(owner, made)}")
    agent = f"{PREFIX}/agents/{made['agent_id']}"
    await owner.update(agent, {"enabled_tools": [tool["name"]]})
    return tool["name"]


@factory("asset_id")
async def _make_asset(owner: Owner, made: dict[str, Any]) -> str:
    """A business asset of tenant A."""
    body = {"asset_type": "branding", "content": {"owner": "tenant A"}}
    return (await owner.create(f"{PREFIX}/business-assets", body))["id"]


@factory("audit_log_id")
async def _make_audit_log(owner: Owner, made: dict[str, Any]) -> str:
    """The audit entry recording the creation of one of A's users."""
    user_id = await _make_user(owner, made)
    page = await owner.read(
        f"{PREFIX}/audit-logs", action="create", resource_type="user", resource_id=user_id
    )
    return page["items"][0]["id"]


def _schema(client: httpx.AsyncClient) -> dict:
    """The OpenAPI schema of the app behind the test client."""
    return client._transport.app.openapi()


def _show(response: httpx.Response) -> str:
    """A response's status and the start of its body, for failure messages."""
    return f"{response.status_code} {response.text[:300]}"


def _operations(app_spec: dict) -> list[Operation]:
    """Every operation of the schema."""
    return [
        Operation(method.upper(), path, operation)
        for path, item in app_spec["paths"].items()
        for method, operation in item.items()
        if method in HTTP_METHODS
    ]


def _is_stream(op: Operation) -> bool:
    """True for a route that answers an endless event stream (`/events/stream`): it never
    ends, so the list walk cannot read it; tests/live proves its tenant and user scoping."""
    content = op.spec.get("responses", {}).get("200", {}).get("content", {})
    return set(content) == {"text/event-stream"}


def _is_platform(path: str) -> bool:
    """True for the platform-admin routes."""
    return any(path == p or path.startswith(f"{p}/") for p in PLATFORM_PREFIXES)


def _tenant_routes(app_spec: dict) -> list[Operation]:
    """The /api/v1 operations that act on a tenant's data."""
    return [
        op
        for op in _operations(app_spec)
        if op.path.startswith(f"{PREFIX}/") and not _is_platform(op.path)
    ]


def _example(schema: dict, app_spec: dict) -> Any:
    """A small value valid for a JSON schema: required fields only, smallest sizes."""
    if "$ref" in schema:
        name = schema["$ref"].removeprefix("#/components/schemas/")
        return _example(app_spec["components"]["schemas"][name], app_spec)
    if "enum" in schema:
        return schema["enum"][0]
    if "const" in schema:
        return schema["const"]
    for combinator in ("anyOf", "oneOf", "allOf"):
        options = [s for s in schema.get(combinator, []) if s.get("type") != "null"]
        if options:
            return _example(options[0], app_spec)
    kind = schema.get("type")
    if kind == "object":
        fields = schema.get("properties", {})
        return {
            name: _example(fields.get(name, {}), app_spec) for name in schema.get("required", [])
        }
    if kind == "array":
        count = schema.get("minItems", 0)
        return [_example(schema.get("items", {}), app_spec) for _ in range(count)]
    if kind == "string":
        formats = {
            "uuid": str(uuid.uuid4()),
            "email": f"{_unique()}@example.com",
            "date-time": "2030-01-01T00:00:00Z",
            "date": "2030-01-01",
            "uri": "https://example.com/",
        }
        return formats.get(schema.get("format"), "x" * max(1, schema.get("minLength", 1)))
    if kind in ("integer", "number"):
        return schema.get("minimum", 1)
    if kind == "boolean":
        return False
    pytest.fail(f"cannot build a value for the schema {schema}: extend _example or use BODIES")


def _missing_id(schema: dict) -> Any:
    """An id of the parameter's type that no object has."""
    if schema.get("type") == "integer":
        return 2**31 - 1
    if schema.get("format") == "uuid":
        return str(uuid.uuid4())
    return f"missing-{uuid.uuid4().hex}"


def _missing_ids(op: Operation) -> dict[str, Any]:
    """Values for every path parameter of `op`, naming nothing that exists."""
    return {p["name"]: _missing_id(p["schema"]) for p in op.parameters("path")}


def _body(op: Operation, app_spec: dict) -> Any:
    """A body the route accepts, or None when it takes none."""
    request_body = op.spec.get("requestBody")
    if request_body is None:
        return None
    if (op.method, op.path) in BODIES:
        return BODIES[op.method, op.path]
    content = request_body["content"]
    if "application/json" not in content:
        pytest.fail(f"{op}: cannot build a {sorted(content)} body; add one to BODIES")
    return _example(content["application/json"]["schema"], app_spec)


async def _send(
    client: httpx.AsyncClient,
    app_spec: dict,
    op: Operation,
    ids: dict[str, Any],
    headers: dict[str, str],
    *,
    with_body: bool = True,
) -> httpx.Response:
    """Call `op` with these path ids, its required query parameters and a valid body."""
    url = PATH_PARAM.sub(lambda m: quote(str(ids[m[1]]), safe=""), op.path)
    query = {
        p["name"]: _example(p["schema"], app_spec)
        for p in op.parameters("query")
        if p.get("required")
    }
    body = _body(op, app_spec) if with_body else None
    return await client.request(op.method, url, params=query, json=body, headers=headers)


async def _make_ids(owner: Owner, op: Operation) -> dict[str, Any]:
    """Create tenant A's objects for the path parameters of `op`, outermost first."""
    made: dict[str, Any] = {}
    for param in op.path_params:
        if param not in FACTORIES:
            pytest.fail(
                f"no factory for path parameter {param!r} of route {op}: add one to FACTORIES"
            )
        made[param] = await FACTORIES[param](owner, dict(made))
    return made


async def _objects_of_a(
    client: httpx.AsyncClient, app_spec: dict, a: Caller
) -> dict[str, dict[str, Any]]:
    """Tenant A's objects for every tenant route with path parameters, by path."""
    owner = Owner(client, a)
    ids: dict[str, dict[str, Any]] = {}
    # The audit entry last: the entries the other factories' objects add (webhooks, tasks,
    # files...) would push it off the first page of A's audit log, which the list check reads.
    routes = sorted(_tenant_routes(app_spec), key=lambda op: "audit_log_id" in op.path_params)
    for op in routes:
        if op.path_params and op.path not in ids:
            ids[op.path] = await _make_ids(owner, op)
    return ids


async def _views_of_a(
    client: httpx.AsyncClient, app_spec: dict, a: Caller, ids: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    """What A reads at every GET route with path parameters, with A's own ids."""
    views = {}
    for op in _tenant_routes(app_spec):
        if op.method == "GET" and op.path in ids:
            response = await _send(client, app_spec, op, ids[op.path], a.headers)
            assert response.status_code == 200, (
                f"{op}: tenant A cannot read its own object {ids[op.path]} "
                f"({_show(response)}); check the factories"
            )
            # A download (a mail attachment) is compared by its bytes.
            json_body = response.headers.get("content-type", "").startswith("application/json")
            views[op.path] = response.json() if json_body else response.content
    return views


def _error(response: httpx.Response) -> dict | None:
    """The `error` of the service's error body (OpenAI's shape under `/v1`, the door for
    OpenAI clients), or None when the body has another shape."""
    try:
        body = response.json()
        error = body["error"]
    except (ValueError, TypeError, KeyError):
        return None
    fields = {"code", "message", "details"}
    if response.request.url.path.startswith(OPENAI_PREFIX):
        fields = {"code", "message", "type", "param"}
    shaped = set(body) == {"error"} and isinstance(error, dict)
    return error if shaped and set(error) == fields else None


def _pairs(node: Any) -> Iterator[tuple[str, Any]]:
    """Every (key, value) pair of a JSON document, at any depth."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield key, value
            yield from _pairs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _pairs(value)


def _mentions(response: httpx.Response, param: str, value: Any, item_param: str | None) -> bool:
    """True when a response shows this id of `param`.

    A string id is searched in the text; an integer id is only matched under a key named after
    its parameter (`agent_id`), or under `id` in a list of that parameter's objects, since a
    bare number would match unrelated counters and ids.
    """
    if isinstance(value, str):
        return value in response.text
    if not response.headers.get("content-type", "").startswith("application/json"):
        return False  # a file (an .ics export): its ids are strings, searched above
    keys = {param, "id"} if param == item_param else {param}
    return any(key in keys and found == value for key, found in _pairs(response.json()))


def _item_param(app_spec: dict, path: str) -> str | None:
    """The parameter of the item route under a list route (`user_id` for /users), if any."""
    for item_path in app_spec["paths"]:
        found = re.fullmatch(re.escape(path) + r"/\{(\w+)\}", item_path)
        if found:
            return found[1]
    return None


async def test_tenant_b_gets_404_on_every_object_of_tenant_a(
    client: httpx.AsyncClient, tenant_a: Caller, tenant_b: Caller
) -> None:
    """B's every method on A's objects is the 404 of a missing id, and changes nothing."""
    app_spec = _schema(client)
    ids = await _objects_of_a(client, app_spec, tenant_a)
    before = await _views_of_a(client, app_spec, tenant_a, ids)

    failures, exercised = [], set()
    for op in _tenant_routes(app_spec):
        if op.path not in ids:
            continue
        exercised.add((op.method, op.path))
        response = await _send(client, app_spec, op, ids[op.path], tenant_b.headers)
        missing = await _send(client, app_spec, op, _missing_ids(op), tenant_b.headers)
        error = _error(response)
        if response.status_code == 422:
            failures.append(
                f"{op}: 422 instead of 404; the body built from the schema "
                f"({_body(op, app_spec)!r}) was refused: {_show(response)}. "
                "Extend _example or add a body to BODIES"
            )
        elif response.status_code != 404 or error is None or error["code"] != "not_found":
            failures.append(f"{op} on A's {ids[op.path]}: {_show(response)}")
        elif (missing.status_code, _error(missing)) != (404, error):
            failures.append(
                f"{op}: A's object answers {_show(response)}, a missing one {_show(missing)}"
            )

    assert not failures, "tenant B reached tenant A's objects:\n" + "\n".join(failures)
    assert exercised >= MIN_OBJECT_ROUTES, MIN_OBJECT_ROUTES - exercised
    after = await _views_of_a(client, app_spec, tenant_a, ids)
    assert after == before, "tenant B's requests changed tenant A's objects"


async def test_no_route_without_ids_shows_tenant_a_objects_to_tenant_b(
    client: httpx.AsyncClient, tenant_a: Caller, tenant_b: Caller
) -> None:
    """No GET route without path parameters (lists, /me) shows B any id of A's objects."""
    app_spec = _schema(client)
    ids = await _objects_of_a(client, app_spec, tenant_a)
    of_a = {(p, v) for made in ids.values() for p, v in made.items()}
    of_a.add(("tenant_id", tenant_a.tenant_id))

    leaks, seen_by_a, exercised = [], set(), set()
    for op in _tenant_routes(app_spec):
        if op.method != "GET" or op.path_params or _is_stream(op):
            continue
        exercised.add(op.path)
        item_param = _item_param(app_spec, op.path)
        as_b = await _send(client, app_spec, op, {}, tenant_b.headers)
        as_a = await _send(client, app_spec, op, {}, tenant_a.headers)
        assert (as_b.status_code, as_a.status_code) == (200, 200), (
            f"{op}: as B {_show(as_b)}, as A {_show(as_a)}"
        )
        for param, value in of_a:
            if _mentions(as_b, param, value, item_param):
                leaks.append(f"{op} shows B tenant A's {param} {value}")
            if _mentions(as_a, param, value, item_param):
                seen_by_a.add(param)

    assert not leaks, "\n".join(leaks)
    assert exercised >= MIN_LIST_ROUTES, MIN_LIST_ROUTES - exercised
    # The search works: A's own lists do show A's objects.
    assert {"user_id", "key_id", "audit_log_id", "tenant_id"} <= seen_by_a, seen_by_a


async def test_platform_routes_refuse_tenant_keys_whatever_the_id(
    client: httpx.AsyncClient, tenant_a: Caller, tenant_b: Caller, platform_admin: Caller
) -> None:
    """Tenant keys get 403 on every platform-admin route, for their own tenant or another."""
    app_spec = _schema(client)
    tenant_ids = (tenant_a.tenant_id, tenant_b.tenant_id)
    tenant_a_url = f"{PREFIX}/tenants/{tenant_a.tenant_id}"
    before = await client.get(tenant_a_url, headers=platform_admin.headers)
    assert before.status_code == 200, before.text

    failures, exercised = [], set()
    for op in _operations(app_spec):
        if not _is_platform(op.path):
            continue
        exercised.add((op.method, op.path))
        fillings = [_missing_ids(op)]
        if "tenant_id" in op.path_params:
            fillings += [{**fillings[0], "tenant_id": t} for t in tenant_ids]
        for caller in (tenant_a, tenant_b):
            for ids in fillings:
                response = await _send(client, app_spec, op, ids, caller.headers)
                error = _error(response)
                if response.status_code != 403 or error is None or error["code"] != "forbidden":
                    failures.append(
                        f"{op} with {ids} as tenant {caller.tenant_id}: {_show(response)}"
                    )

    assert not failures, "tenant keys reached platform routes:\n" + "\n".join(failures)
    assert exercised >= MIN_PLATFORM_ROUTES, MIN_PLATFORM_ROUTES - exercised
    after = await client.get(tenant_a_url, headers=platform_admin.headers)
    assert after.json() == before.json()


async def test_every_non_public_route_refuses_bad_credentials(
    client: httpx.AsyncClient, tenant_a: Caller
) -> None:
    """Missing, malformed, unknown and revoked credentials (and keys a revoked key minted) get
    401 on every non-public route."""
    app_spec = _schema(client)
    created = await Owner(client, tenant_a).create(f"{PREFIX}/api-keys", {"name": _unique()})
    revoked = {"Authorization": f"Bearer {created['api_key']}"}
    assert (await client.get(f"{PREFIX}/me", headers=revoked)).status_code == 200
    # A key the revoked key minted goes with it.
    minted = await client.post(f"{PREFIX}/api-keys", headers=revoked, json={"name": _unique()})
    assert minted.status_code == 201, minted.text
    orphan = {"Authorization": f"Bearer {minted.json()['api_key']}"}
    revocation = await client.delete(f"{PREFIX}/api-keys/{created['id']}", headers=tenant_a.headers)
    assert revocation.status_code == 204, revocation.text
    credentials = {
        "no Authorization header": {},
        "another scheme": {"Authorization": "Basic dXNlcjpwYXNzd29yZA=="},
        "an empty bearer": {"Authorization": "Bearer"},
        "a malformed token": {"Authorization": "Bearer not-a-token"},
        "an unknown key": {"Authorization": f"Bearer {UNKNOWN_KEY}"},
        "an unknown session": {"Authorization": f"Bearer {UNKNOWN_SESSION}"},
        "a revoked key": revoked,
        "a key minted by a revoked key": orphan,
    }

    failures, checked = [], set()
    for op in _operations(app_spec):
        if (op.method, op.path) in PUBLIC_ROUTES | UNVERSIONED_PUBLIC:
            continue
        checked.add((op.method, op.path))
        for label, headers in credentials.items():
            response = await _send(client, app_spec, op, _missing_ids(op), headers, with_body=False)
            error = _error(response)
            challenge = response.headers.get("www-authenticate", "")
            if (
                response.status_code != 401
                or error is None
                or error["code"] != "unauthorized"
                or not challenge.startswith("Bearer")
            ):
                failures.append(
                    f"{op} with {label}: {_show(response)} (WWW-Authenticate: {challenge!r})"
                )

    assert not failures, "routes answering without valid credentials:\n" + "\n".join(failures)
    assert MIN_OBJECT_ROUTES | MIN_PLATFORM_ROUTES | {("GET", f"{PREFIX}/me")} <= checked


async def test_public_routes_are_exactly_the_expected_ones(client: httpx.AsyncClient) -> None:
    """The routes open without credentials are the login and the health checks, no more."""
    assert PUBLIC_ROUTES == EXPECTED_PUBLIC_API
    routes = {(op.method, op.path) for op in _operations(_schema(client))}
    for method, path in sorted(PUBLIC_ROUTES | UNVERSIONED_PUBLIC):
        assert (method, path) in routes, f"public route {method} {path} is not in the schema"
        response = await client.request(method, path)
        assert response.status_code != 401, f"{method} {path}: {_show(response)}"


@factory("connection_id")
async def _make_connection(owner: Owner, made: dict[str, Any]) -> str:
    """A WhatsApp connection of tenant A, answered by an agent of A that lists whatsapp."""
    body = {"name": _unique(), "system_prompt_template": "Hi.", "channels": ["whatsapp"]}
    agent = await owner.create(f"{PREFIX}/agents", body)
    connection = {
        "channel": "whatsapp",
        "name": _unique(),
        "external_account_id": uuid.uuid4().hex,
        "agent_id": agent["id"],
        "app_secret_credential": "META_APP_SECRET",
        "access_token_credential": "META_ACCESS_TOKEN",
        "verify_token_credential": "META_VERIFY_TOKEN",
    }
    return (await owner.create(f"{PREFIX}/channels", connection))["id"]


@factory("document_id")
async def _make_document(owner: Owner, made: dict[str, Any]) -> str:
    """A RAG document of tenant A (queued; no worker runs in this test)."""
    files = {"file": (f"{_unique()}.txt", f"tenant A notes {_unique()}".encode(), "text/plain")}
    return (await owner.call("POST", f"{PREFIX}/rag/documents", 202, files=files))["id"]


@factory("conversation_id")
async def _make_conversation(owner: Owner, made: dict[str, Any]) -> str:
    """A conversation of tenant A."""
    body = {"channel": "whatsapp", "display_name": _unique()}
    return (await owner.create(f"{PREFIX}/conversations", body))["id"]


@factory("execution_id")
async def _make_execution(owner: Owner, made: dict[str, Any]) -> str:
    """A queued (background) run of one of tenant A's agents; no worker runs it here."""
    agent = await _make_agent(owner, made)
    body = {"input": f"hello {_unique()}", "background": True}
    return (await owner.call("POST", f"{PREFIX}/agents/{agent}/runs", 202, json=body))[
        "execution_id"
    ]


@factory("memory_id")
async def _make_memory(owner: Owner, made: dict[str, Any]) -> str:
    """A fact tenant A's agent (made for `agent_id`) keeps."""
    body = {"user_key": _unique(), "key": "likes", "value": "tea"}
    return (await owner.create(f"{PREFIX}/agents/{made['agent_id']}/memories", body))["id"]


# --- user-level privacy (issue 17) ----------------------------------------------------------
#
# Inside one tenant, user B (a member, and a viewer) gets the 404 of a missing id on every
# method of every route naming one of user A's private objects, and no list shows B one. The
# objects come from `PRIVATE_FACTORIES`, one per user-owned model (a `UserOwnedMixin` model,
# found from the mapper registry): a model without one fails
# `test_every_user_owned_model_has_a_private_factory`, so a domain added later joins the proof
# by registering `@private_factory("<path parameter>", Model)`. A private factory is called
# like a factory, as user A (a member acting through a session), and returns the id of a new
# object only A may read. A route's other parameters are filled by `FACTORIES`, also as A.
# A 403 counts as a refusal only when the same route answers the same 403 for missing ids
# (B's role lacks the permission: nothing about A's object is confirmed).

PRIVATE_FACTORIES: dict[str, Factory] = {}
PRIVATE_MODELS: dict[str, str] = {}  # table name -> the path parameter naming its objects
# Content the private factories wrote (titles, names, texts): no list shows it to another user,
# an admin included.
SECRETS: set[str] = set()
# An admin's listings that show private objects' ids (never their content): /private-objects
# lists them so that an admin can delete them, and the audit log names what changed.
ADMIN_LISTINGS = frozenset({f"{PREFIX}/private-objects", f"{PREFIX}/audit-logs"})
MIN_PRIVATE_ROUTES = {
    ("GET", f"{PREFIX}/conversations/{{conversation_id}}"),
    ("PATCH", f"{PREFIX}/conversations/{{conversation_id}}"),
    ("DELETE", f"{PREFIX}/conversations/{{conversation_id}}"),
    ("GET", f"{PREFIX}/conversations/{{conversation_id}}/messages"),
    ("GET", f"{PREFIX}/agents/{{agent_id}}"),
    ("PATCH", f"{PREFIX}/agents/{{agent_id}}"),
    ("POST", f"{PREFIX}/agents/{{agent_id}}/runs"),
    ("DELETE", f"{PREFIX}/agents/{{agent_id}}/memories/{{memory_id}}"),
    ("GET", f"{PREFIX}/executions/{{execution_id}}"),
}


def _secret() -> str:
    """A distinctive piece of private content, remembered in SECRETS."""
    text = f"secret-{uuid.uuid4().hex}"
    SECRETS.add(text)
    return text


def private_factory(param: str, model: type | None = None) -> Callable[[Factory], Factory]:
    """Register the factory of user A's private objects named by this path parameter (and
    the user-owned model it makes, if any)."""

    def register(make: Factory) -> Factory:
        """Add `make` to PRIVATE_FACTORIES and return it unchanged."""
        PRIVATE_FACTORIES[param] = make
        if model is not None:
            PRIVATE_MODELS[model.__table__.name] = param  # type: ignore[attr-defined]
        return make

    return register


@dataclass(frozen=True)
class Members:
    """Users of one tenant: A owns the private objects; B (member) and V (viewer) try them."""

    a: Caller
    b: Caller
    viewer: Caller
    admin: Caller


async def _member(client: httpx.AsyncClient, admin: Caller, role: str) -> Caller:
    """A user of the admin's tenant with this role, calling through a session of theirs."""
    email = f"{_unique()}@example.com"
    await create_user(client, admin.headers, email, role=role, password=PASSWORD)
    return Caller(api_key=await login(client, email), tenant_id=admin.tenant_id)


@pytest.fixture
async def members(client: httpx.AsyncClient, tenant_a: Caller) -> Members:
    """Users A, B (members), a viewer and an admin of tenant A."""
    return Members(
        a=await _member(client, tenant_a, "member"),
        b=await _member(client, tenant_a, "member"),
        viewer=await _member(client, tenant_a, "viewer"),
        admin=await _member(client, tenant_a, "admin"),
    )


@private_factory("conversation_id", ChatConversation)
async def _private_conversation(owner: Owner, made: dict[str, Any]) -> str:
    """A's private conversation, with a message."""
    body = {"channel": "web", "title": _secret(), "visibility": "private"}
    conversation = (await owner.create(f"{PREFIX}/conversations", body))["id"]
    message = {"role": "user", "content": _secret()}
    await owner.create(f"{PREFIX}/conversations/{conversation}/messages", message)
    return conversation


@private_factory("agent_id", Agent)
async def _private_agent(owner: Owner, made: dict[str, Any]) -> int:
    """A's private agent."""
    body = {"name": _secret(), "system_prompt_template": _secret(), "is_public": False}
    return (await owner.create(f"{PREFIX}/agents", body))["id"]


@private_factory("memory_id", AgentMemory)
async def _private_memory(owner: Owner, made: dict[str, Any]) -> str:
    """A fact about A (private by default), kept by the agent made for `agent_id`."""
    body = {"key": _secret(), "value": _secret()}
    return (await owner.create(f"{PREFIX}/agents/{made['agent_id']}/memories", body))["id"]


@private_factory("execution_id")
async def _private_run(owner: Owner, made: dict[str, Any]) -> str:
    """A queued run of A's private agent (no worker runs it here)."""
    agent = await _private_agent(owner, made)
    body = {"input": _secret(), "background": True}
    return (await owner.call("POST", f"{PREFIX}/agents/{agent}/runs", 202, json=body))[
        "execution_id"
    ]


@private_factory("object_id")
async def _private_object(owner: Owner, made: dict[str, Any]) -> str:
    """A's private object of the kind made for `kind`."""
    assert made["kind"] == "chat_conversations", made
    return await _private_conversation(owner, made)


@factory("kind")
async def _kind(owner: Owner, made: dict[str, Any]) -> str:
    """The kind of private object the admin routes name: conversations."""
    return "chat_conversations"


@factory("object_id")
async def _object_of_a_user(owner: Owner, made: dict[str, Any]) -> str:
    """A private conversation of a user of tenant A (made through the user's session)."""
    user = await _member(owner.client, owner.caller, "member")
    return await _private_conversation(Owner(owner.client, user), made)


def _private_routes(app_spec: dict) -> list[tuple[Operation, str]]:
    """(operation, private parameter) for every route naming a private object."""
    return [
        (op, param)
        for op in _tenant_routes(app_spec)
        for param in op.path_params
        if param in PRIVATE_FACTORIES
    ]


async def _private_ids(
    client: httpx.AsyncClient, app_spec: dict, a: Caller
) -> dict[tuple[str, str], dict[str, Any]]:
    """For every (path, private parameter): ids made by A, that parameter's private."""
    owner = Owner(client, a)
    ids: dict[tuple[str, str], dict[str, Any]] = {}
    for op, private in _private_routes(app_spec):
        if (op.path, private) in ids:
            continue
        made: dict[str, Any] = {}
        for param in op.path_params:
            make = PRIVATE_FACTORIES[param] if param == private else FACTORIES.get(param)
            if make is None:
                pytest.fail(f"no factory for path parameter {param!r} of route {op}")
            made[param] = await make(owner, dict(made))
        ids[op.path, private] = made
    return ids


async def _views(
    client: httpx.AsyncClient,
    app_spec: dict,
    caller: Caller,
    ids: dict[tuple[str, str], dict[str, Any]],
) -> dict[tuple[str, str], Any]:
    """What A reads at every GET route naming A's private objects."""
    views = {}
    for op, private in _private_routes(app_spec):
        if op.method == "GET":
            response = await _send(client, app_spec, op, ids[op.path, private], caller.headers)
            assert response.status_code == 200, f"{op}: A cannot read its own: {_show(response)}"
            # A download (a mail attachment) is compared by its bytes.
            json_body = response.headers.get("content-type", "").startswith("application/json")
            views[op.path, private] = response.json() if json_body else response.content
    return views


def test_every_user_owned_model_has_a_private_factory() -> None:
    """A user-owned model without a private factory is a model the proof does not cover."""
    assert METADATA.metadata.tables  # every model is imported, so every one is registered
    uncovered = sorted(set(user_owned_models()) - set(PRIVATE_MODELS))
    assert not uncovered, (
        f"user-owned models without a private factory: {uncovered}; register one with "
        "@private_factory(<path parameter>, Model) in tests/test_isolation.py"
    )


@pytest.mark.parametrize("intruder", ["b", "viewer", "admin"])
async def test_another_user_gets_404_on_every_private_object(
    client: httpx.AsyncClient, members: Members, intruder: str
) -> None:
    """B (member), a viewer and an admin of A's tenant: every method on A's private objects is
    the 404 of a missing id (or the 403 their role gets for any id), and changes nothing. An
    admin deletes through /private-objects, never these routes."""
    app_spec = _schema(client)
    other = getattr(members, intruder)
    ids = await _private_ids(client, app_spec, members.a)
    before = await _views(client, app_spec, members.a, ids)

    failures, exercised = [], set()
    for op, private in _private_routes(app_spec):
        if op.path.startswith(f"{PREFIX}/private-objects"):
            continue  # the admin's own route, proved in tests/privacy
        exercised.add((op.method, op.path))
        made = ids[op.path, private]
        response = await _send(client, app_spec, op, made, other.headers)
        # The same route with only the private object's id missing.
        missing_ids = {**made, private: _missing_ids(op)[private]}
        missing = await _send(client, app_spec, op, missing_ids, other.headers)
        error = _error(response)
        if response.status_code == 422:
            failures.append(f"{op}: 422, the body was refused: {_show(response)}")
        elif error is None or response.status_code not in (403, 404):
            failures.append(f"{op} on A's private {private}: {_show(response)}")
        elif (missing.status_code, _error(missing)) != (response.status_code, error):
            failures.append(
                f"{op}: A's private {private} answers {_show(response)}, "
                f"a missing one {_show(missing)}"
            )

    assert not failures, f"{intruder} reached A's private objects:\n" + "\n".join(failures)
    assert exercised >= MIN_PRIVATE_ROUTES, MIN_PRIVATE_ROUTES - exercised
    assert await _views(client, app_spec, members.a, ids) == before


@pytest.mark.parametrize("intruder", ["b", "viewer", "admin"])
async def test_no_list_shows_another_users_private_objects(
    client: httpx.AsyncClient, members: Members, intruder: str
) -> None:
    """No GET route shows B, a viewer or an admin the id of A's private objects: neither the
    routes without parameters nor the list each private object's item route sits under
    (which does show them to A)."""
    app_spec = _schema(client)
    other = getattr(members, intruder)
    ids = await _private_ids(client, app_spec, members.a)
    secret = {(private, made[private]) for (_, private), made in ids.items()}

    leaks, seen_by_a, lists = [], set(), set()
    for op in _tenant_routes(app_spec):
        if op.method != "GET" or op.path_params or _is_stream(op):
            continue
        response = await _send(client, app_spec, op, {}, other.headers)
        if response.status_code == 403:
            continue  # the role reads nothing here
        assert response.status_code == 200, f"{op}: {_show(response)}"
        leaks += [f"{op} shows A's private content {t}" for t in SECRETS if t in response.text]
        if intruder == "admin" and op.path in ADMIN_LISTINGS:
            continue
        item_param = _item_param(app_spec, op.path)
        leaks += [
            f"{op} shows A's private {p} {v}"
            for p, v in secret
            if _mentions(response, p, v, item_param)
        ]
    for (path, private), made in ids.items():
        list_path = path[: path.rfind("/")]
        if not path.endswith(f"{{{private}}}") or ("GET", list_path) not in {
            (op.method, op.path) for op in _tenant_routes(app_spec)
        }:
            continue
        spec = app_spec["paths"][list_path]["get"]
        op = Operation("GET", list_path, spec)
        as_a = await _send(client, app_spec, op, made, members.a.headers)
        as_other = await _send(client, app_spec, op, made, other.headers)
        lists.add(list_path)
        if _mentions(as_a, private, made[private], private):
            seen_by_a.add(private)
        if as_other.status_code == 200 and _mentions(as_other, private, made[private], private):
            leaks.append(f"GET {list_path} shows A's private {private} {made[private]}")

    assert not leaks, "\n".join(leaks)
    assert {f"{PREFIX}/conversations", f"{PREFIX}/agents", f"{PREFIX}/executions"} <= lists
    # The search works: A's own lists show A's private objects.
    assert {"conversation_id", "agent_id", "memory_id", "execution_id"} <= seen_by_a


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The test's settings with an OAuth client for the Google integrations, so that their
    routes join the proof (starting a connection only builds the authorization URL: no
    provider is called)."""
    return settings.model_copy(
        update={
            "google_client_id": "isolation-client",
            "google_client_secret": SecretStr("isolation-secret"),
            "integrations_redirect_uri": "https://app.example.com/integrations/callback",
        }
    )


@pytest.fixture
async def tenant_a(client: httpx.AsyncClient, tenant_a: Caller) -> Caller:
    """Tenant A's admin acting as a user (a key its admin user created): personal objects
    (integrations) belong to a user, so A must be one to own them."""
    email = f"{_unique()}@example.com"
    await create_user(client, tenant_a.headers, email, password=PASSWORD, role="admin")
    key = await create_key(client, bearer(await login(client, email)), _unique())
    return Caller(api_key=key["api_key"], tenant_id=tenant_a.tenant_id)


@factory("integration_id")
async def _make_integration(owner: Owner, made: dict[str, Any]) -> str:
    """A Gmail integration of A's user, pending consent."""
    started = await owner.create(f"{PREFIX}/integrations", {"kind": "gmail"})
    return started["integration"]["id"]


# --- issue 17: notes, calendar, mail (tenant A's admin key acts for no user: tenant-wide) ---

_EML = (
    b"From: Alice <alice@example.com>\r\nTo: bob@example.com\r\nSubject: isolation\r\n"
    b"Message-ID: <%s@example.com>\r\nMIME-Version: 1.0\r\n"
    b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\n'
    b"tenant A's mail\r\n--b\r\nContent-Type: application/octet-stream\r\n"
    b'Content-Disposition: attachment; filename="a.bin"\r\n\r\nA-bytes\r\n--b--\r\n'
)


@factory("note_id")
async def _make_note(owner: Owner, made: dict[str, Any]) -> str:
    """A note of tenant A."""
    body = {"content": f"tenant A's note {_unique()}", "visibility": "tenant"}
    return (await owner.create(f"{PREFIX}/notes", body))["id"]


@factory("event_id")
async def _make_event(owner: Owner, made: dict[str, Any]) -> str:
    """A calendar event of tenant A."""
    body = {"title": _unique(), "start": "2030-01-01T10:00:00Z", "visibility": "tenant"}
    return (await owner.create(f"{PREFIX}/calendar/events", body))["id"]


@factory("email_id")
async def _make_email(owner: Owner, made: dict[str, Any]) -> str:
    """A message of tenant A, with one attachment."""
    raw = _EML % _unique().encode()
    result = await owner.call(
        "POST", f"{PREFIX}/mail/import/eml", 201, files={"file": ("a.eml", raw)}
    )
    return result["imported"][0]


@factory("attachment_id")
async def _make_attachment(owner: Owner, made: dict[str, Any]) -> str:
    """The attachment of the message made for `email_id`."""
    found = await owner.call("GET", f"{PREFIX}/mail/messages/{made['email_id']}/attachments", 200)
    return found[0]["id"]


@private_factory("note_id", Note)
async def _private_note(owner: Owner, made: dict[str, Any]) -> str:
    """A's note (private by default)."""
    body = {"title": _secret(), "content": _secret()}
    return (await owner.create(f"{PREFIX}/notes", body))["id"]


@private_factory("event_id", CalendarEvent)
async def _private_event(owner: Owner, made: dict[str, Any]) -> str:
    """A's calendar event (private by default)."""
    body = {"title": _secret(), "description": _secret(), "start": "2030-01-01T10:00:00Z"}
    return (await owner.create(f"{PREFIX}/calendar/events", body))["id"]


@private_factory("email_id", Email)
async def _private_email(owner: Owner, made: dict[str, Any]) -> str:
    """A's imported message (private by default), with one attachment."""
    raw = _EML.replace(b"isolation", _secret().encode()) % _unique().encode()
    result = await owner.call(
        "POST", f"{PREFIX}/mail/import/eml", 201, files={"file": ("a.eml", raw)}
    )
    return result["imported"][0]


@private_factory("attachment_id")
async def _private_attachment(owner: Owner, made: dict[str, Any]) -> str:
    """The attachment of A's private message made for `email_id`."""
    found = await owner.call("GET", f"{PREFIX}/mail/messages/{made['email_id']}/attachments", 200)
    return found[0]["id"]


@private_factory("mail_account", MailAccount)
async def _private_mail_account(owner: Owner, made: dict[str, Any]) -> str:
    """A's SMTP settings: no route names them by id; /mail/account answers each user with
    their own, so B must see none of A's."""
    body = {
        "smtp_host": "127.0.0.1",
        "username": _secret(),
        "credential": _unique(),
        "from_address": "a@example.com",
    }
    return (await owner.call("PUT", f"{PREFIX}/mail/account", 200, json=body))["id"]


@factory("agent_connection_id")
async def _make_agent_connection(owner: Owner, made: dict[str, Any]) -> str:
    """A one-way connection of two of tenant A's agents."""
    first, second = await _make_agent(owner, made), await _make_agent(owner, made)
    body = {"agent1_id": first, "agent2_id": second, "connection_type": "one_way"}
    return (await owner.create(f"{PREFIX}/agent-connections", body))["id"]


@private_factory("integration_id", Integration)
async def _private_integration(owner: Owner, made: dict[str, Any]) -> str:
    """A's Gmail integration, pending consent (integrations are always private)."""
    started = await owner.create(f"{PREFIX}/integrations", {"kind": "gmail"})
    return started["integration"]["id"]


@factory("webhook_id")
async def _make_webhook(owner: Owner, made: dict[str, Any]) -> str:
    """A webhook endpoint of tenant A, subscribed to everything (never delivered to: no
    worker runs in this test, and its host is not resolved when subscribing)."""
    body = {"url": f"https://{_unique()}.example.com/hooks", "events": ["*"]}
    return (await owner.create(f"{PREFIX}/webhooks", body))["id"]


@factory("delivery_id")
async def _make_delivery(owner: Owner, made: dict[str, Any]) -> str:
    """A delivery to the endpoint made for `webhook_id`: the closing of a conversation of A."""
    conversation = await _make_conversation(owner, made)
    await owner.update(f"{PREFIX}/conversations/{conversation}", {"status": "closed"})
    page = await owner.read(f"{PREFIX}/webhooks/{made['webhook_id']}/deliveries")
    return page["items"][0]["id"]


@factory("task_id")
async def _make_task(owner: Owner, made: dict[str, Any]) -> str:
    """A task of tenant A: a queued background run (no worker runs it here)."""
    agent = await _make_agent(owner, made)
    body = {"agent_id": agent, "input": f"hello {_unique()}", "title": _unique()}
    return (await owner.call("POST", f"{PREFIX}/tasks", 202, json=body))["id"]


@private_factory("task_id")
async def _private_task(owner: Owner, made: dict[str, Any]) -> str:
    """A queued task of A's, in A's private conversation: it would show A's answer."""
    conversation = await _private_conversation(owner, made)
    agent = await _make_agent(owner, made)
    body = {
        "agent_id": agent,
        "input": _secret(),
        "title": _secret(),
        "conversation_id": conversation,
    }
    return (await owner.call("POST", f"{PREFIX}/tasks", 202, json=body))["id"]


@factory("file_id")
async def _make_file(owner: Owner, made: dict[str, Any]) -> str:
    """A file attached to a conversation of tenant A."""
    conversation = await _make_conversation(owner, made)
    files = {"file": (f"{_unique()}.txt", f"tenant A file {_unique()}".encode(), "text/plain")}
    data = {"conversation_id": conversation}
    return (await owner.call("POST", f"{PREFIX}/files", 201, files=files, data=data))["id"]


@factory("model_id")
async def _make_model(owner: Owner, made: dict[str, Any]) -> str:
    """A model of tenant A's own catalogue."""
    body = {
        "name": _unique(),
        "provider": "ollama",
        "model": _unique(),
        "context_window": 8192,
        "max_output_tokens": 2048,
    }
    return (await owner.create(f"{PREFIX}/models", body))["id"]


@factory("tool_execution_id")
async def _make_tool_execution(owner: Owner, made: dict[str, Any]) -> str:
    """A recorded call of a built-in tool by one of tenant A's agents."""
    body = {
        "name": _unique(),
        "system_prompt_template": "Hi.",
        "enabled_tools": ["get_current_time"],
    }
    agent = await owner.create(f"{PREFIX}/agents", body)
    path = f"{PREFIX}/agents/{agent['id']}/tools/get_current_time/invoke"
    return (await owner.call("POST", path, 200, json={"arguments": {}}))["execution_id"]
