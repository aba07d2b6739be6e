"""The console over HTTP: sign-in sets a locked-down cookie, the bridge refuses state changes
without the session's CSRF token, a tenant sees nothing of another through it, pages carry a
strict CSP, and the API docs load only packaged assets."""

import uuid

import httpx
import pytest

from orchestrator_service.bootstrap import Runtime
from orchestrator_service.config import Settings
from orchestrator_service.main import create_app
from tests.helpers import PASSWORD, Caller, create_user, error_of

pytestmark = pytest.mark.asyncio


def console_client(settings: Settings, runtime: Runtime, base: str = "http://console.test"):
    """A client of its own (its own cookie jar) talking to the app in-process."""
    app = create_app(settings, runtime=runtime)
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 52000))
    return httpx.AsyncClient(transport=transport, base_url=base)


async def signed_in(browser: httpx.AsyncClient, api_key: str) -> str:
    """Sign the client in with an API key; return the page's CSRF token."""
    response = await browser.post("/console/session", json={"api_key": api_key})
    assert response.status_code == 204, response.text
    page = await browser.get("/console/documents")
    assert page.status_code == 200
    marker = 'name="csrf-token" content="'
    start = page.text.index(marker) + len(marker)
    return page.text[start : page.text.index('"', start)]


async def test_pages_need_a_session_and_sign_in_sets_a_strict_cookie(
    settings: Settings, runtime: Runtime, tenant_a: Caller
) -> None:
    async with console_client(settings, runtime) as browser:
        away = await browser.get("/console/documents")
        assert away.status_code == 303 and away.headers["location"] == "/console/login"
        assert (await browser.get("/console/login")).status_code == 200
        error_of(await browser.get("/console/api/me"), 401, "unauthorized")

        wrong = await browser.post("/console/session", json={"api_key": "orch_nope_nope"})
        error_of(wrong, 401)
        assert "set-cookie" not in wrong.headers
        form = await browser.post("/console/session", data={"api_key": tenant_a.api_key})
        error_of(form, 415)

        response = await browser.post("/console/session", json={"api_key": tenant_a.api_key})
        assert response.status_code == 204
        cookie = response.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie and "path=/console" in cookie
        assert "secure" not in cookie  # plain http on loopback
        me = (await browser.get("/console/api/me")).json()
        assert me["tenant_id"] == tenant_a.tenant_id

    async with console_client(settings, runtime, "https://console.test") as browser:
        response = await browser.post("/console/session", json={"api_key": tenant_a.api_key})
        assert "secure" in response.headers["set-cookie"].lower()


async def test_every_state_change_needs_the_sessions_csrf_token(
    settings: Settings, runtime: Runtime, tenant_a: Caller, tenant_b: Caller
) -> None:
    async with console_client(settings, runtime) as a, console_client(settings, runtime) as b:
        csrf_a = await signed_in(a, tenant_a.api_key)
        csrf_b = await signed_in(b, tenant_b.api_key)
        assert csrf_a != csrf_b
        body = {"name": "Sales bot", "system_prompt_template": "Hi {{ customer }}"}
        odd = "é".encode("latin-1")  # not ASCII: compared as bytes, not a crash
        for headers in (
            {},
            {"X-CSRF-Token": "0" * 64},
            {"X-CSRF-Token": csrf_b},
            {"X-CSRF-Token": csrf_a[:-1]},
            {"X-CSRF-Token": odd},
        ):
            error_of(await a.post("/console/api/agents", json=body, headers=headers), 403)
        error_of(await a.post("/console/logout", headers={"X-CSRF-Token": odd}), 403)
        assert (await a.get("/console/api/agents")).json()["items"] == []
        created = await a.post("/console/api/agents", json=body, headers={"X-CSRF-Token": csrf_a})
        assert created.status_code == 201, created.text
        agent_id = created.json()["id"]
        error_of(await a.delete(f"/console/api/agents/{agent_id}"), 403)
        error_of(await a.post("/console/logout"), 403)
        assert (await a.get(f"/console/api/agents/{agent_id}")).status_code == 200


