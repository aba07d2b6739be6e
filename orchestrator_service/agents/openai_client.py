"""OpenAI's own API through the official SDK (`openai`), on our own guarded and capped HTTP
client; the answers are folded exactly as the OpenAI-compatible client folds them (the same
wire format: chat completions and their streamed chunks)."""

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import openai

from orchestrator_service.agents.llm import (
    Completion,
    ModelFailed,
    StreamFold,
    capped_output,
    parse_completion,
)
from orchestrator_service.agents.sdk import SdkClient, bounded


class OpenAIClient(SdkClient):
    """Calls `<base_url>/chat/completions` with the SDK, each call within `deadline` seconds
    and `limits`."""

    def _open_sdk(self, api_key: str, base_url: str) -> openai.AsyncOpenAI:
        return openai.AsyncOpenAI(
            api_key=api_key,
            base_url=base_url,
            http_client=self._http,
            max_retries=0,
            timeout=self.deadline,
        )

    def _params(self, messages: list[dict], tools: list[dict], options: dict) -> dict:
        params: dict[str, Any] = {
            "model": self.model,
            "messages": messages,
            **capped_output(options, self.max_output_tokens),
        }
        if tools:
            params["tools"] = tools
        return params

    async def complete(self, messages: list[dict], tools: list[dict], **options: Any) -> Completion:
        """One non-streamed answer."""
        params = self._params(messages, tools, options)
        try:
            async with asyncio.timeout(self.deadline):
                completion = await self._sdk.chat.completions.create(**params)
            return parse_completion(self.host, completion.to_dict())
        except TimeoutError:
            raise self._failures.timeout() from None
        except ModelFailed:
            raise
        except Exception as exc:  # whatever the SDK or a lying server raised: a fixed message
            raise self._failed(exc) from None

    async def stream(
        self, messages: list[dict], tools: list[dict], **options: Any
    ) -> AsyncIterator[str | Completion]:
        """Text deltas as they come, then the whole Completion."""
        params = self._params(messages, tools, options)
        fold = StreamFold(self.host, self.limits)
        deadline = asyncio.get_running_loop().time() + self.deadline
        try:
            async with asyncio.timeout_at(deadline):
                chunks = await self._sdk.chat.completions.create(
                    **params, stream=True, stream_options={"include_usage": True}
                )
            async for chunk in bounded(aiter(chunks), deadline):
                if delta := fold.feed(chunk.to_dict()):
                    yield delta
        except TimeoutError:
            raise self._failures.timeout() from None
        except ModelFailed:
            raise
        except Exception as exc:
            raise self._failed(exc) from None
        yield fold.completion()

    def _failed(self, exc: Exception) -> Exception:
        if isinstance(exc, openai.APIStatusError):
            return self._failures.translate(
                exc, status=exc.status_code, headers=exc.response.headers
            )
        if isinstance(exc, (openai.APIConnectionError, openai.APIResponseValidationError)):
            return self._failures.translate(exc, status=None)
        if isinstance(exc, openai.APIError):  # an error object in place of a chunk
            return ModelFailed(
                f"The model API at {self.host} reported an error mid-stream; the answer was "
                "discarded"
            )
        return self._failures.translate(exc, status=None)
