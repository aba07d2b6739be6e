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

from orchestrator_service.api import PREFIX, PUBLIC_ROUTES
from orchestrator_service.config import Settings
from tests.helpers import PASSWORD, Caller, bearer, create_key, create_user, login

PLATFORM_PREFIXES = (f"{PREFIX}/tenants",)
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
    for op in _tenant_routes(app_spec):
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
        if op.method != "GET" or op.path_params:
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
    """Missing, malformed, unknown and revoked credentials get 401 on every non-public route."""
    app_spec = _schema(client)
    created = await Owner(client, tenant_a).create(f"{PREFIX}/api-keys", {"name": _unique()})
    revoked = {"Authorization": f"Bearer {created['api_key']}"}
    assert (await client.get(f"{PREFIX}/me", headers=revoked)).status_code == 200
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
