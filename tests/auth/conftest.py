"""Helpers and fixtures shared by the auth tests: error-body checks, users, logins, keys, pages."""

from collections.abc import AsyncIterator

import httpx
import pytest

from orchestrator_service.bootstrap import Runtime
from orchestrator_service.config import Settings
from orchestrator_service.main import create_app

PASSWORD = "correct-horse-battery-staple"
CLIENT_IP = "203.0.113.7"


def bearer(token: str) -> dict[str, str]:
    """The Authorization header for an API key or a session token."""
    return {"Authorization": f"Bearer {token}"}


def error_of(response: httpx.Response, status: int, code: str | None = None) -> dict:
    """Assert `response` is an error with this status (and code) in the one error body."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert set(error) == {"code", "message", "details"}, error
    assert isinstance(error["message"], str) and error["message"]
    if code is not None:
        assert error["code"] == code, error
    return error


def outcome(response: httpx.Response) -> tuple[int, str]:
    """The status and error code of a response, or a note when the body is not the error body."""
    try:
        error = response.json()["error"]
    except (ValueError, KeyError, TypeError):
        return response.status_code, "<no error body>"
    if not isinstance(error, dict) or set(error) != {"code", "message", "details"}:
        return response.status_code, "<no error body>"
    return response.status_code, error["code"]


async def create_user(
    client: httpx.AsyncClient, headers: dict[str, str], email: str, **fields: object
) -> dict:
    """Create a user through the API and return its body."""
    response = await client.post("/api/v1/users", json={"email": email, **fields}, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


async def login(client: httpx.AsyncClient, email: str, password: str = PASSWORD) -> str:
    """Log in through the API and return the session token."""
    response = await client.post("/api/v1/auth/login", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    return response.json()["token"]


async def create_key(
    client: httpx.AsyncClient, headers: dict[str, str], name: str, **fields: object
) -> dict:
    """Create an API key through the API and return the 201 body (with the plaintext)."""
    response = await client.post("/api/v1/api-keys", json={"name": name, **fields}, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


async def all_pages(
    client: httpx.AsyncClient, path: str, headers: dict[str, str], **params: object
) -> list[dict]:
    """Follow `next_cursor` from the first page to the last and return every item in order."""
    items: list[dict] = []
    cursor = None
    for _ in range(1000):
        query = {**params, **({"cursor": cursor} if cursor else {})}
        response = await client.get(path, params=query, headers=headers)
        assert response.status_code == 200, response.text
        page = response.json()
        items.extend(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            return items
    raise AssertionError(f"{path} never reached its last page")


@pytest.fixture
async def lenient_client(settings: Settings, runtime: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    """Like `client`, but a 500 comes back as a response instead of raising inside the test."""
    app = create_app(settings, runtime=runtime)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False, client=(CLIENT_IP, 51000))
    async with httpx.AsyncClient(transport=transport, base_url="http://orchestrator.test") as c:
        yield c
