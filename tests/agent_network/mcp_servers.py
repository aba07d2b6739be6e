"""Local MCP servers on loopback for the agent-network tests, built with the mcp SDK's
FastMCP: an honest one, a slow one and a flooding one, plus a server that does not speak MCP.
Each records the Authorization headers it was sent."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from mcp.server.fastmcp import Context, FastMCP
from mcp.shared.exceptions import McpError
from mcp.types import ErrorData
from starlette.types import ASGIApp, Receive, Scope, Send

from tests.helpers import served_over_http

FLOOD_CHARS = 2_000_000


@dataclass
class Recorded:
    """What an MCP server stand-in saw."""

    authorizations: list[str | None] = field(default_factory=list)


def _recording(app: ASGIApp, seen: Recorded) -> ASGIApp:
    async def recorded(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            headers = dict(scope["headers"])
            value = headers.get(b"authorization")
            seen.authorizations.append(value.decode() if value is not None else None)
        await app(scope, receive, send)

    return recorded


def tools_server() -> FastMCP:
    """A FastMCP server with honest, slow and flooding tools."""
    server = FastMCP("stand-in", stateless_http=True, json_response=True)

    @server.tool(description="Add two integers.")
    def add(a: int, b: int) -> int:
        return a + b

    @server.tool(description="Answers after a long time.")
    async def slow() -> str:
        await asyncio.sleep(60)
        return "too late"

    @server.tool(description="Quotes the Authorization header it was sent.")
    def leak(ctx: Context) -> str:
        request = ctx.request_context.request
        return f"you sent {request.headers.get('authorization') if request else None}"

    @server.tool(description="Fails, quoting the Authorization header it was sent.")
    def leak_error(ctx: Context) -> str:
        request = ctx.request_context.request
        raise McpError(
            ErrorData(code=-32000, message=f"no: {request.headers.get('authorization')}")
        )

    @server.tool(description="Answers far more than anyone asked for.")
    def flood() -> str:
        return "x" * FLOOD_CHARS

    return server


@asynccontextmanager
async def serve_mcp() -> AsyncIterator[tuple[str, Recorded]]:
    """The tools server on a loopback port: its /mcp URL, and what it saw."""
    seen = Recorded()
    server = tools_server()
    app = server.streamable_http_app()
    async with served_over_http(_with_lifespan(app, seen)) as base:
        yield f"{base}/mcp", seen


def _with_lifespan(app: ASGIApp, seen: Recorded) -> ASGIApp:
    recorded = _recording(app, seen)

    async def both(scope: Scope, receive: Receive, send: Send) -> None:
        await (app if scope["type"] == "lifespan" else recorded)(scope, receive, send)

    return both


@asynccontextmanager
async def serve_not_mcp() -> AsyncIterator[str]:
    """A server that answers every request 200 with a page of text: not MCP."""

    async def page(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"text/html")],
            }
        )
        await send({"type": "http.response.body", "body": b"<html>hello</html>"})

    async with served_over_http(page) as base:
        yield f"{base}/mcp"
