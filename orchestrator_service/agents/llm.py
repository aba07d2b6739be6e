"""An OpenAI-compatible chat-completions client (OpenAI, Azure OpenAI's v1 API, Ollama, vLLM
and the like), through the SSRF guard (an agent's base URL is tenant data), with streaming.
Failures are fixed messages (class of failure and host), never the HTTP library's words,
which can quote the request and its key.

Every call is bounded: one deadline covers connecting, reading and streaming (a server that
drips bytes never resets it), an answer is read no further than its byte cap, and a stream
stops once its text passes the character cap.
"""

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any

import httpx

from orchestrator_service.errors import InvalidInput, OrchestratorError
from orchestrator_service.outbound import (
    TooLarge,
    failure,
    header_value,
    host_of,
    lines_capped,
    read_capped,
)
from orchestrator_service.tools.ssrf import Guard, GuardedTransport

# Tool calls one answer may ask for; each is run and recorded before the next model call.
MAX_TOOL_CALLS = 64


class ModelFailed(OrchestratorError):
    """The model API refused, failed or answered something unusable."""

    status_code = 502
    code = "model_failed"


class ModelTimeout(ModelFailed):
    """The model API did not answer in time."""

    status_code = 504
    code = "model_timeout"


@dataclass(frozen=True)
class ModelLimits:
    """What one model call may bring back: bytes of answer (whole or streamed), and
    characters of streamed text (content and tool-call arguments)."""

    max_response_bytes: int
    max_stream_chars: int


@dataclass
class Completion:
    """One model answer: text and/or tool calls, with token counts."""

    content: str | None
    tool_calls: list[dict] = field(default_factory=list)
    tokens_in: int = 0
    tokens_out: int = 0


class ChatClient:
    """Calls `<base_url>/chat/completions`, each call within `deadline` seconds and `limits`."""

    def __init__(
        self,
        *,
        base_url: str,
        api_key: str,
        model: str | None,
        guard: Guard,
        deadline: float,
        limits: ModelLimits,
        key_header: str = "authorization",
        max_output_tokens: int | None = None,
    ) -> None:
        self.url = f"{base_url.rstrip('/')}/chat/completions"
        self.host = host_of(self.url)
        self.model = model
        self.deadline = deadline
        self.limits = limits
        self.max_output_tokens = max_output_tokens
        # Azure OpenAI takes its key in `api-key`; everyone else as a bearer token.
        bearer = key_header == "authorization"
        authorization = header_value(f"Bearer {api_key}" if bearer else api_key)
        if authorization is None:
            raise InvalidInput(
                "The model API key holds characters an HTTP header cannot carry (control or "
                "non-ASCII characters); store the credential again"
            )
        self._client = httpx.AsyncClient(
            transport=GuardedTransport(guard),
            timeout=httpx.Timeout(deadline),
            headers={"Authorization" if bearer else key_header: authorization},
        )

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self._client.aclose()

    def _request(self, messages: list[dict], tools: list[dict], options: dict) -> httpx.Request:
        options = capped_output(options, self.max_output_tokens)
        body = {"model": self.model, "messages": messages, **options}
        if tools:
            body["tools"] = tools
        return self._client.build_request("POST", self.url, json=body)

    async def complete(self, messages: list[dict], tools: list[dict], **options: Any) -> Completion:
        """One non-streamed completion."""
        try:
            request = self._request(messages, tools, options)
            async with asyncio.timeout(self.deadline):
                response = await self._client.send(request, stream=True)
                try:
                    self._check_status(response)
                    payload = await read_capped(response, self.limits.max_response_bytes)
                finally:
                    await response.aclose()
        except (TimeoutError, httpx.TimeoutException):
            raise self._timeout() from None
        except TooLarge as exc:
            raise self._too_large(exc) from None
        except (httpx.HTTPError, httpx.InvalidURL, ValueError) as exc:
            raise ModelFailed(f"The model API at {self.host} failed: {failure(exc)}") from None
        try:
            return parse_completion(self.host, json.loads(payload))
        except (ValueError, KeyError, IndexError, TypeError):
            raise ModelFailed(f"The model API at {self.host} sent a malformed answer") from None

    async def stream(
        self, messages: list[dict], tools: list[dict], **options: Any
    ) -> AsyncIterator[str | Completion]:
        """Stream a completion: text deltas as they come, then the whole Completion."""
        options = {**options, "stream": True, "stream_options": {"include_usage": True}}
        streamed = StreamFold(self.host, self.limits)
        # One deadline for the whole call; only this generator's own waits run under it, so
        # it never fires while the caller handles a delta.
        deadline = asyncio.get_running_loop().time() + self.deadline
        try:
            request = self._request(messages, tools, options)
            async with asyncio.timeout_at(deadline):
                response = await self._client.send(request, stream=True)
            try:
                self._check_status(response)
                lines = lines_capped(response, self.limits.max_response_bytes)
                async with aclosing(lines):
                    while True:
                        async with asyncio.timeout_at(deadline):
                            line = await anext(lines, None)
                        if line is None:
                            break
                        if not line.startswith("data:"):
                            continue
                        payload = line[5:].strip()
                        if payload == "[DONE]":
                            break
                        if delta := streamed.feed(json.loads(payload)):
                            yield delta
            finally:
                await response.aclose()
        except (TimeoutError, httpx.TimeoutException):
            raise self._timeout() from None
        except TooLarge as exc:
            raise self._too_large(exc) from None
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            raise ModelFailed(f"The model API at {self.host} failed: {failure(exc)}") from None
        except (ValueError, KeyError, IndexError, TypeError):
            raise ModelFailed(f"The model API at {self.host} sent a malformed stream") from None
        yield streamed.completion()

    def _check_status(self, response: httpx.Response) -> None:
        """Refuse an error answer without reading its body (nothing in it is used)."""
        if response.status_code == 429:
            raise rate_limited(self.host, response.headers)
        if response.status_code != 200:
            raise ModelFailed(
                f"The model API at {self.host} answered {response.status_code}",
                details={"status": response.status_code},
            )

    def _timeout(self) -> ModelTimeout:
        return ModelTimeout(
            f"The model API at {self.host} did not answer in time (the deadline is "
            f"{self.deadline:g} s for the whole answer)",
            details={"timeout_s": self.deadline},
        )

    def _too_large(self, exc: TooLarge) -> ModelFailed:
        return ModelFailed(
            f"The model API at {self.host} sent an answer larger than {exc.limit} bytes; it "
            "was cut off and discarded",
            details={"max_response_bytes": exc.limit},
        )


