"""What the SDK-backed model clients share: our own httpx client for the SDK (the SSRF guard's
transport, each answer's bytes capped while they are read), one deadline per call, and the
translation of whatever an SDK raises into our fixed messages (class of failure, host,
status), never the SDK's or the HTTP library's words, which can quote the request."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import aclosing
from dataclasses import dataclass
from typing import Any

import httpx
import httpx2

from orchestrator_service.agents.llm import ModelFailed, ModelLimits, ModelTimeout, rate_limited
from orchestrator_service.errors import InvalidInput, OrchestratorError
from orchestrator_service.outbound import TooLarge, failure, header_value, host_of
from orchestrator_service.tools.ssrf import Guard, GuardedTransport


@dataclass(frozen=True)
class Target:
    """Where and how one catalogue model is called."""

    protocol: str
    provider: str
    model: str
    base_url: str
    max_output_tokens: int


class _CappedStream(httpx.AsyncByteStream):
    """An answer's bytes, given up with `TooLarge` once they pass the cap."""

    def __init__(self, inner: httpx.AsyncByteStream, limit: int) -> None:
        self._inner = inner
        self._limit = limit

    async def __aiter__(self) -> AsyncIterator[bytes]:
        size = 0
        async for chunk in self._inner:
            size += len(chunk)
            if size > self._limit:
                raise TooLarge(self._limit)
            yield chunk

    async def aclose(self) -> None:
        await self._inner.aclose()


