"""Outbound tool failures are fixed messages naming the class of failure and the host, never the
HTTP library's text (which quotes the request, secrets included): not in the answer, the
`tool_executions` row or the logs. Rendered headers are checked before any connection opens;
templates holding control characters are refused when a tool is created or updated. Redirects
that downgrade https to http drop the credentials, and a redirect status without a Location is
a tool failure, not a 500."""

import logging
import uuid
from urllib.parse import quote

import httpx
import pytest

from orchestrator_service.tools import http_runner
from tests.helpers import Caller, create_agent, error_of
from tests.network import NetworkSpy
from tests.tools.helpers import (
    ToolServer,
    create_credential,
    create_tool,
    executions,
    http_tool,
    invoke,
)

pytestmark = pytest.mark.usefixtures("loopback_allowed")


def distinctive_secret() -> str:
    """A secret value that cannot appear anywhere by chance."""
    return f"sk-live-{uuid.uuid4().hex}"


@pytest.mark.parametrize(
    ("credential_suffix", "argument"),
    [("", "\n"), ("", "\x01x"), ("\x01", ""), ("\x7f", "")],
    ids=["newline argument", "control argument", "control in the secret", "DEL in the secret"],
)
async def test_a_header_the_client_would_refuse_is_refused_before_connecting_without_the_secret(
    client,
    tenant_a: Caller,
    platform_admin: Caller,
    tool_server: ToolServer,
    network: NetworkSpy,
    fresh_db,
    caplog,
    credential_suffix: str,
    argument: str,
) -> None:
    # The report's case: a header rendering to a value the HTTP client refuses made the
    # client's error text, rendered header and (global) secret included, the body of the 502.
    caplog.set_level(logging.DEBUG)
    secret = distinctive_secret()
    await create_credential(
        client,
        platform_admin,
        "PLATFORM_KEY",
        secret + credential_suffix,
        allowed_hosts=["tools.test"],
    )
    await http_tool(
        client,
        tenant_a,
        "crm",
        tool_server.url("/echo"),
        headers={"Authorization": "Bearer {{credential:PLATFORM_KEY}}{{suffix}}"},
    )
    agent = await create_agent(client, tenant_a, enabled_tools=["crm"])

    response = await invoke(client, tenant_a, agent["id"], "crm", {"suffix": argument})

    error = error_of(response, 422, "invalid_input")
    assert "'Authorization'" in error["message"] and "nothing was sent" in error["message"]
    assert secret not in response.text
    assert network.connections == [] and tool_server.received == []
    [row] = await executions(fresh_db)
    assert (row["status"], row["error_message"]) == ("failed", error["message"])
    assert secret not in row["whole"]
    assert secret not in caplog.text


BAD_TEMPLATES = {
    "control character in a header template": {
        "config": {"url": "http://tools.test/echo", "headers": {"X-Key": "a{{credential:K}}\x01b"}}
    },
    "newline inside a header template": {
        "config": {"url": "http://tools.test/echo", "headers": {"X-Key": "a\nb: c"}}
    },
    "non-ASCII header template": {
        "config": {"url": "http://tools.test/echo", "headers": {"X-Key": "clé {{x}}"}}
    },
    "header name that is not a token": {
        "config": {"url": "http://tools.test/echo", "headers": {"X Key": "{{credential:K}}"}}
    },
    "control character in the URL template": {
        "config": {"url": "http://tools.test/ec\x0bho?k={{credential:K}}"}
    },
    "newline inside the URL template": {"config": {"url": "http://tools.test/a\nb"}},
    "control character in service_url": {"service_url": "http://tools.test/\x07echo"},
}


async def test_templates_with_control_characters_are_refused_at_create_and_update(
    client, tenant_a: Caller, subtests
) -> None:
    tool = await http_tool(client, tenant_a, "fine", "http://tools.test/echo")

    for case, fields in BAD_TEMPLATES.items():
        with subtests.test(msg=case):
            created = await client.post(
                "/api/v1/tools",
                headers=tenant_a.headers,
                json={"name": "bad", "type": "http", **fields},
            )
            updated = await client.patch(
                f"/api/v1/tools/{tool['id']}", headers=tenant_a.headers, json=fields
            )

            assert error_of(created, 422, "validation_error")
            assert error_of(updated, 422, "validation_error")
    listed = await client.get("/api/v1/tools", headers=tenant_a.headers)
    assert [t["name"] for t in listed.json()["items"] if t["tenant_id"]] == ["fine"]


