"""A scripted OpenAI-compatible model on loopback: the stand-in for the LLM API.

The scripted model is a real HTTP server on 127.0.0.1 in a daemon thread. Each test gives it
a script, the replies to send in order; it records every request it gets (path, Authorization
header, JSON body). A text or tool-call reply is sent as one JSON completion, or as SSE chunks
ending with a usage chunk and `data: [DONE]` when the request asks to stream, so one script
serves a streamed and a non-streamed run alike. A request beyond the script is answered 500
and counted as an overrun (the `model` fixture fails the test at teardown on any).
Hostile replies (`Drip`, `Flood`, `Chatter`) send without end until the client hangs up, and
record how much got out and whether the client hung up.
"""

import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.network import LoopbackHTTPServer


def _usage(prompt: int, completion: int) -> dict:
    """An OpenAI usage object."""
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def _chunk(delta: dict, finish: str | None = None) -> dict:
    """One streamed chat-completion chunk."""
    return {
        "id": "chatcmpl-scripted",
        "object": "chat.completion.chunk",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


class _Answer:
    """A reply the model gives as a completion: JSON, or SSE chunks when asked to stream."""

    usage: tuple[int, int]
    finish: str

    def message(self) -> dict:
        """The assistant message of a non-streamed completion."""
        raise NotImplementedError

    def deltas(self) -> list[dict]:
        """The deltas of a streamed completion, in order."""
        raise NotImplementedError

    def serve(self, handler: "_ModelHandler", body: dict) -> None:
        """Answer the request, streamed if it asks to be."""
        usage = _usage(*self.usage)
        if body.get("stream"):
            chunks = [_chunk(d) for d in self.deltas()] + [_chunk({}, self.finish)]
            chunks.append({"id": "chatcmpl-scripted", "choices": [], "usage": usage})
            handler.send_events(chunks)
            return
        handler.send_json(
            200,
            {
                "id": "chatcmpl-scripted",
                "object": "chat.completion",
                "model": body.get("model"),
                "choices": [{"index": 0, "message": self.message(), "finish_reason": self.finish}],
                "usage": usage,
            },
        )


@dataclass
class Say(_Answer):
    """The model answers with text."""

    text: str
    usage: tuple[int, int] = (40, 9)
    finish: str = "stop"

    def message(self) -> dict:
        """The text as an assistant message."""
        return {"role": "assistant", "content": self.text}

    def deltas(self) -> list[dict]:
        """The text word by word."""
        pieces = re.findall(r"\S+\s*|\s+", self.text)
        return [{"role": "assistant", "content": piece} for piece in pieces]


@dataclass
class Call(_Answer):
    """The model asks for one tool call."""

    name: str
    arguments: dict = field(default_factory=dict)
    call_id: str = "call_1"
    usage: tuple[int, int] = (30, 7)
    finish: str = "tool_calls"

    @property
    def tool_call(self) -> dict:
        """The call as OpenAI sends it in a message."""
        return {
            "id": self.call_id,
            "type": "function",
            "function": {"name": self.name, "arguments": json.dumps(self.arguments)},
        }

    def message(self) -> dict:
        """An assistant message with the call and no text."""
        return {"role": "assistant", "content": None, "tool_calls": [self.tool_call]}

    def deltas(self) -> list[dict]:
        """The call's id and name first, then its arguments in two halves."""
        arguments = self.tool_call["function"]["arguments"]
        half = len(arguments) // 2
        head = {
            "index": 0,
            "id": self.call_id,
            "type": "function",
            "function": {"name": self.name, "arguments": ""},
        }
        return [
            {"role": "assistant", "content": None, "tool_calls": [head]},
            {"tool_calls": [{"index": 0, "function": {"arguments": arguments[:half]}}]},
            {"tool_calls": [{"index": 0, "function": {"arguments": arguments[half:]}}]},
        ]


@dataclass
class Refuse:
    """The model API answers an HTTP error, its body echoing the Authorization it got (as a
    careless API might), so a leak through error messages would show."""

    status: int

    def serve(self, handler: "_ModelHandler", body: dict) -> None:
        """Answer the error."""
        echoed = handler.headers.get("Authorization")
        handler.send_json(self.status, {"error": {"message": f"scripted {echoed}"}})


@dataclass
class Malformed:
    """The model API answers 200 with a body that is not JSON (or an SSE chunk that is not)."""

    def serve(self, handler: "_ModelHandler", body: dict) -> None:
        """Answer the broken body."""
        if body.get("stream"):
            handler.send_raw(200, b'data: {"choices": [{"delta": \n\n', "text/event-stream")
        else:
            handler.send_raw(200, b'{"choices": [{"message": {"content": "Hel', "application/json")


@dataclass
class Stall:
    """The model API answers only after `seconds` (or when the test ends)."""

    seconds: float

    def serve(self, handler: "_ModelHandler", body: dict) -> None:
        """Wait, then answer too late."""
        handler.server.model.release.wait(self.seconds)
        Say("Too late.").serve(handler, body)


@dataclass
class HangUp:
    """The model API closes the connection without answering."""

    def serve(self, handler: "_ModelHandler", body: dict) -> None:
        """Answer nothing."""
        handler.close_connection = True


@dataclass
class EchoKey(Say):
    """A careless model API: its answer quotes the Authorization header it was sent, streamed
    three characters at a time so the key arrives split across pieces."""

    text: str = ""

    def serve(self, handler: "_ModelHandler", body: dict) -> None:
        """Answer with the header in the text."""
        self.text = f"You sent me {handler.headers.get('Authorization')}, thanks."
        super().serve(handler, body)

    def deltas(self) -> list[dict]:
        """The text in pieces of three characters."""
        return [{"content": self.text[i : i + 3]} for i in range(0, len(self.text), 3)]


@dataclass
class Calls(_Answer):
    """The model asks for several tool calls at once."""

    calls: list[Call]
    usage: tuple[int, int] = (30, 7)
    finish: str = "tool_calls"

    def message(self) -> dict:
        """An assistant message with every call."""
        return {
            "role": "assistant",
            "content": None,
            "tool_calls": [c.tool_call for c in self.calls],
        }

    def deltas(self) -> list[dict]:
        """Each call whole, under its own index."""
        return [
            {"tool_calls": [{"index": i, **call.tool_call}]} for i, call in enumerate(self.calls)
        ]


# The most an endless reply sends before giving up by itself (a client that never hangs up
# would be a failure of the test, not a reason to run forever).
SAFETY_BYTES = 1024 * 1024 * 1024


@dataclass
class _Endless:
    """A reply that goes on until the client hangs up; it counts what it got out and says
    when it stopped."""

    sent: int = 0
    ended: threading.Event = field(default_factory=threading.Event)
    hung_up: bool = False

    def pour(self, handler: "_ModelHandler", head: bytes, piece: bytes, pause: float) -> None:
        """Write `head`, then `piece` again and again (waiting `pause` between) until the client
        hangs up, the safety bound or the test's end."""
        release = handler.server.model.release
        try:
            handler.wfile.write(head)
            self.sent += len(head)
            while self.sent < SAFETY_BYTES and not release.is_set():
                handler.wfile.write(piece)
                handler.wfile.flush()
                self.sent += len(piece)
                if pause:
                    release.wait(pause)
        except OSError:
            self.hung_up = True
        finally:
            handler.close_connection = True
            self.ended.set()

    @staticmethod
    def start(handler: "_ModelHandler", body: dict, length: int | None = None) -> None:
        """The status line and headers of a 200 (a JSON or event stream, by the request)."""
        handler.send_response(200)
        streamed = body.get("stream")
        handler.send_header("Content-Type", "text/event-stream" if streamed else "application/json")
        if length is not None:
            handler.send_header("Content-Length", str(length))
        handler.send_header("Connection", "close")
        handler.end_headers()


@dataclass
class Drip(_Endless):
    """The model API answers 200 and then one blank every `every` seconds, never finishing: no
    read ever waits long, so only a deadline on the whole answer ends it."""

    every: float = 0.05

    def serve(self, handler: "_ModelHandler", body: dict) -> None:
        """Drip until the client hangs up."""
        self.start(handler, body)
        self.pour(handler, b"", b" ", self.every)


@dataclass
class Flood(_Endless):
    """The model API answers 200 with a body that never ends, as fast as the client reads: one
    endless JSON string, or one endless `data:` line when streaming. With `declared`, the
    headers announce that many bytes first."""

    declared: int | None = None

    def serve(self, handler: "_ModelHandler", body: dict) -> None:
        """Flood until the client hangs up."""
        self.start(handler, body, self.declared)
        head = (
            b'data: {"choices": [{"delta": {"content": "'
            if body.get("stream")
            else (b'{"choices": [{"message": {"role": "assistant", "content": "')
        )
        self.pour(handler, head, b"x" * 65536, 0)


@dataclass
class Chatter(_Endless):
    """A streamed answer that never ends: well-formed text deltas of `size` characters."""

    size: int = 1000

    def serve(self, handler: "_ModelHandler", body: dict) -> None:
        """Stream text until the client hangs up."""
        self.start(handler, body)
        delta = f"data: {json.dumps(_chunk({'content': 'y' * self.size}))}\n\n".encode()
        self.pour(handler, b"", delta, 0)


@dataclass
class Hold:
    """The model API holds its answer (`then`) until the test sets `go`; `arrived` is set
    once the request is in, so a test can act while the run waits on the model."""

    then: "Reply"
    arrived: threading.Event = field(default_factory=threading.Event)
    go: threading.Event = field(default_factory=threading.Event)

    def serve(self, handler: "_ModelHandler", body: dict) -> None:
        """Signal the arrival, wait for the test (or its end), then answer."""
        self.arrived.set()
        self.go.wait(30)
        self.then.serve(handler, body)


Reply = (
    Say
    | Call
    | Calls
    | Refuse
    | Malformed
    | Stall
    | HangUp
    | EchoKey
    | Drip
    | Flood
    | Chatter
    | Hold
)


@dataclass
class ModelRequest:
    """One request the scripted model received."""

    path: str
    authorization: str | None
    body: Any


class _ModelHandler(BaseHTTPRequestHandler):
    """Records a request and serves the script's next reply."""

    server: "_ModelHttpServer"

    def do_POST(self) -> None:
        """Record the request, then answer with the next reply."""
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length)
        try:
            body = json.loads(raw)
        except ValueError:
            body = raw.decode(errors="replace")
        model = self.server.model
        model.requests.append(ModelRequest(self.path, self.headers.get("Authorization"), body))
        model.next_reply().serve(self, body if isinstance(body, dict) else {})

    def send_raw(self, status: int, payload: bytes, content_type: str) -> None:
        """Answer with a body, unless the client has hung up."""
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        except OSError:  # the client gave up (its timeout): nothing to answer
            pass

    def send_json(self, status: int, payload: Any) -> None:
        """Answer with a JSON body."""
        self.send_raw(status, json.dumps(payload).encode(), "application/json")

    def send_events(self, chunks: list[dict]) -> None:
        """Answer with server-sent events, one chunk at a time, then `[DONE]`."""
        try:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Connection", "close")
            self.end_headers()
            for chunk in chunks:
                self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                self.wfile.flush()
            self.wfile.write(b"data: [DONE]\n\n")
        except OSError:
            pass

    def log_message(self, format: str, *args: Any) -> None:
        """Keep the test output quiet."""


