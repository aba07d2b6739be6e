"""An OpenAI-compatible chat-completions client, through the SSRF guard (an agent's base URL
is tenant data), with streaming. Failures are fixed messages (class of failure and host), never
the HTTP library's words, which can quote the request and its key."""

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx

from orchestrator_service.errors import InvalidInput, OrchestratorError
from orchestrator_service.outbound import failure, header_value, host_of
from orchestrator_service.tools.ssrf import Guard, GuardedTransport


class ModelFailed(OrchestratorError):
    """The model API refused, failed or answered something unusable."""

    status_code = 502
    code = "model_failed"


class ModelTimeout(ModelFailed):
    """The model API did not answer in time."""

    status_code = 504
    code = "model_timeout"


@dataclass
class Completion:
    """One model answer: text and/or tool calls, with token counts."""

    content: str | None
    tool_calls: list[dict] = field(default_factory=list)
    tokens_in: int = 0
    tokens_out: int = 0


class ChatClient:
    """Calls `<base_url>/chat/completions`."""

    def __init__(
        self, *, base_url: str, api_key: str, model: str | None, guard: Guard, timeout: float
    ) -> None:
        self.url = f"{base_url.rstrip('/')}/chat/completions"
        self.host = host_of(self.url)
        self.model = model
        authorization = header_value(f"Bearer {api_key}")
        if authorization is None:
            raise InvalidInput(
                "The model API key holds characters an HTTP header cannot carry (control or "
                "non-ASCII characters); store the credential again"
            )
        self._client = httpx.AsyncClient(
            transport=GuardedTransport(guard),
            timeout=httpx.Timeout(timeout),
            headers={"Authorization": authorization},
        )

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self._client.aclose()

    def _body(self, messages: list[dict], tools: list[dict], options: dict) -> dict:
        body = {"model": self.model, "messages": messages, **options}
        if tools:
            body["tools"] = tools
        return body

    async def complete(self, messages: list[dict], tools: list[dict], **options: Any) -> Completion:
        """One non-streamed completion."""
        try:
            response = await self._client.post(self.url, json=self._body(messages, tools, options))
        except httpx.TimeoutException:
            raise ModelTimeout(f"The model API at {self.host} did not answer in time") from None
        except (httpx.HTTPError, httpx.InvalidURL, ValueError) as exc:
            raise ModelFailed(f"The model API at {self.host} failed: {failure(exc)}") from None
        self._check_status(response)
        try:
            data = response.json()
            message = data["choices"][0]["message"]
            usage = data.get("usage") or {}
            return Completion(
                content=message.get("content"),
                tool_calls=message.get("tool_calls") or [],
                tokens_in=int(usage.get("prompt_tokens", 0)),
                tokens_out=int(usage.get("completion_tokens", 0)),
            )
        except (ValueError, KeyError, IndexError, TypeError):
            raise ModelFailed(f"The model API at {self.host} sent a malformed answer") from None

    async def stream(
        self, messages: list[dict], tools: list[dict], **options: Any
    ) -> AsyncIterator[str | Completion]:
        """Stream a completion: text deltas as they come, then the whole Completion."""
        body = self._body(
            messages, tools, {**options, "stream": True, "stream_options": {"include_usage": True}}
        )
        completion = Completion(content="")
        calls: dict[int, dict] = {}
        try:
            async with self._client.stream("POST", self.url, json=body) as response:
                if response.status_code != 200:
                    await response.aread()
                    self._check_status(response)
                async for line in response.aiter_lines():
                    if not line.startswith("data:"):
                        continue
                    payload = line[5:].strip()
                    if payload == "[DONE]":
                        break
                    delta = _apply_chunk(json.loads(payload), completion, calls)
                    if delta:
                        yield delta
        except httpx.TimeoutException:
            raise ModelTimeout(f"The model API at {self.host} did not answer in time") from None
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            raise ModelFailed(f"The model API at {self.host} failed: {failure(exc)}") from None
        except (ValueError, KeyError, IndexError, TypeError):
            raise ModelFailed(f"The model API at {self.host} sent a malformed stream") from None
        completion.tool_calls = [calls[i] for i in sorted(calls)]
        completion.content = completion.content or None
        yield completion

    def _check_status(self, response: httpx.Response) -> None:
        if response.status_code == 429:
            raise ModelFailed(
                f"The model API at {self.host} is rate limiting this key (429); try again later"
            )
        if response.status_code != 200:
            raise ModelFailed(
                f"The model API at {self.host} answered {response.status_code}",
                details={"status": response.status_code},
            )


def _apply_chunk(chunk: dict, completion: Completion, calls: dict[int, dict]) -> str:
    """Fold one streamed chunk into the completion; return its text delta."""
    usage = chunk.get("usage")
    if usage:
        completion.tokens_in = int(usage.get("prompt_tokens", 0))
        completion.tokens_out = int(usage.get("completion_tokens", 0))
    if not chunk.get("choices"):
        return ""
    delta = chunk["choices"][0].get("delta") or {}
    for part in delta.get("tool_calls") or []:
        call = calls.setdefault(
            part["index"],
            {"id": "", "type": "function", "function": {"name": "", "arguments": ""}},
        )
        call["id"] = part.get("id") or call["id"]
        function = part.get("function") or {}
        call["function"]["name"] += function.get("name") or ""
        call["function"]["arguments"] += function.get("arguments") or ""
    text = delta.get("content") or ""
    completion.content = (completion.content or "") + text
    return text
