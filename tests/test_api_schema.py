"""What the Schemathesis run (tests/test_api_fuzz.py) found, each held by a plain test: the
OpenAPI schema documents every error response with the one error body, states the constraints
the API enforces, and the API answers what the schema says."""

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi import FastAPI

from orchestrator_service.config import Settings
from orchestrator_service.main import create_app
from orchestrator_service.schemas import NOT_BLANK_PATTERN
from tests.helpers import Caller

API = "/api/v1"


@pytest.fixture
def openapi(settings: Settings) -> dict:
    app: FastAPI = create_app(settings)
    return app.openapi()


def _ref(response: dict) -> str | None:
    schema = response.get("content", {}).get("application/json", {}).get("schema", {})
    return schema.get("$ref")


def test_every_operation_documents_its_errors_with_the_one_error_body(openapi: dict) -> None:
    """401/403 behind authentication, 404 where a path or body names an object, 400/413/422
    where there is input; all with `{"error": {...}}`, none with FastAPI's own 422 body
    (which the API never sends)."""
    operations = [
        (method, path, operation)
        for path, item in openapi["paths"].items()
        if path.startswith(API)
        for method, operation in item.items()
    ]
    assert len(operations) > 50
    for method, path, operation in operations:
        responses = operation["responses"]
        where = f"{method.upper()} {path}"
        errors = {code: r for code, r in responses.items() if code.startswith(("4", "5"))}
        assert all(_ref(r) == "#/components/schemas/ErrorBody" for r in errors.values()), where
        assert "401" in responses, where
        if path != f"{API}/auth/login":
            assert "403" in responses, where
        if "{" in path:
            assert "404" in responses, where
        if "requestBody" in operation:
            assert {"400", "413", "422"} <= responses.keys(), where
    assert "HTTPValidationError" not in openapi["components"]["schemas"]
    body = openapi["components"]["schemas"]["ErrorBody"]
    assert body["required"] == ["error"]


async def test_an_object_named_in_a_body_and_missing_is_a_documented_404(
    client: httpx.AsyncClient, tenant_a: Caller, openapi: dict
) -> None:
    """Found: POST /conversations with the id of no agent answered an undocumented 404."""
    response = await client.post(
        f"{API}/conversations", json={"agent_id": 999_999}, headers=tenant_a.headers
    )

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert "404" in openapi["paths"][f"{API}/conversations"]["post"]["responses"]


async def test_a_body_that_is_not_utf8_is_a_documented_400(
    client: httpx.AsyncClient, tenant_a: Caller, openapi: dict
) -> None:
    response = await client.post(
        f"{API}/agents",
        content=b'{"name": "\x80"}',
        headers={**tenant_a.headers, "Content-Type": "application/json"},
    )

    assert response.status_code == 400
    assert set(response.json()["error"]) == {"code", "message", "details"}
    assert "400" in openapi["paths"][f"{API}/agents"]["post"]["responses"]


def _close_to_now(value: str) -> None:
    parsed = datetime.fromisoformat(value)
    assert parsed.tzinfo is not None, value
    assert abs(parsed - datetime.now(UTC)) < timedelta(minutes=5), value


async def test_times_of_seed_003_columns_carry_their_offset(
    client: httpx.AsyncClient, tenant_a: Caller
) -> None:
    """Found: `created_at` of business assets and documents (seed 003's naive TIMESTAMP
    columns) came without an offset, which `format: date-time` does not allow. They are
    written in UTC (UTC sessions) and read as UTC."""
    asset = await client.post(
        f"{API}/business-assets",
        json={"asset_type": "faq", "content": {"q": "a"}},
        headers=tenant_a.headers,
    )
    assert asset.status_code == 201, asset.text
    _close_to_now(asset.json()["created_at"])
    listed = await client.get(f"{API}/business-assets", headers=tenant_a.headers)
    _close_to_now(listed.json()["items"][0]["created_at"])

    upload = await client.post(
        f"{API}/rag/documents",
        files={"file": ("notes.txt", b"hola mundo", "text/plain")},
        headers=tenant_a.headers,
    )
    assert upload.status_code == 202, upload.text
    _close_to_now(upload.json()["created_at"])