class _ModelHttpServer(LoopbackHTTPServer):
    """A threaded HTTP server that knows its ScriptedModel."""

    model: "ScriptedModel"


class ScriptedModel:
    """An OpenAI-compatible chat-completions API on 127.0.0.1 that follows a script."""

    def __init__(self) -> None:
        self.requests: list[ModelRequest] = []
        self.overruns = 0
        self.release = threading.Event()
        self._script: list[Reply] = []
        self._forever: Reply | None = None
        self._lock = threading.Lock()
        self.httpd = _ModelHttpServer(("127.0.0.1", 0), _ModelHandler)
        self.httpd.model = self
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def play(self, *replies: Reply, forever: Reply | None = None) -> None:
        """Answer the next requests with `replies` in order, then with `forever` if given."""
        with self._lock:
            self._script = list(replies)
            self._forever = forever

    def next_reply(self) -> Reply:
        """The script's next reply; a request beyond the script is an overrun (500)."""
        with self._lock:
            if self._script:
                return self._script.pop(0)
            if self._forever is not None:
                return self._forever
            self.overruns += 1
            return Refuse(500)

    @property
    def bodies(self) -> list[dict]:
        """The JSON bodies of the requests received so far."""
        return [r.body for r in self.requests]

    def __enter__(self) -> "ScriptedModel":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()
