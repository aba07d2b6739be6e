"""Anthropic Messages through the official SDK (`anthropic`), on our own guarded and capped
HTTP client: the run loop's OpenAI-shaped messages and tools go out as Messages content
blocks (`tool_use`, `tool_result`), and the answer, whole or as streaming events
(`content_block_start`, `input_json_delta`, `message_delta`, `error`), comes back as a
Completion with OpenAI-shaped tool calls."""

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import anthropic

from orchestrator_service.agents.llm import (
    Completion,
    ModelFailed,
    StreamFold,
    capped_output,
    check_calls,
)
from orchestrator_service.agents.sdk import (
    SdkClient,
    bounded,
    field,
)


class AnthropicClient(SdkClient):
    """Calls `<base_url>/v1/messages`, each call within `deadline` seconds and `limits`."""

    def _open_sdk(self, api_key: str, base_url: str) -> anthropic.AsyncAnthropic:
        return anthropic.AsyncAnthropic(
            api_key=api_key,
            base_url=base_url,
            http_client=self._http,
            max_retries=0,
            timeout=self.deadline,
        )

    def _params(self, messages: list[dict], tools: list[dict], options: dict) -> dict:
        options = capped_output(options, self.max_output_tokens)
        system, turns = to_messages(messages)
        params: dict[str, Any] = {
            "model": self.model,
            "messages": turns,
            "max_tokens": options.get("max_tokens") or self.max_output_tokens,
        }
        if system:
            params["system"] = system
        # The Messages API of the SDK takes no sampling temperature: the agent's is not sent.
        if tools:
            params["tools"] = [to_tool(t) for t in tools]
        return params

    async def complete(self, messages: list[dict], tools: list[dict], **options: Any) -> Completion:
        """One non-streamed answer."""
        params = self._params(messages, tools, options)
        try:
            async with asyncio.timeout(self.deadline):
                message = await self._sdk.messages.create(**params)
            return from_message(self.host, message)
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
        fold = MessagesFold(self.host, self.limits)
        deadline = asyncio.get_running_loop().time() + self.deadline
        try:
            async with asyncio.timeout_at(deadline):
                events = await self._sdk.messages.create(**params, stream=True)
            async for event in bounded(aiter(events), deadline):
                if delta := fold.feed(event):
                    yield delta
        except TimeoutError:
            raise self._failures.timeout() from None
        except ModelFailed:
            raise
        except Exception as exc:
            raise self._failed(exc) from None
        yield fold.completion()

    def _failed(self, exc: Exception) -> Exception:
        if not isinstance(exc, anthropic.APIStatusError):
            return self._failures.translate(exc, status=None)
        if exc.response.status_code == 200:  # an `error` event after the stream began
            kind = _safe(field(field(exc.body, "error"), "type"))
            return ModelFailed(
                f"The model API at {self.host} reported an error mid-stream"
                f"{f' ({kind})' if kind else ''}; the answer was discarded",
                details={"error_type": kind},
            )
        return self._failures.translate(exc, status=exc.status_code, headers=exc.response.headers)


def _safe(kind: Any) -> str | None:
    """An error type from the server, only when it is a short identifier."""
    if isinstance(kind, str) and 0 < len(kind) <= 40 and kind.replace("_", "").isalpha():
        return kind
    return None


def to_tool(definition: dict) -> dict:
    """An OpenAI function tool as an Anthropic tool."""
    function = definition.get("function") or {}
    return {
        "name": function.get("name", ""),
        "description": function.get("description") or "",
        "input_schema": function.get("parameters") or {"type": "object", "properties": {}},
    }


