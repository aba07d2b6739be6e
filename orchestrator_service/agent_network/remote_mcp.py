"""An agent's remote MCP server (`agents.mcp_endpoint`): list its tools and call them with the
official `mcp` client over streamable HTTP.

Every request goes through the SSRF guard (the guarded transport vets each connection, and
the endpoint's host is vetted before the session starts, so a refusal comes before any
socket), carries the vault credential named by the agent's `config.mcp_credential` as a
bearer token (only to a host the credential allows), reads no answer past
`max_response_bytes`, and the whole session ends at `timeout_seconds`. What a failure says is
a fixed phrase and the host, never library text.
"""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
from mcp import ClientSession, McpError
from mcp.client.streamable_http import streamable_http_client
from mcp.types import TextContent

from orchestrator_service.audit.service import Actor
from orchestrator_service.credentials.service import SecretResolver
from orchestrator_service.errors import InvalidInput, OrchestratorError
from orchestrator_service.outbound import failure, header_value, host_of
from orchestrator_service.tools.ssrf import BlockedDestination, Guard, GuardedTransport

MAX_ERROR_CHARS = 300


class McpFailed(OrchestratorError):
    """The agent's MCP server could not be used: unreachable, not speaking MCP, refusing, or
    answering more than allowed."""

    status_code = 502
    code = "mcp_failed"


class McpTimeout(McpFailed):
    """The agent's MCP server did not finish in time."""

    status_code = 504
    code = "mcp_timeout"


@dataclass(frozen=True)
class McpLimits:
    """Deadline of one session with a server, largest answer read, most tools listed."""

    timeout_seconds: float = 30.0
    max_response_bytes: int = 1_048_576
    max_tools: int = 128


class _TooLarge(httpx.ReadError):
    """An answer passed the size cap while being read."""


class _NotMcp(Exception):
    """The client's transport reported an answer that is not MCP (wrong content type, a body
    that does not parse)."""


async def _refuse_transport_errors(message: object) -> None:
    """End the session at the first transport error (the SDK would log it and leave the
    request waiting until the deadline)."""
    if isinstance(message, Exception):
        raise _NotMcp(type(message).__name__)


class _CappedStream(httpx.AsyncByteStream):
    def __init__(self, inner: httpx.AsyncByteStream, transport: "_CappedTransport") -> None:
        self._inner = inner
        self._transport = transport

    async def __aiter__(self) -> AsyncIterator[bytes]:
        size = 0
        async for chunk in self._inner:
            size += len(chunk)
            if size > self._transport.limit:
                self._transport.exceeded = True
                raise _TooLarge("answer too large")
            yield chunk

    async def aclose(self) -> None:
        await self._inner.aclose()


class _CappedTransport(httpx.AsyncBaseTransport):
    """The guarded transport, reading no answer past `limit` bytes."""

    def __init__(self, guard: Guard, limit: int) -> None:
        self._inner = GuardedTransport(guard)
        self.limit = limit
        self.exceeded = False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self._inner.handle_async_request(request)
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.limit:
            await response.aclose()
            self.exceeded = True
            raise _TooLarge("answer too large")
        stream = response.stream
        if not isinstance(stream, httpx.AsyncByteStream):  # httpcore streams are async
            raise McpFailed("The MCP transport gave a synchronous stream")
        response.stream = _CappedStream(stream, self)
        return response

    async def aclose(self) -> None:
        await self._inner.aclose()


def _leaves(exc: BaseException) -> list[BaseException]:
    """The exceptions inside (nested) exception groups, or the exception itself."""
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for inner in exc.exceptions for leaf in _leaves(inner)]
    return [exc]


def _content(block: Any) -> Any:
    if isinstance(block, TextContent):
        return block.text
    return {"type": getattr(block, "type", "unknown"), "omitted": "not text"}