async def test_the_template_constraints_are_stated_in_the_openapi_schema(client) -> None:
    schemas = (await client.get("/openapi.json")).json()["components"]["schemas"]
    config = schemas["HttpToolConfig"]["properties"]

    assert config["headers"]["additionalProperties"] is False
    [(name_pattern, value)] = config["headers"]["patternProperties"].items()
    assert name_pattern.startswith("^[!#$%&'*+.^_`|~0-9A-Za-z-]")
    assert value["pattern"] == r"^[\t\x20-\x7e]*$"
    assert config["url"]["anyOf"][0]["pattern"] == r"^[^\x00-\x1f\x7f]*$"
    for fields in ("ToolCreate", "ToolUpdate"):
        assert {"$ref": "#/components/schemas/HttpToolConfig"} in schemas[fields]["properties"][
            "config"
        ]["anyOf"]


async def test_a_service_that_hangs_up_is_a_fixed_message(
    client, tenant_a: Caller, tool_server: ToolServer, fresh_db, caplog
) -> None:
    caplog.set_level(logging.DEBUG)
    secret = distinctive_secret()
    await create_credential(client, tenant_a, "CRM_TOKEN", secret, allowed_hosts=["tools.test"])
    await http_tool(
        client,
        tenant_a,
        "crm",
        tool_server.url("/hang-up?key={{credential:CRM_TOKEN}}"),
        headers={"Authorization": "Bearer {{credential:CRM_TOKEN}}"},
    )
    agent = await create_agent(client, tenant_a, enabled_tools=["crm"])

    response = await invoke(client, tenant_a, agent["id"], "crm")

    error = error_of(response, 502, "tool_failed")
    assert error["message"] == (
        "The tool's service at tools.test failed: the connection closed early or the answer "
        "was not valid HTTP (RemoteProtocolError)"
    )
    assert tool_server.received[0].headers["authorization"] == f"Bearer {secret}"
    [row] = await executions(fresh_db)
    assert row["error_message"] == error["message"]
    assert secret not in caplog.text and quote(secret, safe="") not in caplog.text


async def test_a_credential_the_service_reflects_in_a_header_is_kept_out_of_debug_logs(
    client, tenant_a: Caller, tool_server: ToolServer, caplog
) -> None:
    # Found by the property test: httpcore logs response headers as the repr of bytes, which
    # escapes a value holding both quote kinds unlike any form the scrubber knew.
    caplog.set_level(logging.DEBUG)
    secret = f"x'\"\\{distinctive_secret()}"
    await create_credential(client, tenant_a, "CRM_TOKEN", secret, allowed_hosts=["tools.test"])
    await http_tool(
        client,
        tenant_a,
        "crm",
        tool_server.url("/reflect-headers"),
        headers={"X-Api-Key": "{{credential:CRM_TOKEN}}"},
    )
    agent = await create_agent(client, tenant_a, enabled_tools=["crm"])

    response = await invoke(client, tenant_a, agent["id"], "crm")

    assert response.status_code == 200, response.text
    [logged] = [r for r in caplog.records if "X-Echo-x-api-key" in r.getMessage()]
    assert "[SECRET]" in logged.getMessage()
    assert secret[4:] not in caplog.text


@pytest.mark.parametrize("code", [301, 302, 307, 308, 300, 304])
async def test_a_redirect_status_without_a_location_is_a_tool_failure(
    lenient_client, tenant_a: Caller, tool_server: ToolServer, code: int
) -> None:
    await http_tool(lenient_client, tenant_a, "lost", tool_server.url(f"/no-location?code={code}"))
    agent = await create_agent(lenient_client, tenant_a, enabled_tools=["lost"])

    response = await invoke(lenient_client, tenant_a, agent["id"], "lost")

    error = error_of(response, 502, "tool_failed")
    assert error["message"].startswith(f"The tool's service at tools.test answered {code}")
    assert error["details"] == {"status": code}