def _arguments(text: str | None) -> dict:
    try:
        value = json.loads(text or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def to_messages(messages: list[dict]) -> tuple[str, list[dict]]:
    """OpenAI chat messages as (system prompt, Anthropic messages): system messages joined,
    tool calls as `tool_use` blocks, tool results as `tool_result` blocks of a user turn, and
    consecutive turns of one role merged (the API wants them alternating)."""
    system: list[str] = []
    turns: list[dict] = []

    def add(role: str, blocks: list[dict]) -> None:
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": role, "content": blocks})

    for message in messages:
        role, content = message.get("role"), message.get("content")
        if role == "system":
            system.append(content or "")
        elif role == "tool":
            add(
                "user",
                [
                    {
                        "type": "tool_result",
                        "tool_use_id": message.get("tool_call_id") or "",
                        "content": content or "",
                    }
                ],
            )
        elif role == "assistant":
            blocks = [{"type": "text", "text": content}] if content else []
            for call in message.get("tool_calls") or []:
                function = call.get("function") or {}
                blocks.append(
                    {
                        "type": "tool_use",
                        "id": call.get("id") or "",
                        "name": function.get("name", ""),
                        "input": _arguments(function.get("arguments")),
                    }
                )
            if blocks:
                add("assistant", blocks)
        else:
            add("user", [{"type": "text", "text": content or ""}])
    return "\n\n".join(system), turns


def _call(call_id: Any, name: Any, arguments: str) -> dict:
    if not isinstance(call_id, str) or not isinstance(name, str):
        raise TypeError("a tool call without an id or a name")
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


def from_message(host: str, message: Any) -> Completion:
    """A whole Messages answer as a Completion."""
    texts, calls = [], []
    for block in field(message, "content") or []:
        kind = field(block, "type")
        if kind == "text":
            texts.append(str(field(block, "text") or ""))
        elif kind == "tool_use":
            calls.append(
                _call(
                    field(block, "id"),
                    field(block, "name"),
                    json.dumps(field(block, "input") or {}),
                )
            )
    check_calls(host, len(calls))
    usage = field(message, "usage")
    return Completion(
        content="".join(texts) or None,
        tool_calls=calls,
        tokens_in=int(field(usage, "input_tokens") or 0),
        tokens_out=int(field(usage, "output_tokens") or 0),
    )


class MessagesFold(StreamFold):
    """Anthropic's streaming events folded into one Completion; a tool call's input arrives as
    `input_json_delta` pieces of its content block, in any number of events."""

    def feed(self, chunk: Any) -> str:
        """Fold one event in; return its text delta."""
        kind = field(chunk, "type")
        if kind == "message_start":
            usage = field(field(chunk, "message"), "usage")
            self.tokens_in = int(field(usage, "input_tokens") or 0)
            self.tokens_out = int(field(usage, "output_tokens") or 0)
        elif kind == "content_block_start":
            block = field(chunk, "content_block")
            if field(block, "type") == "tool_use":
                call = {"id": field(block, "id"), "name": [], "args": []}
                self.calls[int(field(chunk, "index"))] = call
                check_calls(self.host, len(self.calls))
                self.add(call["name"], field(block, "name"))
        elif kind == "content_block_delta":
            delta = field(chunk, "delta")
            delta_kind = field(delta, "type")
            if delta_kind == "text_delta":
                text = field(delta, "text")
                self.add(self.text, text)
                return text
            if delta_kind == "input_json_delta":
                call = self.calls[int(field(chunk, "index"))]  # KeyError: a delta of no block
                self.add(call["args"], field(delta, "partial_json"))
        elif kind == "message_delta":
            usage = field(chunk, "usage")
            if field(usage, "output_tokens") is not None:
                self.tokens_out = int(field(usage, "output_tokens"))
            if field(usage, "input_tokens") is not None:
                self.tokens_in = int(field(usage, "input_tokens"))
        return ""

    def completion(self) -> Completion:
        """The whole answer (a call whose input never streamed has `{}`)."""
        for call in self.calls.values():
            if not isinstance(call["id"], str):
                raise TypeError("a tool call without an id")
            if not call["args"]:
                call["args"].append("{}")
        return super().completion()