class StreamFold:
    """A streamed completion folded together chunk by chunk (OpenAI's chunks here; the other
    providers' clients override `feed`). Text and arguments are kept as pieces, joined once at
    the end (joining each delta onto the whole is quadratic), and counted against the cap."""

    def __init__(self, host: str, limits: ModelLimits) -> None:
        self.host = host
        self.limits = limits
        self.text: list[str] = []
        self.calls: dict[int, dict] = {}
        self.chars = 0
        self.tokens_in = self.tokens_out = 0

    def feed(self, chunk: dict) -> str:
        """Fold one chunk in; return its text delta."""
        if chunk.get("error") is not None:  # an error object in place of a chunk
            raise ModelFailed(
                f"The model API at {self.host} reported an error mid-stream; the answer was "
                "discarded"
            )
        usage = chunk.get("usage")
        if usage:
            self.tokens_in = int(usage.get("prompt_tokens", 0))
            self.tokens_out = int(usage.get("completion_tokens", 0))
        if not chunk.get("choices"):
            return ""
        delta = chunk["choices"][0].get("delta") or {}
        for part in delta.get("tool_calls") or []:
            call = self.calls.setdefault(int(part["index"]), {"id": "", "name": [], "args": []})
            check_calls(self.host, len(self.calls))
            call["id"] = part.get("id") or call["id"]
            function = part.get("function") or {}
            self.add(call["name"], function.get("name") or "")
            self.add(call["args"], function.get("arguments") or "")
        text = delta.get("content") or ""
        self.add(self.text, text)
        return text

    def add(self, pieces: list[str], piece: str) -> None:
        """Keep one piece of text or arguments, or refuse the answer past the cap."""
        if not isinstance(piece, str):
            raise TypeError("a streamed piece that is not text")
        self.chars += len(piece)
        limit = self.limits.max_stream_chars
        if self.chars > limit:
            raise ModelFailed(
                f"The model API at {self.host} streamed more than {limit} characters; the "
                "answer was cut off and discarded",
                details={"max_stream_chars": limit},
            )
        pieces.append(piece)

    def completion(self) -> Completion:
        """The whole answer."""
        calls = [
            {
                "id": call["id"],
                "type": "function",
                "function": {"name": "".join(call["name"]), "arguments": "".join(call["args"])},
            }
            for _, call in sorted(self.calls.items())
        ]
        return Completion(
            content="".join(self.text) or None,
            tool_calls=calls,
            tokens_in=self.tokens_in,
            tokens_out=self.tokens_out,
        )


def parse_completion(host: str, data: dict) -> Completion:
    """A chat completion (parsed JSON) as a Completion; KeyError, TypeError and the like when
    it is not one."""
    message = data["choices"][0]["message"]
    usage = data.get("usage") or {}
    check_calls(host, len(message.get("tool_calls") or []))
    return Completion(
        content=message.get("content"),
        tool_calls=message.get("tool_calls") or [],
        tokens_in=int(usage.get("prompt_tokens", 0)),
        tokens_out=int(usage.get("completion_tokens", 0)),
    )


def check_calls(host: str, count: int) -> None:
    """Refuse an answer asking for more tool calls at once than a turn may run."""
    if count > MAX_TOOL_CALLS:
        raise ModelFailed(
            f"The model API at {host} asked for more than {MAX_TOOL_CALLS} tool calls at once",
            details={"max_tool_calls": MAX_TOOL_CALLS},
        )


def capped_output(options: dict, max_output_tokens: int | None) -> dict:
    """The call's options with `max_tokens` no higher than the model's own output limit."""
    asked = options.get("max_tokens")
    if max_output_tokens is None or asked is None or asked <= max_output_tokens:
        return options
    return {**options, "max_tokens": max_output_tokens}


# The longest wait a Retry-After may ask for that is passed on (a larger one is not believed).
MAX_RETRY_AFTER = 3600


def rate_limited(host: str, headers: Any) -> ModelFailed:
    """The model API answered 429: say so, with the wait its Retry-After asks for (seconds;
    an HTTP date or nonsense is left out)."""
    value = str((headers or {}).get("retry-after") or "").strip()
    seconds = int(value) if value.isdigit() and len(value) < 8 else None
    if seconds is None or seconds > MAX_RETRY_AFTER:
        return ModelFailed(
            f"The model API at {host} is rate limiting this key (429); try again later",
            details={"status": 429},
        )
    return ModelFailed(
        f"The model API at {host} is rate limiting this key (429); it asks to retry after "
        f"{seconds} s",
        details={"status": 429, "retry_after": seconds},
    )
