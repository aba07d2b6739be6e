"""Google Gemini through the official SDK (`google-genai`), on our own guarded and capped
httpx client: the run loop's OpenAI-shaped messages and tools go out as Gemini contents
(`functionCall`, `functionResponse` parts) and function declarations to `generateContent` or
`streamGenerateContent`, and the answer comes back as a Completion with OpenAI-shaped tool
calls (Gemini gives calls no id unless it has one: ours are numbered)."""

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

from google import genai
from google.genai import errors as genai_errors
from google.genai import types

from orchestrator_service.agents.llm import (
    Completion,
    ModelFailed,
    ModelLimits,
    StreamFold,
    capped_output,
    check_calls,
)
from orchestrator_service.agents.sdk import (
    SdkFailures,
    Target,
    bounded,
    checked_key,
    field,
    http_client,
)
from orchestrator_service.outbound import host_of
from orchestrator_service.tools.ssrf import Guard

API_VERSION = "v1beta"


class GeminiClient:
    """Calls `<base_url>/v1beta/models/<model>:generateContent` (or its streaming twin), each
    call within `deadline` seconds and `limits`."""

    def __init__(
        self, target: Target, *, api_key: str, guard: Guard, deadline: float, limits: ModelLimits
    ) -> None:
        self.host = host_of(target.base_url)
        self.model = target.model
        self.max_output_tokens = target.max_output_tokens
        self.deadline = deadline
        self.limits = limits
        self._failures = SdkFailures(self.host, deadline)
        self._http = http_client(guard, deadline, limits)
        self._sdk = genai.Client(
            api_key=checked_key(api_key),
            http_options=types.HttpOptions(
                base_url=target.base_url,
                api_version=API_VERSION,
                httpx_async_client=self._http,
                timeout=int(deadline * 1000),
            ),
        )

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self._http.aclose()

    def _request(
        self, messages: list[dict], tools: list[dict], options: dict
    ) -> tuple[list[types.Content], types.GenerateContentConfig]:
        options = capped_output(options, self.max_output_tokens)
        system, contents = to_contents(messages)
        config = types.GenerateContentConfig(
            system_instruction=system or None,
            temperature=options.get("temperature"),
            max_output_tokens=options.get("max_tokens"),
            tools=[to_tools(tools)] if tools else None,
            automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),
        )
        return contents, config

    async def complete(self, messages: list[dict], tools: list[dict], **options: Any) -> Completion:
        """One non-streamed answer."""
        contents, config = self._request(messages, tools, options)
        fold = ContentFold(self.host, self.limits)
        try:
            async with asyncio.timeout(self.deadline):
                response = await self._sdk.aio.models.generate_content(
                    model=self.model, contents=contents, config=config
                )
            fold.feed(response)
        except TimeoutError:
            raise self._failures.timeout() from None
        except ModelFailed:
            raise
        except Exception as exc:  # whatever the SDK or a lying server raised: a fixed message
            raise self._failed(exc, started=False) from None
        return fold.completion()

    async def stream(
        self, messages: list[dict], tools: list[dict], **options: Any
    ) -> AsyncIterator[str | Completion]:
        """Text deltas as they come, then the whole Completion."""
        contents, config = self._request(messages, tools, options)
        fold = ContentFold(self.host, self.limits)
        deadline = asyncio.get_running_loop().time() + self.deadline
        try:
            async with asyncio.timeout_at(deadline):
                chunks = await self._sdk.aio.models.generate_content_stream(
                    model=self.model, contents=contents, config=config
                )
            try:
                async for chunk in bounded(aiter(chunks), deadline):
                    fold.chunks += 1
                    if delta := fold.feed(chunk):
                        yield delta
            except BaseException:
                # The SDK's stream keeps its response open when given up: hang up now, not
                # when the run ends (a server that floods would fill the socket meanwhile).
                await self._http.aclose()
                raise
        except TimeoutError:
            raise self._failures.timeout() from None
        except ModelFailed:
            raise
        except Exception as exc:
            raise self._failed(exc, started=fold.chunks > 0) from None
        yield fold.completion()

    def _failed(self, exc: Exception, *, started: bool) -> Exception:
        if not isinstance(exc, genai_errors.APIError):
            return self._failures.translate(exc, status=None)
        if started:  # an error object in place of a chunk, after the stream began
            return ModelFailed(
                f"The model API at {self.host} reported an error mid-stream; the answer was "
                "discarded",
                details={"status": exc.code if isinstance(exc.code, int) else None},
            )
        headers = getattr(exc.response, "headers", None)
        return self._failures.translate(exc, status=exc.code, headers=headers)