class CappedTransport(httpx.AsyncBaseTransport):
    """The SSRF guard's transport, with every answer read no further than `limit` bytes (a
    declared length over it is refused before reading), for clients that read answers
    themselves (the SDKs)."""

    def __init__(self, guard: Guard, limit: int) -> None:
        self._inner = GuardedTransport(guard)
        self._limit = limit

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send through the guard; hand back the answer with its body capped."""
        response = await self._inner.handle_async_request(request)
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self._limit:
            await response.aclose()
            raise TooLarge(self._limit)
        stream = response.stream
        if not isinstance(stream, httpx.AsyncByteStream):  # httpx's own transports give one
            raise TypeError("the transport answered without an async stream")
        return httpx.Response(
            status_code=response.status_code,
            headers=response.headers,
            stream=_CappedStream(stream, self._limit),
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._inner.aclose()


def http_client(guard: Guard, deadline: float, limits: ModelLimits) -> httpx.AsyncClient:
    """Our HTTP client for an SDK: guarded, capped, no redirects, no proxies from the
    environment, one timeout per read (the call's deadline is kept around the call)."""
    return httpx.AsyncClient(
        transport=CappedTransport(guard, limits.max_response_bytes),
        timeout=httpx.Timeout(deadline),
        follow_redirects=False,
        trust_env=False,
    )


class _Httpx2Stream(httpx2.AsyncByteStream):
    """An httpx answer's body, read through httpx2."""

    def __init__(self, inner: httpx.AsyncByteStream) -> None:
        self._inner = inner

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._inner:
            yield chunk

    async def aclose(self) -> None:
        await self._inner.aclose()


class Httpx2Bridge(httpx2.AsyncBaseTransport):
    """An httpx2 transport (what the anthropic and openai SDKs take) that sends through one of
    httpx's, so the guard and the caps are the same code for every client."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self._inner = inner

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        """Translate the request, send it through the inner transport, translate back."""
        body = await request.aread()
        timeout = request.extensions.get("timeout")
        sent = httpx.Request(
            request.method,
            str(request.url),
            headers=list(request.headers.raw),
            content=body,
            extensions={"timeout": timeout} if isinstance(timeout, dict) else {},
        )
        response = await self._inner.handle_async_request(sent)
        stream = response.stream
        if not isinstance(stream, httpx.AsyncByteStream):
            raise TypeError("the transport answered without an async stream")
        return httpx2.Response(
            status_code=response.status_code,
            headers=list(response.headers.raw),
            stream=_Httpx2Stream(stream),
        )

    async def aclose(self) -> None:
        """Close the inner transport."""
        await self._inner.aclose()


def http2_client(guard: Guard, deadline: float, limits: ModelLimits) -> httpx2.AsyncClient:
    """`http_client` for the SDKs built on httpx2."""
    return httpx2.AsyncClient(
        transport=Httpx2Bridge(CappedTransport(guard, limits.max_response_bytes)),
        timeout=httpx2.Timeout(deadline),
        follow_redirects=False,
        trust_env=False,
    )


def checked_key(api_key: str) -> str:
    """The key as an HTTP header can carry it, or `InvalidInput` before anything is sent."""
    value = header_value(api_key)
    if value is None:
        raise InvalidInput(
            "The model API key holds characters an HTTP header cannot carry (control or "
            "non-ASCII characters); store the credential again"
        )
    return value


def _chain(exc: BaseException) -> list[BaseException]:
    """An exception and those it was raised from or during, innermost last."""
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


class SdkFailures:
    """Turns what an SDK raised into our fixed messages."""

    def __init__(self, host: str, deadline: float) -> None:
        self.host = host
        self.deadline = deadline

    def timeout(self) -> ModelTimeout:
        """The whole call passed its deadline."""
        return ModelTimeout(
            f"The model API at {self.host} did not answer in time (the deadline is "
            f"{self.deadline:g} s for the whole answer)",
            details={"timeout_s": self.deadline},
        )

    def translate(
        self, exc: BaseException, *, status: int | None, headers: Any = None
    ) -> OrchestratorError:
        """Our error for an SDK's exception (with the HTTP status it carries, if any)."""
        chain = _chain(exc)
        for inner in chain:
            if isinstance(inner, OrchestratorError):  # the guard's refusal, our own checks
                return inner
            if isinstance(inner, TooLarge):
                return ModelFailed(
                    f"The model API at {self.host} sent an answer larger than {inner.limit} "
                    "bytes; it was cut off and discarded",
                    details={"max_response_bytes": inner.limit},
                )
            if isinstance(inner, (TimeoutError, httpx.TimeoutException, httpx2.TimeoutException)):
                return self.timeout()
        if status == 429:
            return rate_limited(self.host, headers)
        if status is not None:
            return ModelFailed(
                f"The model API at {self.host} answered {status}", details={"status": status}
            )
        http_error = next((e for e in chain if isinstance(e, httpx.HTTPError)), None)
        if http_error is not None:
            return ModelFailed(f"The model API at {self.host} failed: {failure(http_error)}")
        return ModelFailed(f"The model API at {self.host} sent a malformed answer")


async def bounded(events: AsyncIterator[Any], deadline: float) -> AsyncIterator[Any]:
    """The items of an async iterator, each wait under the call's one deadline (a loop time),
    so a server that drips never resets it and the caller's own work never counts."""
    async with aclosing(events) as items:  # type: ignore[type-var]
        while True:
            async with asyncio.timeout_at(deadline):
                item = await anext(items, None)
            if item is None:
                return
            yield item


def field(obj: Any, name: str) -> Any:
    """A field of an SDK object or a dict, None when absent (a lying server may omit any)."""
    if isinstance(obj, dict):
        return obj.get(name)
    return getattr(obj, name, None)


class SdkClient:
    """What the clients built on an official SDK share: the target, the guarded HTTP/2
    client the SDK talks through, and the fixed failure phrases."""

    def __init__(
        self, target: Target, *, api_key: str, guard: Guard, deadline: float, limits: ModelLimits
    ) -> None:
        self.host = host_of(target.base_url)
        self.model = target.model
        self.max_output_tokens = target.max_output_tokens
        self.deadline = deadline
        self.limits = limits
        self._failures = SdkFailures(self.host, deadline)
        self._http = http2_client(guard, deadline, limits)
        self._sdk = self._open_sdk(checked_key(api_key), target.base_url)

    def _open_sdk(self, api_key: str, base_url: str) -> Any:
        """The SDK's client over `self._http`, with its own retries off."""
        raise NotImplementedError

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self._http.aclose()
