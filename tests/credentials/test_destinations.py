"""Destination policy, for every role: where a secret may be sent is an admin's decision.

Widening a credential's hosts, or creating or re-pointing a tool or agent that sends a
credential, is allowed to an admin (role admin with credentials:write: a tenant admin key or
session, or an admin key narrowed but keeping credentials:write) and refused with 403
`destination_approval_required` to members and to admin keys narrowed below credentials:write;
viewers have no write scope at all. What members may still do (their own secrets for the
category's provider, narrowing, tuning) is checked alongside, so the rule is no blanket ban."""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import httpx
import pytest

from orchestrator_service.audit.service import Actor
from orchestrator_service.bootstrap import Runtime
from orchestrator_service.credentials.schemas import HOST_PATTERN
from orchestrator_service.errors import Forbidden
from tests.helpers import PASSWORD, Caller, bearer, create_key, create_user, login, new_tenant

APPROVED = "api.partner.test"
ELSEWHERE = "collector.evil.test"
SECRET = "partner-secret-0123456789"
CRED_TOOL_CONFIG = {
    "url": f"https://{APPROVED}/v1/lookup",
    "headers": {"Authorization": "Bearer {{credential:PARTNER_KEY}}"},
}

# Outcomes: "ok" (2xx), "approval" (403 destination_approval_required), "scope" (403 forbidden:
# the key's role or scopes do not reach the route at all).
ADMIN_SCOPES_NO_CREDENTIALS = [
    "agents:read",
    "agents:write",
    "tools:read",
    "tools:write",
    "credentials:read",
]
ADMIN_SCOPES_WITH_CREDENTIALS = [*ADMIN_SCOPES_NO_CREDENTIALS, "credentials:write"]


def outcome_of(response: httpx.Response) -> str:
    """ok, approval or scope; anything else is shown as status and body."""
    if response.is_success:
        return "ok"
    if response.status_code == 403:
        code = response.json()["error"]["code"]
        return {"destination_approval_required": "approval", "forbidden": "scope"}[code]
    return f"{response.status_code} {response.text}"


@dataclass
class Setup:
    """What the admin approved before each caller tries its hand."""

    credential_id: str
    tool_id: int
    agent_id: int
    own_tool_id: int


Action = Callable[[httpx.AsyncClient, dict[str, str], Setup, str], Awaitable[httpx.Response]]


async def _post(client, headers, path, body):
    return await client.post(f"/api/v1{path}", headers=headers, json=body)


async def _patch(client, headers, path, body):
    return await client.patch(f"/api/v1{path}", headers=headers, json=body)