class RemoteMcp:
    """Lists and calls the tools of agents' MCP servers, within the guard and the limits."""

    def __init__(self, *, guard: Guard, secrets: SecretResolver, limits: McpLimits) -> None:
        self._guard = guard
        self._secrets = secrets
        self.limits = limits

    async def list_tools(
        self, *, tenant_id: int, endpoint: str, credential: str | None, actor: Actor
    ) -> list[dict]:
        """The server's tools: name, description, input schema (at most `max_tools`)."""
        async with self._session(tenant_id, endpoint, credential, actor) as (session, _):
            listed = await session.list_tools()
        tools = [
            {
                "name": tool.name[:200],
                "description": (tool.description or "")[:2000],
                "input_schema": tool.inputSchema,
            }
            for tool in listed.tools[: self.limits.max_tools]
        ]
        # What a server says may quote the bearer it was sent: never passed on.
        return self._secrets.scrubber(tenant_id).value(tools)

    async def call_tool(
        self,
        *,
        tenant_id: int,
        endpoint: str,
        credential: str | None,
        actor: Actor,
        name: str,
        arguments: dict,
    ) -> dict:
        """Call one tool; its text content (other content named, not passed on), structured
        content, and whether the server says it failed."""
        async with self._session(tenant_id, endpoint, credential, actor) as (session, _):
            result = await session.call_tool(name, arguments)
        return self._secrets.scrubber(tenant_id).value(
            {
                "is_error": bool(result.isError),
                "content": [_content(block) for block in result.content],
                "structured": result.structuredContent,
            }
        )

    @asynccontextmanager
    async def _session(
        self, tenant_id: int, endpoint: str, credential: str | None, actor: Actor
    ) -> AsyncIterator[tuple[ClientSession, _CappedTransport]]:
        """An initialized MCP session with the server, inside the deadline; every failure as
        `McpFailed`/`McpTimeout` (or `BlockedDestination`), named by the host only."""
        host = host_of(endpoint)
        parts = urlsplit(endpoint)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise InvalidInput(f"The agent's mcp_endpoint is not an http(s) URL: {host}")
        port = parts.port or (443 if parts.scheme == "https" else 80)
        await self._guard.vet(parts.hostname, port)  # refused before anything connects
        headers = {}
        if credential:
            token = header_value(
                await self._secrets.resolve(
                    tenant_id=tenant_id,
                    name=credential,
                    consumer=f"{actor.label}:mcp",
                    destination=endpoint,
                    actor=actor,
                )
            )
            if token is None:
                raise McpFailed(f"The credential {credential!r} cannot be sent as a bearer token")
            headers["Authorization"] = f"Bearer {token}"
        transport = _CappedTransport(self._guard, self.limits.max_response_bytes)
        deadline = self.limits.timeout_seconds
        try:
            async with (
                asyncio.timeout(deadline),
                httpx.AsyncClient(
                    transport=transport,
                    headers=headers,
                    timeout=httpx.Timeout(deadline),
                    follow_redirects=False,
                ) as http,
                streamable_http_client(endpoint, http_client=http, terminate_on_close=False) as (
                    read,
                    write,
                    _,
                ),
                ClientSession(read, write, message_handler=_refuse_transport_errors) as session,
            ):
                await session.initialize()
                yield session, transport
        except BaseException as exc:
            raise self._failure(exc, tenant_id, host, transport, deadline) from None

    def _failure(
        self,
        exc: BaseException,
        tenant_id: int,
        host: str,
        transport: _CappedTransport,
        deadline: float,
    ) -> BaseException:
        """What a failed session is told as: our own error as it was (a guard or vault
        refusal), else a fixed phrase for the class of failure, naming the host only."""
        leaves = _leaves(exc)
        own = next((e for e in leaves if isinstance(e, OrchestratorError)), None)
        if own is not None:
            return own
        timed_out = any(isinstance(e, TimeoutError) for e in leaves)
        if not timed_out and any(not isinstance(e, Exception) for e in leaves):
            return exc  # cancelled or interrupted from outside: let it through
        details = {"host": host}
        if transport.exceeded:
            return McpFailed(
                f"The MCP server at {host} sent an answer larger than {transport.limit} bytes "
                "(ORCH_MCP_MAX_RESPONSE_BYTES)",
                details=details,
            )
        if timed_out:
            return McpTimeout(
                f"The MCP server at {host} did not finish within {deadline:g} s "
                "(ORCH_MCP_TIMEOUT_SECONDS)",
                details=details,
            )
        refusal = next((e for e in leaves if isinstance(e, McpError)), None)
        if refusal is not None:
            said = self._secrets.scrubber(tenant_id).text(str(refusal.error.message))
            said = said[:MAX_ERROR_CHARS]
            return McpFailed(f"The MCP server at {host} refused: {said}", details=details)
        outbound = next((e for e in leaves if isinstance(e, httpx.HTTPError)), None)
        if outbound is not None:
            return McpFailed(
                f"The MCP server at {host} could not be used: {failure(outbound)}",
                details=details,
            )
        return McpFailed(
            f"The MCP server at {host} did not answer as an MCP server "
            f"({type(leaves[0]).__name__})",
            details=details,
        )


__all__ = ["BlockedDestination", "McpFailed", "McpLimits", "McpTimeout", "RemoteMcp"]