@pytest.mark.parametrize("path", [f"{API}/audit-logs", f"{API}/executions"])
async def test_time_filters_take_iso_8601_only(
    client: httpx.AsyncClient, tenant_a: Caller, path: str
) -> None:
    """Found: `since=1155426` was read as Unix seconds although the schema says
    `format: date-time`."""
    for bad in ("1155426", "-5.8e-140", "yesterday"):
        refused = await client.get(path, params={"since": bad}, headers=tenant_a.headers)
        assert refused.status_code == 422, (bad, refused.text)
        assert refused.json()["error"]["code"] == "validation_error"
    for good in ("2025-01-31T12:00:00Z", "2025-01-31T12:00:00+02:00", "2025-01-31T12:00:00"):
        answered = await client.get(path, params={"until": good}, headers=tenant_a.headers)
        assert answered.status_code == 200, (good, answered.text)


async def test_a_blank_collection_in_an_upload_means_general(
    client: httpx.AsyncClient, tenant_a: Caller, openapi: dict
) -> None:
    """Found: the schema said `minLength: 1`, but a blank form field arrives as absent and was
    accepted; the schema now says blank or absent means General."""
    for blank, data in (("", b"one"), ("   ", b"two")):
        response = await client.post(
            f"{API}/rag/documents",
            files={"file": ("a.txt", data, "text/plain")},
            data={"collection": blank},
            headers=tenant_a.headers,
        )
        assert response.status_code == 202, response.text
        assert response.json()["collection"] == "General"
    body = openapi["paths"][f"{API}/rag/documents"]["post"]["requestBody"]
    ref = body["content"]["multipart/form-data"]["schema"]["$ref"].rsplit("/", 1)[1]
    collection = openapi["components"]["schemas"][ref]["properties"]["collection"]
    assert "minLength" not in collection and collection["maxLength"] == 100


async def test_patch_schemas_say_which_fields_take_null(
    client: httpx.AsyncClient, tenant_a: Caller, openapi: dict
) -> None:
    """Found: every PATCH schema allowed null everywhere, while the API refuses it except
    where clearing makes sense (`Patch.nullable`)."""
    update = openapi["components"]["schemas"]["AgentUpdate"]["properties"]
    assert update["name"]["type"] == "string" and "anyOf" not in update["name"]
    assert {"type": "null"} in update["description"]["anyOf"]
    created = await client.post(
        f"{API}/agents",
        json={"name": "helper", "system_prompt_template": "hi"},
        headers=tenant_a.headers,
    )
    agent = f"{API}/agents/{created.json()['id']}"

    refused = await client.patch(agent, json={"name": None}, headers=tenant_a.headers)
    cleared = await client.patch(agent, json={"description": None}, headers=tenant_a.headers)

    assert refused.status_code == 422
    assert cleared.status_code == 200 and cleared.json()["description"] is None


async def test_text_that_must_not_be_empty_must_not_be_blank_either(
    client: httpx.AsyncClient, tenant_a: Caller, openapi: dict
) -> None:
    """Bodies are trimmed, so a required text of spaces is refused: the schema says so."""
    name = openapi["components"]["schemas"]["AgentCreate"]["properties"]["name"]
    assert name["minLength"] == 1 and name["pattern"] == NOT_BLANK_PATTERN

    refused = await client.post(
        f"{API}/agents",
        json={"name": "   ", "system_prompt_template": "hi"},
        headers=tenant_a.headers,
    )

    assert refused.status_code == 422


async def test_true_is_not_a_number(client: httpx.AsyncClient, tenant_a: Caller) -> None:
    """Found: `"memory_limit": true` created an agent with a memory limit of 1, although the
    schema says `integer`."""
    body = {"name": "helper", "system_prompt_template": "hi"}
    refused = await client.post(
        f"{API}/agents", json={**body, "memory_limit": True}, headers=tenant_a.headers
    )
    accepted = await client.post(
        f"{API}/agents",
        json={**body, "memory_limit": 3, "temperature": 1},
        headers=tenant_a.headers,
    )

    assert refused.status_code == 422
    assert "memory_limit must be a number" in refused.json()["error"]["message"]
    assert accepted.status_code == 201 and accepted.json()["memory_limit"] == 3


async def test_deleting_a_mail_account_that_is_not_set_is_a_204(
    client: httpx.AsyncClient, tenant_a: Caller, openapi: dict
) -> None:
    """Found: DELETE /mail/account without one answered an undocumented 404; removing
    settings that are not there leaves the same state, so it succeeds."""
    response = await client.delete(f"{API}/mail/account", headers=tenant_a.headers)

    assert response.status_code == 204
    assert "404" not in openapi["paths"][f"{API}/mail/account"]["delete"]["responses"]
