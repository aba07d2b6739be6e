"""Running an HTTP tool: templates filled at call time, the SSRF guard on every hop, bounded
time and size, retries only for idempotent methods, credentials never sent to another host nor
over a downgraded scheme. Failures are told as fixed messages (class of failure and host),
never in the HTTP library's words, which can quote the request and its secrets."""

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urljoin, urlsplit

import httpx

from orchestrator_service.errors import InvalidInput, OrchestratorError
from orchestrator_service.outbound import (
    HEADER_NAME,
    TooLarge,
    failure,
    header_value,
    host_of,
    read_capped,
)
from orchestrator_service.patterns import compile_pattern
from orchestrator_service.tools.schemas import HttpToolConfig
from orchestrator_service.tools.ssrf import Guard, GuardedTransport

_PLACEHOLDER = compile_pattern(r"\{\{\s*(credential:)?([A-Za-z0-9_.:-]+)\s*\}\}")
_IDEMPOTENT = {"GET", "HEAD", "PUT", "DELETE", "OPTIONS"}
_MAX_REDIRECTS = 5
SecretLookup = Callable[[str, str], Awaitable[str]]


class ToolCallFailed(OrchestratorError):
    """The tool's service failed (error status, bad answer, too large)."""

    status_code = 502
    code = "tool_failed"


class ToolTimeout(OrchestratorError):
    """The tool's service did not answer in time."""

    status_code = 504
    code = "tool_timeout"


class _Renderer:
    """Fills `{{arg}}` and `{{credential:NAME}}` and remembers whether a secret went in."""

    def __init__(self, arguments: dict, secret: SecretLookup, destination: str) -> None:
        self.arguments = arguments
        self.secret = secret
        self.destination = destination
        self.secret_used = False

    async def text(self, template: str, *, url: bool = False, secrets: bool = True) -> str:
        parts: list[str] = []
        position = 0
        for match in _PLACEHOLDER.finditer(template):
            parts.append(template[position : match.start()])
            if match.group(1) and not secrets:
                parts.append(match.group(0))  # filled in a later pass
            elif match.group(1):
                value = await self.secret(match.group(2), self.destination)
                parts.append(quote(value, safe="") if url else value)
                self.secret_used = True
            else:
                value = self._argument(match.group(2))
                value = value if isinstance(value, str) else json.dumps(value)
                parts.append(quote(value, safe="") if url else value)
            position = match.end()
        parts.append(template[position:])
        return "".join(parts)

    async def value(self, template: Any) -> Any:
        if isinstance(template, str):
            whole = _PLACEHOLDER.fullmatch(template.strip())
            if whole and not whole.group(1):
                return self._argument(whole.group(2))  # keeps the argument's JSON type
            return await self.text(template)
        if isinstance(template, dict):
            return {k: await self.value(v) for k, v in template.items()}
        if isinstance(template, list):
            return [await self.value(v) for v in template]
        return template

    def _argument(self, path: str) -> Any:
        value: Any = self.arguments
        for part in path.removeprefix("args.").split("."):
            if not isinstance(value, dict) or part not in value:
                return ""
            value = value[part]
        return value


@dataclass
class _Call:
    """One rendered request, what in it carries a secret, and the URL of the hop under way."""

    method: str
    url: str
    headers: dict[str, str]
    body: Any
    secret_headers: set[str]
    secret_in_body: bool
    hop: str = ""

    @property
    def host(self) -> str:
        """The host of the hop under way, for messages."""
        return host_of(self.hop or self.url)


def _checked_header(name: str, value: str) -> str:
    """The header's value as sent, or 422 before anything is sent (never quoting the value)."""
    if not HEADER_NAME.fullmatch(name):
        raise InvalidInput("A header name of the tool is not a valid HTTP header name")
    sendable = header_value(value)
    if sendable is None:
        raise InvalidInput(
            f"The tool's header {name!r} would hold characters an HTTP header cannot carry "
            "(control or non-ASCII characters, from an argument or a credential); nothing was "
            "sent"
        )
    return sendable


async def _render(
    config: HttpToolConfig, url_template: str, arguments: dict, secret: SecretLookup
) -> _Call:
    """Fill the templates. The destination is known (arguments filled) before any secret is
    looked up, so a credential is checked against the host it will really be sent to."""
    partial = await _Renderer(arguments, secret, "").text(url_template, url=True, secrets=False)
    try:
        host = urlsplit(partial).hostname
    except ValueError:
        host = None
    if not host or "{{" in (urlsplit(partial).netloc if host else partial):
        raise ToolCallFailed("The tool's URL has no valid host (credentials may not name it)")
    url = await _Renderer(arguments, secret, partial).text(partial, url=True)
    headers, secret_headers = {}, set()
    for name, template in config.headers.items():
        renderer = _Renderer(arguments, secret, partial)
        headers[name] = _checked_header(name, await renderer.text(template))
        if renderer.secret_used:
            secret_headers.add(name.lower())
    body_renderer = _Renderer(arguments, secret, partial)
    body = await body_renderer.value(config.body) if config.body is not None else None
    return _Call(
        method=config.method,
        url=url,
        headers=headers,
        body=body,
        secret_headers=secret_headers,
        secret_in_body=body_renderer.secret_used,
    )


