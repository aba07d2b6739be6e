"""Stand-ins on loopback for the Anthropic Messages and Google Gemini APIs (and, for the
faults the scripted model has no reply for, OpenAI chat completions), speaking each documented
wire format, whole or streamed:

* Anthropic: `POST /v1/messages` with `x-api-key`; a Message, or server-sent events
  `message_start`, `content_block_start`, `content_block_delta` (`text_delta`,
  `input_json_delta`), `content_block_stop`, `message_delta`, `message_stop`, `ping`, `error`.
* Gemini: `POST /v1beta/models/<model>:generateContent` or `:streamGenerateContent?alt=sse`
  with `x-goog-api-key`; a GenerateContentResponse, or one per `data:` event.
* OpenAI: `POST /v1/chat/completions` with a bearer key.

A test plays a script of protocol-neutral replies (`Text`, `ToolUse`, and faults); every
request is recorded. Streamed events are written a few bytes at a time, so every event, a
tool call's included, reaches the client split across network reads. A request beyond the
script is answered 500 and counted as an overrun.
"""

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.network import LoopbackHTTPServer

PIECE = 7  # bytes per network write of a streamed event
SAFETY_BYTES = 256 * 1024 * 1024


@dataclass
class Text:
    """The model answers with text (streamed in three pieces)."""

    text: str
    usage: tuple[int, int] = (40, 9)


@dataclass
class ToolUse:
    """The model asks for one tool call (streamed: its arguments in three pieces)."""

    name: str
    arguments: dict = field(default_factory=dict)
    call_id: str = "call_1"
    usage: tuple[int, int] = (30, 7)


@dataclass
class RateLimit:
    """429 with `Retry-After`, the body echoing the key (a leak would show)."""

    retry_after: str = "7"


@dataclass
class ErrorMidStream:
    """Some text, then the provider's error in the stream (Anthropic's `error` event, an error
    object in place of a Gemini or OpenAI chunk)."""


@dataclass
class BadJsonMidStream:
    """Some text, then an event whose data is not JSON."""


@dataclass
class Endless:
    """Text deltas of `size` characters (every `pause` seconds) until the client hangs up."""

    size: int = 1000
    pause: float = 0
    sent: int = 0
    hung_up: bool = False


@dataclass
class Huge:
    """One event of `size` bytes (a single text delta)."""

    size: int = 1024 * 1024


Reply = Text | ToolUse | RateLimit | ErrorMidStream | BadJsonMidStream | Endless | Huge


@dataclass
class ProviderRequest:
    """One request a stand-in received."""

    path: str
    headers: dict[str, str]
    body: Any