def to_tools(definitions: list[dict]) -> types.Tool:
    """OpenAI function tools as one Gemini tool of function declarations."""
    declarations = []
    for definition in definitions:
        function = definition.get("function") or {}
        declarations.append(
            types.FunctionDeclaration(
                name=function.get("name", ""),
                description=function.get("description") or "",
                parameters_json_schema=function.get("parameters")
                or {"type": "object", "properties": {}},
            )
        )
    return types.Tool(function_declarations=declarations)


def _json(text: str | None) -> Any:
    try:
        return json.loads(text or "{}")
    except ValueError:
        return text


def to_contents(messages: list[dict]) -> tuple[str, list[types.Content]]:
    """OpenAI chat messages as (system instruction, Gemini contents): tool calls as
    `functionCall` parts of a `model` turn, tool results as `functionResponse` parts of a user
    turn (named after the call they answer), consecutive turns of one role merged."""
    system: list[str] = []
    contents: list[types.Content] = []
    names: dict[str, str] = {}

    def add(role: str, parts: list[types.Part]) -> None:
        if contents and contents[-1].role == role and contents[-1].parts is not None:
            contents[-1].parts.extend(parts)
        else:
            contents.append(types.Content(role=role, parts=parts))

    for message in messages:
        role, content = message.get("role"), message.get("content")
        if role == "system":
            system.append(content or "")
        elif role == "tool":
            call_id = message.get("tool_call_id") or ""
            result = _json(content)
            response = result if isinstance(result, dict) else {"result": result}
            add(
                "user",
                [
                    types.Part(
                        function_response=types.FunctionResponse(
                            id=call_id or None, name=names.get(call_id, ""), response=response
                        )
                    )
                ],
            )
        elif role == "assistant":
            parts = [types.Part(text=content)] if content else []
            for call in message.get("tool_calls") or []:
                function = call.get("function") or {}
                names[call.get("id") or ""] = function.get("name", "")
                arguments = _json(function.get("arguments"))
                parts.append(
                    types.Part(
                        function_call=types.FunctionCall(
                            id=call.get("id") or None,
                            name=function.get("name", ""),
                            args=arguments if isinstance(arguments, dict) else {},
                        )
                    )
                )
            if parts:
                add("model", parts)
        else:
            add("user", [types.Part(text=content or "")])
    return "\n\n".join(system), contents


class ContentFold(StreamFold):
    """Gemini answers (one, or the chunks of a stream) folded into one Completion: text
    parts joined, each `functionCall` part a tool call, the last usage counted."""

    chunks = 0

    def feed(self, chunk: Any) -> str:
        """Fold one response (or streamed chunk) in; return its text."""
        usage = field(chunk, "usage_metadata")
        if usage is not None:
            self.tokens_in = int(field(usage, "prompt_token_count") or 0)
            self.tokens_out = int(field(usage, "candidates_token_count") or 0) + int(
                field(usage, "thoughts_token_count") or 0
            )
        candidates = field(chunk, "candidates") or []
        if not candidates:
            return ""
        content = field(candidates[0], "content")
        text = []
        for part in field(content, "parts") or []:
            call = field(part, "function_call")
            if call is not None:
                index = len(self.calls)
                name, args = field(call, "name"), field(call, "args") or {}
                if not isinstance(name, str) or not isinstance(args, dict):
                    raise TypeError(
                        "a function call without a name or with arguments not an object"
                    )
                entry = {"id": field(call, "id") or f"call_{index + 1}", "name": [], "args": []}
                self.calls[index] = entry
                check_calls(self.host, len(self.calls))
                self.add(entry["name"], name)
                self.add(entry["args"], json.dumps(args))
            elif field(part, "thought"):
                continue  # the model's thinking is not the answer
            elif (piece := field(part, "text")) is not None:
                self.add(self.text, piece)
                text.append(piece)
        return "".join(text)