@pytest.fixture
def https_service(monkeypatch: pytest.MonkeyPatch) -> list[httpx.Request]:
    """The tool's service at https://tools.test, which redirects to http://tools.test (same
    host, default ports): an in-process transport stands in for TLS, no socket opens."""
    received: list[httpx.Request] = []

    def serve(request: httpx.Request) -> httpx.Response:
        received.append(request)
        if request.url.scheme == "https":
            code = int(request.url.params.get("code", "302"))
            return httpx.Response(code, headers={"Location": "http://tools.test/echo"})
        return httpx.Response(200, json={"headers": dict(request.headers)})

    monkeypatch.setattr(http_runner, "GuardedTransport", lambda guard: httpx.MockTransport(serve))
    return received


async def test_a_redirect_from_https_to_http_on_the_same_host_drops_the_credentials(
    client, tenant_a: Caller, https_service: list[httpx.Request]
) -> None:
    secret = distinctive_secret()
    await create_credential(client, tenant_a, "CRM_TOKEN", secret, allowed_hosts=["tools.test"])
    await http_tool(
        client,
        tenant_a,
        "crm",
        "https://tools.test/start",
        method="GET",
        headers={
            "Authorization": "Bearer {{credential:CRM_TOKEN}}",
            "X-Api-Key": "{{credential:CRM_TOKEN}}",
            "X-Client": "orchestrator",
        },
    )
    agent = await create_agent(client, tenant_a, enabled_tools=["crm"])

    response = await invoke(client, tenant_a, agent["id"], "crm")

    assert response.status_code == 200, response.text
    first, second = https_service
    assert first.headers["authorization"] == f"Bearer {secret}"
    assert str(second.url) == "http://tools.test/echo"
    assert "authorization" not in second.headers and "x-api-key" not in second.headers
    assert second.headers["x-client"] == "orchestrator"


@pytest.mark.parametrize("code", [302, 307])
async def test_a_credential_in_the_body_is_not_sent_over_a_downgraded_redirect(
    client, tenant_a: Caller, https_service: list[httpx.Request], code: int
) -> None:
    secret = distinctive_secret()
    await create_credential(client, tenant_a, "CRM_TOKEN", secret, allowed_hosts=["tools.test"])
    await http_tool(
        client,
        tenant_a,
        "crm",
        f"https://tools.test/start?code={code}",
        body={"api_key": "{{credential:CRM_TOKEN}}"},
    )
    agent = await create_agent(client, tenant_a, enabled_tools=["crm"])

    response = await invoke(client, tenant_a, agent["id"], "crm")

    assert secret in https_service[0].content.decode()
    assert [r for r in https_service[1:] if secret in r.content.decode()] == []
    if code == 307:  # the body would be re-sent as it is: refused
        assert "plain http" in error_of(response, 502, "tool_failed")["message"]
        assert len(https_service) == 1
    else:  # a 302 turns the POST into a GET without a body
        assert response.status_code == 200, response.text
        assert https_service[1].content == b""


def test_only_a_redirect_on_the_same_host_and_scheme_keeps_the_credentials() -> None:
    keeps = http_runner.keeps_secrets
    assert keeps("https://api.test/a", "https://api.test/b")
    assert keeps("http://api.test/a", "https://api.test/b")  # an upgrade keeps them
    assert keeps("https://API.test/a", "https://api.test/b")
    assert not keeps("https://api.test/a", "http://api.test/b")
    assert not keeps("https://api.test/a", "https://api.test:8443/b")
    assert not keeps("https://api.test/a", "https://other.test/b")


async def test_a_tool_with_a_valid_template_still_reaches_its_service(
    client, tenant_a: Caller, tool_server: ToolServer
) -> None:
    secret = distinctive_secret()
    await create_credential(client, tenant_a, "CRM_TOKEN", secret, allowed_hosts=["tools.test"])
    await create_tool(
        client,
        tenant_a,
        name="crm",
        type="http",
        config={
            "url": tool_server.url("/echo"),
            "headers": {"Authorization": "Bearer\t{{credential:CRM_TOKEN}}", "X-Note": "{{n}}"},
        },
    )
    agent = await create_agent(client, tenant_a, enabled_tools=["crm"])

    response = await invoke(client, tenant_a, agent["id"], "crm", {"n": "  padded  "})

    assert response.status_code == 200, response.text
    [received] = tool_server.received
    assert received.headers["authorization"] == f"Bearer\t{secret}"
    assert received.headers["x-note"] == "padded"  # blanks around a value are not part of it