def _thirds(text: str) -> list[str]:
    third = max(1, len(text) // 3)
    return [text[:third], text[third : 2 * third], text[2 * third :]]


class _Handler(BaseHTTPRequestHandler):
    server: "_Server"

    def do_POST(self) -> None:
        """Record the request and answer with the script's next reply."""
        raw = self.rfile.read(int(self.headers.get("content-length") or 0))
        try:
            body = json.loads(raw)
        except ValueError:
            body = raw.decode(errors="replace")
        stand_in = self.server.stand_in
        headers = {k.lower(): v for k, v in self.headers.items()}
        stand_in.requests.append(ProviderRequest(self.path, headers, body))
        reply = stand_in.next_reply()
        streamed = (
            ":streamGenerateContent" in self.path
            if stand_in.protocol == "gemini"
            else isinstance(body, dict) and bool(body.get("stream"))
        )
        try:
            self.answer(reply, streamed)
        except OSError:  # the client hung up
            if isinstance(reply, Endless):
                reply.hung_up = True
        finally:
            self.close_connection = True

    def answer(self, reply: Reply | None, streamed: bool) -> None:
        protocol = self.server.stand_in.protocol
        if reply is None:
            self.send_json(500, {"error": {"message": "beyond the script"}})
            return
        if isinstance(reply, RateLimit):
            key = self.headers.get("x-api-key") or self.headers.get("x-goog-api-key")
            key = key or self.headers.get("authorization")
            self.send_json(
                429,
                {"error": {"type": "rate_limit_error", "code": 429, "message": f"slow down {key}"}},
                {"Retry-After": reply.retry_after},
            )
            return
        render = {"anthropic": Anthropic, "gemini": Gemini, "openai": OpenAI}[protocol]
        if not streamed:
            if not isinstance(reply, (Text, ToolUse)):
                self.send_raw(200, b'{"content": [{"type": "te', "application/json")
                return
            self.send_json(200, render.whole(reply, self.server.stand_in.model))
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Connection", "close")
        self.end_headers()
        if isinstance(reply, Endless):
            event = render.text_event(0, "y" * reply.size)
            while reply.sent < SAFETY_BYTES and not self.server.stand_in.release.is_set():
                self.wfile.write(event)
                self.wfile.flush()
                reply.sent += len(event)
                if reply.pause:
                    self.server.stand_in.release.wait(reply.pause)
            return
        if isinstance(reply, Huge):
            self.wfile.write(render.text_event(0, "z" * reply.size))
            return
        for event in render.events(reply, self.server.stand_in.model):
            for start in range(0, len(event), PIECE):
                self.wfile.write(event[start : start + PIECE])
                self.wfile.flush()

    def send_raw(
        self, status: int, payload: bytes, content_type: str, headers: dict | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)

    def send_json(self, status: int, payload: Any, headers: dict | None = None) -> None:
        self.send_raw(status, json.dumps(payload).encode(), "application/json", headers)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""


def _sse(data: dict, event: str | None = None, end: bytes = b"\n\n") -> bytes:
    head = f"event: {event}\n".encode() if event else b""
    return head + b"data: " + json.dumps(data).encode() + end


class Anthropic:
    """Anthropic Messages, as documented."""

    @staticmethod
    def whole(reply: Text | ToolUse, model: str) -> dict:
        """A Message."""
        if isinstance(reply, Text):
            content = [{"type": "text", "text": reply.text}]
            stop = "end_turn"
        else:
            content = [
                {"type": "text", "text": "Let me check."},
                {
                    "type": "tool_use",
                    "id": reply.call_id,
                    "name": reply.name,
                    "input": reply.arguments,
                },
            ]
            stop = "tool_use"
        return {
            "id": "msg_standin",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": content,
            "stop_reason": stop,
            "stop_sequence": None,
            "usage": {"input_tokens": reply.usage[0], "output_tokens": reply.usage[1]},
        }

    @staticmethod
    def text_event(index: int, text: str) -> bytes:
        """One text delta."""
        delta = {"type": "text_delta", "text": text}
        return _sse(
            {"type": "content_block_delta", "index": index, "delta": delta}, "content_block_delta"
        )

    @classmethod
    def events(cls, reply: Reply, model: str) -> list[bytes]:
        """The streamed events of a reply."""
        usage = reply.usage if isinstance(reply, (Text, ToolUse)) else (10, 1)
        start = {
            "type": "message_start",
            "message": {
                "id": "msg_standin",
                "type": "message",
                "role": "assistant",
                "model": model,
                "content": [],
                "stop_reason": None,
                "stop_sequence": None,
                "usage": {"input_tokens": usage[0], "output_tokens": 1},
            },
        }
        events = [
            _sse(start, "message_start"),
            _sse(
                {
                    "type": "content_block_start",
                    "index": 0,
                    "content_block": {"type": "text", "text": ""},
                },
                "content_block_start",
            ),
            _sse({"type": "ping"}, "ping"),
        ]
        text = reply.text if isinstance(reply, Text) else "Let me check."
        events += [cls.text_event(0, piece) for piece in _thirds(text)]
        if isinstance(reply, ErrorMidStream):
            error = {
                "type": "error",
                "error": {"type": "overloaded_error", "message": "Overloaded"},
            }
            return [*events, _sse(error, "error")]
        if isinstance(reply, BadJsonMidStream):
            return [*events, b'event: content_block_delta\ndata: {"type": "content_blo\n\n']
        events.append(_sse({"type": "content_block_stop", "index": 0}, "content_block_stop"))
        stop = "end_turn"
        if isinstance(reply, ToolUse):
            stop = "tool_use"
            block = {"type": "tool_use", "id": reply.call_id, "name": reply.name, "input": {}}
            events.append(
                _sse(
                    {"type": "content_block_start", "index": 1, "content_block": block},
                    "content_block_start",
                )
            )
            for piece in _thirds(json.dumps(reply.arguments)):
                delta = {"type": "input_json_delta", "partial_json": piece}
                events.append(
                    _sse(
                        {"type": "content_block_delta", "index": 1, "delta": delta},
                        "content_block_delta",
                    )
                )
            events.append(_sse({"type": "content_block_stop", "index": 1}, "content_block_stop"))
        end = {
            "type": "message_delta",
            "delta": {"stop_reason": stop, "stop_sequence": None},
            "usage": {"output_tokens": usage[1]},
        }
        return [*events, _sse(end, "message_delta"), _sse({"type": "message_stop"}, "message_stop")]


class Gemini:
    """Gemini generateContent / streamGenerateContent (alt=sse), as documented."""

    @staticmethod
    def _response(parts: list[dict], usage: tuple[int, int] | None, finish: str | None) -> dict:
        candidate: dict = {"content": {"role": "model", "parts": parts}, "index": 0}
        if finish:
            candidate["finishReason"] = finish
        body: dict = {"candidates": [candidate], "modelVersion": "standin"}
        if usage:
            body["usageMetadata"] = {
                "promptTokenCount": usage[0],
                "candidatesTokenCount": usage[1],
                "totalTokenCount": sum(usage),
            }
        return body

    @classmethod
    def whole(cls, reply: Text | ToolUse, model: str) -> dict:
        """A GenerateContentResponse."""
        if isinstance(reply, Text):
            return cls._response([{"text": reply.text}], reply.usage, "STOP")
        call = {"functionCall": {"name": reply.name, "args": reply.arguments}}
        return cls._response([{"text": "Let me check."}, call], reply.usage, "STOP")

    @classmethod
    def text_event(cls, index: int, text: str) -> bytes:
        """One chunk of text."""
        return _sse(cls._response([{"text": text}], None, None), end=b"\r\n\r\n")

    @classmethod
    def events(cls, reply: Reply, model: str) -> list[bytes]:
        """The streamed chunks of a reply: text pieces, then a call per chunk, usage last."""
        text = reply.text if isinstance(reply, Text) else "Let me check."
        events = [cls.text_event(0, piece) for piece in _thirds(text)]
        if isinstance(reply, ErrorMidStream):
            error = {"error": {"code": 500, "message": "Internal error", "status": "INTERNAL"}}
            return [*events, _sse(error, end=b"\r\n\r\n")]
        if isinstance(reply, BadJsonMidStream):
            return [*events, b'data: {"candidates": [{"content": \r\n\r\n']
        if isinstance(reply, ToolUse):
            call = {"functionCall": {"name": reply.name, "args": reply.arguments}}
            events.append(_sse(cls._response([call], None, None), end=b"\r\n\r\n"))
        usage = reply.usage if isinstance(reply, (Text, ToolUse)) else (10, 1)
        return [*events, _sse(cls._response([{"text": ""}], usage, "STOP"), end=b"\r\n\r\n")]


class OpenAI:
    """OpenAI chat completions, for the faults the scripted model lacks."""

    @staticmethod
    def whole(reply: Text | ToolUse, model: str) -> dict:
        """A chat completion."""
        message: dict = {
            "role": "assistant",
            "content": reply.text if isinstance(reply, Text) else None,
        }
        if isinstance(reply, ToolUse):
            message["tool_calls"] = [
                {
                    "id": reply.call_id,
                    "type": "function",
                    "function": {"name": reply.name, "arguments": json.dumps(reply.arguments)},
                }
            ]
        usage = {"prompt_tokens": reply.usage[0], "completion_tokens": reply.usage[1]}
        return {
            "id": "c",
            "object": "chat.completion",
            "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
            "usage": usage,
        }

    @staticmethod
    def text_event(index: int, text: str) -> bytes:
        """One content delta."""
        return _sse({"id": "c", "choices": [{"index": 0, "delta": {"content": text}}]})

    @classmethod
    def events(cls, reply: Reply, model: str) -> list[bytes]:
        """The chunks of a reply, then `[DONE]`."""
        text = reply.text if isinstance(reply, Text) else "Let me check."
        events = [cls.text_event(0, piece) for piece in _thirds(text)]
        if isinstance(reply, ErrorMidStream):
            return [
                *events,
                _sse({"error": {"message": "The server had an error", "type": "server_error"}}),
            ]
        if isinstance(reply, BadJsonMidStream):
            return [*events, b'data: {"choices": [{"delta": \n\n']
        if isinstance(reply, ToolUse):
            head = {
                "index": 0,
                "id": reply.call_id,
                "type": "function",
                "function": {"name": reply.name, "arguments": ""},
            }
            events.append(
                _sse({"id": "c", "choices": [{"index": 0, "delta": {"tool_calls": [head]}}]})
            )
            for piece in _thirds(json.dumps(reply.arguments)):
                part = {"index": 0, "function": {"arguments": piece}}
                events.append(
                    _sse({"id": "c", "choices": [{"index": 0, "delta": {"tool_calls": [part]}}]})
                )
        usage = reply.usage if isinstance(reply, (Text, ToolUse)) else (10, 1)
        last = {
            "id": "c",
            "choices": [],
            "usage": {"prompt_tokens": usage[0], "completion_tokens": usage[1]},
        }
        return [*events, _sse(last), b"data: [DONE]\n\n"]


class _Server(LoopbackHTTPServer):
    stand_in: "ProviderStandIn"


class ProviderStandIn:
    """A provider's API on 127.0.0.1 that follows a script."""

    def __init__(self, protocol: str, model: str = "standin-1") -> None:
        self.protocol = protocol
        self.model = model
        self.requests: list[ProviderRequest] = []
        self.overruns = 0
        self.release = threading.Event()
        self._script: list[Reply] = []
        self._lock = threading.Lock()
        self.httpd = _Server(("127.0.0.1", 0), _Handler)
        self.httpd.stand_in = self
        root = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.base_url = f"{root}/v1" if protocol == "openai" else root
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def play(self, *replies: Reply) -> None:
        """Answer the next requests with `replies`, in order."""
        with self._lock:
            self._script = list(replies)

    def next_reply(self) -> Reply | None:
        """The script's next reply; None (a 500) beyond it."""
        with self._lock:
            if self._script:
                return self._script.pop(0)
            self.overruns += 1
            return None

    @property
    def bodies(self) -> list[Any]:
        """The JSON bodies received so far."""
        return [r.body for r in self.requests]

    def __enter__(self) -> "ProviderStandIn":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()
