"""The console's bridge to the API: a session cookie holds the bearer token (HttpOnly, never
seen by scripts); `/console/api/<path>` replays the request in-process as `/api/v1/<path>` with
that token, after checking the per-session CSRF token on every state-changing method."""

import hashlib
import hmac
import json
from http.cookies import SimpleCookie

from starlette.types import ASGIApp, Message, Receive, Scope, Send

COOKIE = "orch_console"
CSRF_HEADER = "x-csrf-token"
BRIDGE_PREFIX = "/console/api"
API_PREFIX = "/api/v1"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Headers the browser sends that the API must not see from the console.
_DROPPED = frozenset({b"cookie", b"authorization", CSRF_HEADER.encode()})


def csrf_token(token: str) -> str:
    """The session's CSRF token: derived from the bearer token (domain-separated), so it is
    per-session, needs no storage, and cannot be computed without the HttpOnly cookie."""
    return hashlib.sha256(b"orchestrator-console-csrf\0" + token.encode()).hexdigest()


def csrf_ok(given: str | None, token: str) -> bool:
    """Whether a request's CSRF header matches the session's, in constant time (compared as
    bytes: a header may hold any Latin-1 text)."""
    expected = csrf_token(token).encode()
    return given is not None and hmac.compare_digest(given.encode("latin-1"), expected)


def session_token(headers: list[tuple[bytes, bytes]]) -> str | None:
    """The bearer token in the console cookie of raw ASGI headers, if any."""
    for name, value in headers:
        if name.lower() == b"cookie":
            jar: SimpleCookie = SimpleCookie()
            try:
                jar.load(value.decode("latin-1"))
            except Exception:  # a malformed Cookie header is the same as none
                return None
            if COOKIE in jar and jar[COOKIE].value:
                return jar[COOKIE].value
    return None


def _header(headers: list[tuple[bytes, bytes]], wanted: bytes) -> str:
    return next((v.decode("latin-1") for k, v in headers if k.lower() == wanted), "")


async def _refuse(send: Send, status: int, code: str, message: str) -> None:
    body = json.dumps({"error": {"code": code, "message": message, "details": None}}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": body})


def api_scope(scope: Scope, path: str, method: str, token: str | None) -> Scope:
    """A copy of a request's scope addressed to an API path, carrying `token` as the bearer."""
    headers = [(k, v) for k, v in scope["headers"] if k.lower() not in _DROPPED]
    if token:
        headers.append((b"authorization", f"Bearer {token}".encode("latin-1")))
    return {
        **scope,
        "method": method,
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "headers": headers,
        "state": dict(scope.get("state", {})),
    }


class Bridge:
    """ASGI app mounted at /console/api that forwards to the API, streaming both ways."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Check the session and CSRF token, then run the request as the API's."""
        if scope["type"] != "http":
            return
        token = session_token(scope["headers"])
        if token is None:
            await _refuse(send, 401, "unauthorized", "Not signed in to the console")
            return
        method = scope["method"].upper()
        if method not in SAFE_METHODS and not csrf_ok(
            _header(scope["headers"], CSRF_HEADER.encode()), token
        ):
            await _refuse(send, 403, "csrf_failed", "Missing or wrong CSRF token; reload the page")
            return
        path: str = scope["path"]
        rest = path[len(BRIDGE_PREFIX) :] if path.startswith(BRIDGE_PREFIX) else ""
        if not rest.startswith("/") or "/.." in rest or "//" in rest:
            await _refuse(send, 404, "not_found", "No such API path")
            return
        # The heal report is served by readiness, which tells a platform-admin caller more.
        path = rest if rest == "/health/ready" else API_PREFIX + rest
        await self.app(api_scope(scope, path, method, token), receive, send)


async def call_api(
    app: ASGIApp, scope: Scope, method: str, path: str, token: str | None, body: bytes = b""
) -> tuple[int, bytes]:
    """Run one API request in-process (as the client of `scope`) and return status and body."""
    inner = api_scope(scope, path, method, token)
    inner["headers"] = [
        (k, v) for k, v in inner["headers"] if k not in (b"content-length", b"content-type")
    ] + [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    inner["query_string"] = b""
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    status, chunks = 500, []

    async def send(message: Message) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(inner, receive, send)
    return status, b"".join(chunks)