# Each action: (name, what it does, expected outcome for an approver, for a non-approver with
# the scope). The caller's label `who` keeps names unique.
ACTIONS: list[tuple[str, Action, str, str]] = [
    (
        "store a credential with hosts of its choosing",
        lambda c, h, s, who: _post(
            c,
            h,
            "/credentials",
            {"name": f"MINE_{who}", "value": SECRET, "allowed_hosts": [ELSEWHERE]},
        ),
        "ok",
        "approval",
    ),
    (
        "store an openai key for api.openai.com (the category's provider)",
        lambda c, h, s, who: _post(
            c, h, "/credentials", {"name": f"OAI_{who}", "value": SECRET, "category": "openai"}
        ),
        "ok",
        "ok",
    ),
    (
        "store an openai key for another host",
        lambda c, h, s, who: _post(
            c,
            h,
            "/credentials",
            {
                "name": f"OAI2_{who}",
                "value": SECRET,
                "category": "openai",
                "allowed_hosts": [ELSEWHERE],
            },
        ),
        "ok",
        "approval",
    ),
    (
        "add a host to an approved credential",
        lambda c, h, s, who: _patch(
            c, h, f"/credentials/{s.credential_id}", {"allowed_hosts": [APPROVED, ELSEWHERE]}
        ),
        "ok",
        "approval",
    ),
    (
        "replace a host with a subdomain wildcard over it",
        lambda c, h, s, who: _patch(
            c, h, f"/credentials/{s.credential_id}", {"allowed_hosts": ["*.partner.test"]}
        ),
        "ok",
        "approval",
    ),
    (
        "change the category to one with a provider host (empty list -> api.openai.com)",
        lambda c, h, s, who: _patch(
            c, h, f"/credentials/{s.credential_id}", {"category": "openai", "allowed_hosts": []}
        ),
        "ok",
        "approval",
    ),
    (
        "narrow an approved credential to nothing",
        lambda c, h, s, who: _patch(c, h, f"/credentials/{s.credential_id}", {"allowed_hosts": []}),
        "ok",
        "ok",
    ),
    (
        "replace an approved credential's value",
        lambda c, h, s, who: _patch(
            c, h, f"/credentials/{s.credential_id}", {"value": f"rotated-{who}-0123456789"}
        ),
        "ok",
        "ok",
    ),
    (
        "create a tool that sends a credential",
        lambda c, h, s, who: _post(
            c, h, "/tools", {"name": f"t_{who}", "type": "http", "config": CRED_TOOL_CONFIG}
        ),
        "ok",
        "approval",
    ),
    (
        "point a credential-sending tool at another host",
        lambda c, h, s, who: _patch(
            c,
            h,
            f"/tools/{s.tool_id}",
            {"config": {**CRED_TOOL_CONFIG, "url": f"https://{ELSEWHERE}/x"}},
        ),
        "ok",
        "approval",
    ),
    (
        "point a credential-sending tool elsewhere through service_url",
        lambda c, h, s, who: _patch(
            c, h, f"/tools/{s.tool_id}", {"service_url": f"https://{ELSEWHERE}/x"}
        ),
        "ok",
        "approval",
    ),
    (
        "move the credential of a tool into its body",
        lambda c, h, s, who: _patch(
            c,
            h,
            f"/tools/{s.tool_id}",
            {
                "config": {
                    "url": CRED_TOOL_CONFIG["url"],
                    "body": {"note": "{{ credential:PARTNER_KEY }}"},
                }
            },
        ),
        "ok",
        "approval",
    ),
    (
        "tune and describe a credential-sending tool",
        lambda c, h, s, who: _patch(
            c,
            h,
            f"/tools/{s.tool_id}",
            {"description": f"by {who}", "config": {**CRED_TOOL_CONFIG, "timeout_s": 3}},
        ),
        "ok",
        "ok",
    ),
    (
        "create a tool that sends no credential",
        lambda c, h, s, who: _post(
            c,
            h,
            "/tools",
            {"name": f"plain_{who}", "type": "http", "config": {"url": f"https://{ELSEWHERE}/"}},
        ),
        "ok",
        "ok",
    ),
    (
        "add a credential to a tool that sent none",
        lambda c, h, s, who: _patch(
            c,
            h,
            f"/tools/{s.own_tool_id}",
            {
                "config": {
                    "url": f"https://{ELSEWHERE}/",
                    **{"headers": CRED_TOOL_CONFIG["headers"]},
                }
            },
        ),
        "ok",
        "approval",
    ),
    (
        "create an agent on the default model destination",
        lambda c, h, s, who: _post(
            c,
            h,
            "/agents",
            {"name": f"a {who}", "system_prompt_template": "Hi", "config": {"max_steps": 3}},
        ),
        "ok",
        "ok",
    ),
    (
        "create an agent whose model calls go elsewhere",
        lambda c, h, s, who: _post(
            c,
            h,
            "/agents",
            {
                "name": f"b {who}",
                "system_prompt_template": "Hi",
                "config": {"base_url": f"https://{ELSEWHERE}/v1"},
            },
        ),
        "ok",
        "approval",
    ),
    (
        "create an agent carrying another vault key",
        lambda c, h, s, who: _post(
            c,
            h,
            "/agents",
            {
                "name": f"c {who}",
                "system_prompt_template": "Hi",
                "config": {"api_key_credential": "PARTNER_KEY"},
            },
        ),
        "ok",
        "approval",
    ),
    (
        "re-point an agent's model calls",
        lambda c, h, s, who: _patch(
            c, h, f"/agents/{s.agent_id}", {"config": {"base_url": f"https://{ELSEWHERE}/v1"}}
        ),
        "ok",
        "approval",
    ),
    (
        "swap an agent's model key",
        lambda c, h, s, who: _patch(
            c,
            h,
            f"/agents/{s.agent_id}",
            {"config": {"base_url": f"https://{APPROVED}/v1", "api_key_credential": "OTHER"}},
        ),
        "ok",
        "approval",
    ),
    (
        "tune an agent, its model destination as it is",
        lambda c, h, s, who: _patch(
            c,
            h,
            f"/agents/{s.agent_id}",
            {
                "temperature": 0.5,
                "config": {
                    "base_url": f"https://{APPROVED}/v1",
                    "api_key_credential": "PARTNER_KEY",
                    "max_steps": 4,
                },
            },
        ),
        "ok",
        "ok",
    ),
]


