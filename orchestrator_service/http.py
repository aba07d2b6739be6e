"""HTTP conventions shared by every route: request ids, body limits, one error body."""

import contextvars
import json
import logging
import string
import time
import uuid
from collections.abc import Callable, Mapping

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import exc as sa_exc
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from orchestrator_service.credentials.scrub import install_log_scrubbing
from orchestrator_service.errors import OrchestratorError
from orchestrator_service.metrics import HTTP_LATENCY, HTTP_REQUESTS

log = logging.getLogger(__name__)
access_log = logging.getLogger("orchestrator_service.access")

REQUEST_ID_HEADER = "X-Request-ID"
request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "request_id", default=None
)
_REQUEST_ID_CHARS = frozenset(string.ascii_letters + string.digits + "._-")


def _client_request_id(given: str) -> bool:
    """Whether a client's request id is safe to echo and log: 1 to 64 of [A-Za-z0-9._-]."""
    return 0 < len(given) <= 64 and all(char in _REQUEST_ID_CHARS for char in given)


class ErrorDetail(BaseModel):
    """What went wrong: a stable `code`, a message for people, and structured `details`."""

    code: str
    message: str
    details: object = None


class ErrorBody(BaseModel):
    """The one error body of every error response (documented on every route)."""

    error: ErrorDetail


def error_body(status: int, code: str, message: str, details: object = None) -> dict:
    """The one error body every error response of the API uses."""
    return {"error": {"code": code, "message": message, "details": details}}


# Builds an error body from (status, code, message, details). Doors that speak another
# protocol's error shape (the OpenAI-compatible /v1) register theirs by path prefix.
ErrorShape = Callable[[int, str, str, object], dict]


def unavailable(store: str) -> str:
    """What a 503 body says: which store is unavailable, never where it is or what the driver
    said (that goes to the log)."""
    return f"The {store} is unavailable; try again later"


# Errors meaning the metadata database cannot be reached in the middle of a request.
_METADATA_UNREACHABLE = (
    ConnectionError,
    sa_exc.OperationalError,
    sa_exc.InterfaceError,
    sa_exc.TimeoutError,
)


def error_response(
    status: int,
    code: str,
    message: str,
    details: object = None,
    headers: Mapping[str, str] | None = None,
    shape: ErrorShape = error_body,
) -> JSONResponse:
    """A JSON error response carrying the request id."""
    headers = dict(headers or {})
    request_id = request_id_var.get()
    if request_id:
        headers[REQUEST_ID_HEADER] = request_id
    return JSONResponse(shape(status, code, message, details), status_code=status, headers=headers)


def _shape_for(path: str, shapes: Mapping[str, ErrorShape]) -> ErrorShape:
    """The error shape of a path: a registered door's, or the API's own."""
    for prefix, shape in shapes.items():
        if path.startswith(prefix):
            return shape
    return error_body