async def call_http_tool(
    config: HttpToolConfig,
    url_template: str,
    arguments: dict,
    *,
    guard: Guard,
    secret: SecretLookup,
) -> Any:
    """Call the tool's service and return its answer (JSON if it sends JSON, else text)."""
    call = await _render(config, url_template, arguments, secret)
    attempts = config.retries + 1 if config.method in _IDEMPOTENT else 1
    timeout = httpx.Timeout(config.timeout_s)
    async with httpx.AsyncClient(transport=GuardedTransport(guard), timeout=timeout) as client:
        for attempt in range(attempts):
            try:
                async with asyncio.timeout(config.timeout_s):
                    return await _follow(client, config, call)
            except (TimeoutError, httpx.TimeoutException):
                if attempt + 1 == attempts:
                    raise ToolTimeout(
                        f"The tool's service at {call.host} did not answer within "
                        f"{config.timeout_s:g} s"
                    ) from None
            except _Retryable as exc:
                if attempt + 1 == attempts:
                    raise ToolCallFailed(
                        f"The tool's service at {call.host} answered {exc.status}",
                        details={"status": exc.status},
                    ) from None
            except httpx.TransportError as exc:
                if attempt + 1 == attempts:
                    raise ToolCallFailed(
                        f"The tool's service at {call.host} failed: {failure(exc)}"
                    ) from None
            except (httpx.HTTPError, httpx.InvalidURL, ValueError) as exc:
                raise ToolCallFailed(
                    f"The tool's service at {call.host} failed: {failure(exc)}"
                ) from None
            await asyncio.sleep(0.2 * 2**attempt)
    raise AssertionError("unreachable")


class _Retryable(Exception):
    """A 5xx answer, worth another try for idempotent methods."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


def keeps_secrets(origin: str, target: str) -> bool:
    """Whether a redirect from `origin` to `target` may carry the credentials: only to the same
    host and port, and never from https down to http."""
    before, after = urlsplit(origin), urlsplit(target)
    downgrade = before.scheme.lower() == "https" and after.scheme.lower() != "https"
    return before.netloc.lower() == after.netloc.lower() and not downgrade


async def _follow(client: httpx.AsyncClient, config: HttpToolConfig, call: _Call) -> Any:
    method, url, headers, body = call.method, call.url, dict(call.headers), call.body
    for _ in range(_MAX_REDIRECTS + 1):
        call.hop = url
        request = client.build_request(method, url, headers=headers, json=body)
        response = await client.send(request, stream=True)
        try:
            if response.is_redirect:
                target = _redirect_target(call, url, response)
                if response.status_code == 303 or (
                    response.status_code in (301, 302) and method != "GET"
                ):
                    method, body = "GET", None
                if not keeps_secrets(url, target):
                    # Once a credential would leave its host or its encryption, it stays behind.
                    headers = {
                        k: v
                        for k, v in headers.items()
                        if k.lower() not in call.secret_headers and k.lower() != "authorization"
                    }
                    if body is not None and call.secret_in_body:
                        raise ToolCallFailed(
                            f"The tool's service at {call.host} redirected a request carrying a "
                            "credential to another host or to plain http; refused"
                        )
                url = target
                continue
            payload = await _read(response, config.max_response_bytes)
        finally:
            await response.aclose()
        if response.status_code >= 500:
            raise _Retryable(response.status_code)
        if response.status_code >= 300:
            raise ToolCallFailed(
                f"The tool's service at {call.host} answered {response.status_code}",
                details={"status": response.status_code},
            )
        return _decode(payload, response.headers.get("content-type", ""))
    raise ToolCallFailed(
        f"The tool's service at {call.host} redirected more than {_MAX_REDIRECTS} times"
    )


def _redirect_target(call: _Call, url: str, response: httpx.Response) -> str:
    """Where a redirect points, or a tool failure when it points nowhere usable."""
    location = response.headers.get("location", "").strip()
    if not location:
        raise ToolCallFailed(
            f"The tool's service at {call.host} answered {response.status_code} without a "
            "Location to follow",
            details={"status": response.status_code},
        )
    try:
        return str(httpx.URL(urljoin(url, location)))
    except (httpx.InvalidURL, ValueError):
        raise ToolCallFailed(
            f"The tool's service at {call.host} redirected to a URL that is not valid"
        ) from None


async def _read(response: httpx.Response, limit: int) -> bytes:
    try:
        return await read_capped(response, limit)
    except TooLarge:
        raise ToolCallFailed(
            f"The tool's answer is larger than {limit} bytes; it was cut off and discarded",
            details={"max_response_bytes": limit},
        ) from None


def _decode(payload: bytes, content_type: str) -> Any:
    text = payload.decode("utf-8", errors="replace")
    if "json" in content_type:
        try:
            return json.loads(text, parse_constant=_no_constant)
        except ValueError:
            raise ToolCallFailed("The tool's service sent invalid JSON") from None
    return text


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")