async def _approved_setup(client: httpx.AsyncClient, admin: Caller) -> Setup:
    """An admin stores a credential for APPROVED, a tool and an agent that send it there, and
    a tool that sends no credential."""
    credential = await _post(
        client,
        admin.headers,
        "/credentials",
        {"name": "PARTNER_KEY", "value": SECRET, "category": "http", "allowed_hosts": [APPROVED]},
    )
    tool = await _post(
        client,
        admin.headers,
        "/tools",
        {"name": "partner", "type": "http", "config": CRED_TOOL_CONFIG},
    )
    own_tool = await _post(
        client,
        admin.headers,
        "/tools",
        {"name": "plain", "type": "http", "config": {"url": f"https://{ELSEWHERE}/"}},
    )
    agent = await _post(
        client,
        admin.headers,
        "/agents",
        {
            "name": "partner bot",
            "system_prompt_template": "Hi",
            "config": {"base_url": f"https://{APPROVED}/v1", "api_key_credential": "PARTNER_KEY"},
        },
    )
    for response in (credential, tool, own_tool, agent):
        assert response.status_code == 201, response.text
    return Setup(
        credential_id=credential.json()["id"],
        tool_id=tool.json()["id"],
        agent_id=agent.json()["id"],
        own_tool_id=own_tool.json()["id"],
    )


async def _caller(client: httpx.AsyncClient, admin: Caller, label: str) -> dict[str, str]:
    """The headers of one caller of the tenant: a viewer key, a member key or session, an admin
    key or session, or an admin key narrowed with or without credentials:write."""
    if label == "admin key":
        return admin.headers
    role = label.split()[0]
    if label.endswith("session"):
        email = f"{role}.{admin.tenant_id}@example.com"
        await create_user(client, admin.headers, email, password=PASSWORD, role=role)
        return bearer(await login(client, email))
    scopes = {
        "admin key without credentials:write": ADMIN_SCOPES_NO_CREDENTIALS,
        "admin key with credentials:write": ADMIN_SCOPES_WITH_CREDENTIALS,
    }.get(label, ["*"])
    key = await create_key(client, admin.headers, label, role=role, scopes=scopes)
    return bearer(key["api_key"])


# What each caller gets: "approver" (everything ok), "member" (approval needed where the
# table says so), or "viewer" (no write scope: every action is out of reach).
EXPECTED_KIND = {
    "viewer key": "viewer",
    "member key": "member",
    "member session": "member",
    "admin key": "approver",
    "admin session": "approver",
    "admin key without credentials:write": "narrowed",
    "admin key with credentials:write": "approver",
}


def _expected(kind: str, path: str, for_approver: str, for_others: str) -> str:
    if kind == "approver":
        return for_approver
    if kind == "viewer":
        return "scope"
    if kind == "narrowed" and "/credentials" in path:
        return "scope"  # credentials:write is exactly what it lacks
    return for_others


