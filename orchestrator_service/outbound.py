"""Outbound HTTP failures, described without request data, and answers read within a cap.

An HTTP library's exception text can quote what was being sent: a header value it refused
(secret included), a URL with its query. So what a caller, a model, a stored record or a log is
told about a failed outbound call (tool, model, embedding) is a fixed phrase for the class of
failure and the host, never the exception's text.

An answer is read piece by piece and given up as soon as it passes its cap, so a service that
sends without end is never held whole in memory.
"""

from collections.abc import AsyncGenerator
from urllib.parse import urlsplit

import httpx

from orchestrator_service.patterns import compile_pattern

# A header name is an RFC 9110 token; a header value what HTTP clients send: visible ASCII, with
# spaces and tabs inside (surrounding blanks are not part of a value).
HEADER_NAME_PATTERN = r"[!#$%&'*+.^_`|~0-9A-Za-z-]{1,256}"
HEADER_VALUE_PATTERN = r"[\t\x20-\x7e]*"
HEADER_NAME = compile_pattern(HEADER_NAME_PATTERN)
HEADER_VALUE = compile_pattern(HEADER_VALUE_PATTERN)

_PHRASES: tuple[tuple[type[Exception], str], ...] = (
    (httpx.TimeoutException, "it did not answer in time"),
    (httpx.ConnectError, "the connection could not be opened"),
    (httpx.RemoteProtocolError, "the connection closed early or the answer was not valid HTTP"),
    (httpx.LocalProtocolError, "the request could not be sent"),
    (httpx.ReadError, "the connection failed while reading the answer"),
    (httpx.WriteError, "the connection failed while sending the request"),
    (httpx.UnsupportedProtocol, "the URL's scheme is not http or https"),
    (httpx.ProxyError, "a proxy refused the connection"),
    (httpx.DecodingError, "the answer's encoding could not be decoded"),
    (httpx.TooManyRedirects, "it redirected too many times"),
    (httpx.InvalidURL, "the URL is not valid"),
)


def failure(exc: Exception) -> str:
    """A fixed phrase naming the class of an outbound failure, never the exception's text."""
    phrase = next((p for kind, p in _PHRASES if isinstance(exc, kind)), "the call failed")
    return f"{phrase} ({type(exc).__name__})"


def host_of(url: str) -> str:
    """The host a URL names, for messages (a placeholder when it names none)."""
    try:
        return urlsplit(url).hostname or "an unnamed host"
    except ValueError:
        return "an unnamed host"


def header_value(value: str) -> str | None:
    """`value` as it can go in an HTTP header (trimmed), or None when a header cannot carry it;
    checked before any connection opens, as the library's refusal would quote the value."""
    value = value.strip(" \t")
    return value if HEADER_VALUE.fullmatch(value) else None


class TooLarge(Exception):
    """An answer passed its size cap while it was being read."""

    def __init__(self, limit: int) -> None:
        super().__init__(limit)
        self.limit = limit


async def read_capped(response: httpx.Response, limit: int) -> bytes:
    """The (decoded) body of a streamed response, or `TooLarge` once it passes `limit` bytes;
    a declared length over the cap is refused before anything is read."""
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise TooLarge(limit)
    chunks, size = [], 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > limit:
            raise TooLarge(limit)
        chunks.append(chunk)
    return b"".join(chunks)


async def lines_capped(response: httpx.Response, limit: int) -> AsyncGenerator[str]:
    """The lines of a streamed response as they arrive, or `TooLarge` once the whole passes
    `limit` bytes (a line without an end is held only up to the cap)."""
    size, pending = 0, bytearray()
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > limit:
            raise TooLarge(limit)
        *complete, rest = chunk.split(b"\n")
        for piece in complete:
            pending += piece
            yield pending.decode("utf-8", errors="replace").rstrip("\r")
            pending.clear()
        pending += rest
    if pending:
        yield pending.decode("utf-8", errors="replace").rstrip("\r")