async def test_a_tenant_sees_nothing_of_another_through_the_console(
    client: httpx.AsyncClient,
    settings: Settings,
    runtime: Runtime,
    tenant_a: Caller,
    tenant_b: Caller,
) -> None:
    secret = f"sk-a-{uuid.uuid4().hex}"
    credential = await client.post(
        "/api/v1/credentials",
        headers=tenant_a.headers,
        json={"name": "A_KEY", "value": secret, "allowed_hosts": ["example.org"]},
    )
    assert credential.status_code == 201
    agent = await client.post(
        "/api/v1/agents",
        headers=tenant_a.headers,
        json={"name": "A agent", "system_prompt_template": "Hi"},
    )
    document = await client.post(
        "/api/v1/rag/documents",
        headers=tenant_a.headers,
        files={"file": ("a.txt", b"tenant a private text")},
    )
    assert document.status_code == 202
    ids = {
        "credentials": credential.json()["id"],
        "agents": agent.json()["id"],
        "rag/documents": document.json()["id"],
    }
    async with console_client(settings, runtime) as b:
        csrf = await signed_in(b, tenant_b.api_key)
        seen = []
        for kind, object_id in ids.items():
            listing = await b.get(f"/console/api/{kind}")
            assert listing.status_code == 200 and listing.json()["items"] == [], kind
            error_of(await b.get(f"/console/api/{kind}/{object_id}"), 404)
            error_of(
                await b.delete(f"/console/api/{kind}/{object_id}", headers={"X-CSRF-Token": csrf}),
                404,
            )
            seen.append(listing.text)
        audit = await b.get("/console/api/audit-logs")
        logged = {entry["resource_id"] for entry in audit.json()["items"]}
        assert not logged & {str(i) for i in ids.values()}
        assert secret not in "".join(seen)
        # Platform pages answer a tenant's session as the API does: 403.
        error_of(await b.get("/console/api/tenants"), 403)
    for kind, object_id in ids.items():
        still = await client.get(f"/api/v1/{kind}/{object_id}", headers=tenant_a.headers)
        assert still.status_code == 200, kind


async def test_password_sign_in_and_sign_out_ends_the_session(
    client: httpx.AsyncClient, settings: Settings, runtime: Runtime, tenant_a: Caller
) -> None:
    email = f"ana-{uuid.uuid4().hex[:6]}@example.org"
    await create_user(client, tenant_a.headers, email, password=PASSWORD, role="admin")
    async with console_client(settings, runtime) as browser:
        wrong = await browser.post(
            "/console/session", json={"email": email, "password": "wrong-password-1"}
        )
        assert error_of(wrong, 401)["message"]
        response = await browser.post(
            "/console/session", json={"email": email, "password": PASSWORD}
        )
        assert response.status_code == 204, response.text
        token = browser.cookies["orch_console"]
        me = (await client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})).json()
        assert me["email"] == email
        page = await browser.get("/console/documents")
        csrf = page.text.split('name="csrf-token" content="')[1].split('"')[0]
        out = await browser.post("/console/logout", headers={"X-CSRF-Token": csrf})
        assert out.status_code == 204
        after = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
        assert after.status_code == 401


async def test_the_bridge_reaches_only_the_api(
    settings: Settings, runtime: Runtime, tenant_a: Caller
) -> None:
    async with console_client(settings, runtime) as browser:
        await signed_in(browser, tenant_a.api_key)
        for path in ("/console/api/../metrics", "/console/api//me", "/console/api/%2e%2e/metrics"):
            response = await browser.get(path)
            assert response.status_code == 404, path
        browser.cookies.set("orch_console", "not-a-token", path="/console")
        error_of(await browser.get("/console/api/me"), 401)


async def test_console_pages_forbid_inline_and_foreign_scripts(
    settings: Settings, runtime: Runtime, tenant_a: Caller
) -> None:
    async with console_client(settings, runtime) as browser:
        await signed_in(browser, tenant_a.api_key)
        for page in ("documents", "search", "agents", "credentials", "access", "audit", "platform"):
            response = await browser.get(f"/console/{page}")
            assert response.status_code == 200, page
            policy = response.headers["content-security-policy"]
            assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
            assert "http://" not in response.text and "https://" not in response.text
        assert (await browser.get("/console/static/console.js")).status_code == 200
        error_of(await browser.get("/console/nope"), 404)


async def test_api_docs_load_only_packaged_assets_and_declare_the_key_scheme(
    client: httpx.AsyncClient,
) -> None:
    for page in ("/docs", "/redoc"):
        response = await client.get(page)
        assert response.status_code == 200
        assert "cdn" not in response.text.lower()
        assets = [
            part.split('"')[0]
            for part in response.text.replace("'", '"').split('="')[1:]
            if part.startswith("/docs-assets/")
        ]
        assert assets, page
        for asset in assets:
            assert (await client.get(asset)).status_code == 200, asset
    schema = (await client.get("/openapi.json")).json()
    assert schema["components"]["securitySchemes"]["ApiKey"]["scheme"] == "bearer"
    assert schema["paths"]["/api/v1/me"]["get"]["security"] == [{"ApiKey": []}]
    assert "security" not in schema["paths"]["/api/v1/auth/login"]["post"]
    assert not any(path.startswith("/console") for path in schema["paths"])