async def test_who_decides_where_secrets_go_for_every_role(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    mismatches = []
    for n, (caller, kind) in enumerate(EXPECTED_KIND.items()):
        # A tenant of its own per caller, so one caller's changes never shape another's.
        admin = await new_tenant(runtime, f"destinations {n}")
        setup = await _approved_setup(client, admin)
        headers = await _caller(client, admin, caller)
        for name, action, for_approver, for_others in ACTIONS:
            response = await action(client, headers, setup, f"c{n}")
            path = str(response.request.url.path)
            expected = _expected(kind, path, for_approver, for_others)
            got = outcome_of(response)
            if got != expected:
                mismatches.append(f"{caller}: {name}: expected {expected}, got {got}")
            if got == "approval":
                message = response.json()["error"]["message"]
                assert "admin" in message, message
    assert not mismatches, "\n".join(mismatches)


@pytest.mark.parametrize(
    "host",
    [
        "a b",
        "http://api.example.com",
        "https://api.example.com/v1",
        "api.example.com:443",
        "api.example.com/v1",
        "api.example.com?x=1",
        "user@api.example.com",
        "ünïcode.example.com",
        "xn--nicode-2ya.example.com:8080",
        "a:١٢",
        "",
        " ",
        "*",
        "*.",
        "*.com",
        "**.example.com",
        "api.*.example.com",
        "..",
        "-",
        "-api.example.com",
        "api-.example.com",
        "api..example.com",
        ".example.com",
        "example.com.",
        "API.Example.com",
        "[::1]",
        "a" * 64 + ".example.com",
        ("a" * 60 + ".") * 5 + "com",
        "x" * 10_000,
        "api.exa\nmple.com",
        "api.example.com\u200b",
        "\u0000",
    ],
)
async def test_unusual_allowed_hosts_are_422_never_500(
    lenient_client: httpx.AsyncClient, tenant_a: Caller, host: str
) -> None:
    created = await lenient_client.post(
        "/api/v1/credentials",
        headers=tenant_a.headers,
        json={"name": "K", "value": SECRET, "allowed_hosts": [host]},
    )
    stored = await lenient_client.post(
        "/api/v1/credentials",
        headers=tenant_a.headers,
        json={"name": "K2", "value": SECRET, "allowed_hosts": ["api.example.com"]},
    )
    patched = await lenient_client.patch(
        f"/api/v1/credentials/{stored.json()['id']}",
        headers=tenant_a.headers,
        json={"allowed_hosts": [host]},
    )

    assert (created.status_code, patched.status_code) == (422, 422), (
        created.text,
        patched.text,
    )
    for response in (created, patched):
        assert response.json()["error"]["code"] == "validation_error"
        if "\x00" not in host:  # a NUL is refused for the whole body, before any field
            assert "allowed_hosts" in response.json()["error"]["message"]


@pytest.mark.parametrize(
    "host",
    ["api.openai.com", "*.example.com", "*.eu.example.co", "localhost", "127.0.0.1", "a-b.c-d.io"],
)
async def test_ordinary_allowed_hosts_are_accepted(
    client: httpx.AsyncClient, tenant_a: Caller, host: str
) -> None:
    response = await client.post(
        "/api/v1/credentials",
        headers=tenant_a.headers,
        json={"name": "K", "value": SECRET, "allowed_hosts": [host]},
    )

    assert response.status_code == 201, response.text
    assert response.json()["allowed_hosts"] == [host]


async def test_the_host_constraint_is_in_the_openapi_schema(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/openapi.json")).json()["components"]["schemas"]
    for model in ("CredentialCreate", "CredentialUpdate"):
        hosts = schema[model]["properties"]["allowed_hosts"]
        variants = hosts.get("anyOf", [hosts])
        [array] = [v for v in variants if v.get("type") == "array"]
        assert array["maxItems"] == 50
        assert array["items"]["pattern"] == HOST_PATTERN
        assert array["items"]["maxLength"] == 253


async def test_an_empty_list_sends_the_secret_nowhere_but_a_known_providers_host(
    client: httpx.AsyncClient, runtime: Runtime, tenant_a: Caller
) -> None:
    """The original hole: with allowed_hosts empty (the default), a secret went anywhere."""
    for name, category in (("HTTP_KEY", "http"), ("OAI_KEY", "openai"), ("ANT", "anthropic")):
        response = await _post(
            client,
            tenant_a.headers,
            "/credentials",
            {"name": name, "value": f"{name}-0123456789", "category": category},
        )
        assert response.status_code == 201, response.text
    actor = Actor(tenant_id=tenant_a.tenant_id, user_id=None, key_id=None, label="test")

    async def resolve(name: str, destination: str) -> str:
        return await runtime.secrets.resolve(
            tenant_id=tenant_a.tenant_id,
            name=name,
            consumer="test",
            destination=destination,
            actor=actor,
        )

    for destination in ("https://api.partner.test/x", "http://127.0.0.1:9/", "https://evil.test"):
        with pytest.raises(Forbidden):
            await resolve("HTTP_KEY", destination)
        with pytest.raises(Forbidden):
            await resolve("OAI_KEY", destination)
    assert await resolve("OAI_KEY", "https://api.openai.com/v1") == "OAI_KEY-0123456789"
    assert await resolve("ANT", "https://api.anthropic.com/v1") == "ANT-0123456789"
    with pytest.raises(Forbidden):
        await resolve("ANT", "https://api.openai.com/v1")