class RequestIdLogFilter(logging.Filter):
    """Adds the current request id to every log record."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Attach `request_id` (or "-") and keep the record."""
        if not hasattr(record, "request_id"):
            record.request_id = request_id_var.get() or "-"
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request id and the request's
    tenant, route, status and duration when the record has them."""

    _EXTRAS = ("tenant_id", "method", "route", "status", "duration_ms")

    def format(self, record: logging.LogRecord) -> str:
        """Render the record as JSON."""
        entry = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None),
        }
        entry |= {k: getattr(record, k) for k in self._EXTRAS if hasattr(record, k)}
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        return json.dumps(entry, default=str)


def configure_logging(level: str = "INFO", log_format: str = "text") -> None:
    """Log lines (text, or JSON) that carry the request id of the request they belong to."""
    handler = logging.StreamHandler()
    handler.addFilter(RequestIdLogFilter())
    handler.setFormatter(
        JsonFormatter()
        if log_format == "json"
        else logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s")
    )
    logging.basicConfig(level=level, handlers=[handler], force=True)
    install_log_scrubbing()
    logging.getLogger("pgserver").setLevel(logging.WARNING)


class RequestContextMiddleware:
    """Gives each request an id (the client's, if well-formed) and refuses oversized bodies."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body_bytes: int,
        large_bodies: dict[str, int] | None = None,
        error_shapes: Mapping[str, ErrorShape] | None = None,
    ) -> None:
        self.app = app
        self.default_limit = max_body_bytes
        self.large_bodies = large_bodies or {}
        self.error_shapes = error_shapes or {}

    def _limit(self, path: str) -> int:
        """The body limit of a path: JSON routes get the default, upload routes their own."""
        for prefix, limit in self.large_bodies.items():
            if path.startswith(prefix):
                return limit
        return self.default_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run one request with its id set and its body size bounded."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode().lower(): v.decode("latin-1") for k, v in scope["headers"]}
        given = headers.get(REQUEST_ID_HEADER.lower(), "")
        request_id = given if _client_request_id(given) else uuid.uuid4().hex
        token = request_id_var.set(request_id)
        started, status, response_started = time.perf_counter(), [500], [False]
        limit = self._limit(scope["path"])
        try:
            # PostgreSQL text cannot hold NUL: refused here once, not as a 500 in every query.
            if b"%00" in scope.get("query_string", b"") or "\x00" in scope["path"]:
                status[0] = 422
                response = error_response(
                    422,
                    "invalid_input",
                    "The URL contains a NUL character (%00), which no parameter may hold",
                    shape=_shape_for(scope["path"], self.error_shapes),
                )
                await response(scope, receive, send)
                return
            declared = headers.get("content-length", "")
            if declared.isdigit() and int(declared) > limit:
                status[0] = 413
                await self._too_large(scope, receive, send, limit)
                return
            await self.app(
                scope,
                self._bounded(receive, limit),
                self._with_id(send, request_id, status, response_started),
            )
        except BodyTooLarge:
            status[0] = 413
            await self._too_large(scope, receive, send, limit)
        except Exception as exc:
            # Answered here, inside the request context, so the 500 carries the request id.
            log.error("unhandled error: %s", type(exc).__name__, exc_info=exc)
            if not response_started[0]:
                response = error_response(
                    500,
                    "internal_error",
                    "An unexpected error occurred",
                    shape=_shape_for(scope["path"], self.error_shapes),
                )
                await response(scope, receive, send)
        finally:
            elapsed = time.perf_counter() - started
            route = _route_label(scope)
            principal = scope.get("state", {}).get("principal")
            HTTP_REQUESTS.labels(scope["method"], route, str(status[0])).inc()
            HTTP_LATENCY.labels(scope["method"], route).observe(elapsed)
            access_log.info(
                "%s %s %s %.1fms",
                scope["method"],
                scope["path"],
                status[0],
                elapsed * 1000,
                extra={
                    "request_id": request_id,
                    "tenant_id": getattr(principal, "tenant_id", None),
                    "method": scope["method"],
                    "route": route,
                    "status": status[0],
                    "duration_ms": round(elapsed * 1000, 1),
                },
            )
            request_id_var.reset(token)

    @staticmethod
    def _bounded(receive: Receive, limit: int) -> Receive:
        seen = 0

        async def bounded() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise BodyTooLarge(limit)
            return message

        return bounded

    @staticmethod
    def _with_id(send: Send, request_id: str, status: list[int], started: list[bool]) -> Send:
        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0], started[0] = message["status"], True
                name = REQUEST_ID_HEADER.lower().encode()
                message["headers"] = [
                    *(h for h in message.get("headers", []) if h[0].lower() != name),
                    (name, request_id.encode()),
                ]
            await send(message)

        return send_with_id

    async def _too_large(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        response = error_response(
            413,
            "body_too_large",
            f"The request body exceeds {limit} bytes",
            {"max_bytes": limit},
            shape=_shape_for(scope["path"], self.error_shapes),
        )
        await response(scope, receive, send)


class BodyTooLarge(StarletteHTTPException):
    """A streamed body passed the limit. An HTTPException, so FastAPI's body parsing lets it
    through instead of turning it into a 400."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"The request body exceeds {limit} bytes")
        self.limit = limit


def _route_label(scope: Scope) -> str:
    """The matched route's full template (`/api/v1/users/{user_id}`), for bounded metric labels.

    Routes of nested routers carry templates relative to their router, so the concrete path's
    leading segments stand in for the prefixes (path parameters never contain a slash here).
    """
    route = getattr(scope.get("route"), "path", None)
    if route is None:
        return "unmatched"
    depth = route.rstrip("/").count("/")
    prefix = "/".join(scope["path"].rstrip("/").split("/")[: -depth or None])
    return f"{prefix}{route}" if depth else scope["path"]


def install_http_conventions(
    app: FastAPI,
    *,
    max_body_bytes: int,
    large_bodies: dict[str, int] | None = None,
    error_shapes: Mapping[str, ErrorShape] | None = None,
) -> None:
    """Add the request-context middleware and map every error to the one error body (or, under
    a prefix of `error_shapes`, to that door's shape)."""
    shapes = dict(error_shapes or {})
    app.add_middleware(
        RequestContextMiddleware,
        max_body_bytes=max_body_bytes,
        large_bodies=large_bodies,
        error_shapes=shapes,
    )

    def shape(request: Request) -> ErrorShape:
        return _shape_for(request.url.path, shapes)

    @app.exception_handler(OrchestratorError)
    async def domain_error(request: Request, exc: OrchestratorError) -> JSONResponse:
        if exc.store is not None:
            log.warning("%s unavailable (%s): %s", exc.store, exc.code, exc.message)
            return error_response(
                exc.status_code, exc.code, unavailable(exc.store), shape=shape(request)
            )
        return error_response(
            exc.status_code, exc.code, exc.message, exc.details, exc.headers, shape(request)
        )

    async def metadata_unreachable(request: Request, exc: Exception) -> JSONResponse:
        log.warning("metadata database unavailable: %s", type(exc).__name__, exc_info=exc)
        return error_response(
            503,
            "database_unreachable",
            unavailable("metadata database"),
            shape=shape(request),
        )

    for unreachable in _METADATA_UNREACHABLE:
        app.add_exception_handler(unreachable, metadata_unreachable)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        details = [
            {"loc": [str(p) for p in e.get("loc", ())], "msg": e.get("msg"), "type": e.get("type")}
            for e in exc.errors()
        ]
        where = ", ".join(".".join(d["loc"]) + f": {d['msg']}" for d in details[:5])
        return error_response(
            422, "validation_error", f"Invalid request: {where}", details, shape=shape(request)
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if isinstance(exc, BodyTooLarge):
            return error_response(
                413,
                "body_too_large",
                str(exc.detail),
                {"max_bytes": exc.limit},
                shape=shape(request),
            )
        return error_response(
            exc.status_code,
            f"http_{exc.status_code}",
            str(exc.detail),
            None,
            exc.headers,
            shape(request),
        )
