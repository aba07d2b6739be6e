"""A webhook receiver on loopback: the stand-in for a tenant's endpoint. Each test scripts the
answers (status, headers, body, or a slow drip); every request is kept with its headers and
body, so a test can verify it with the `standardwebhooks` library."""

import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler

from tests.network import LoopbackHTTPServer


@dataclass
class Answer:
    """One scripted answer."""

    status: int = 204
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    # Send the body this slowly (seconds between bytes), for a receiver that drips.
    drip: float | None = None


@dataclass
class Received:
    """A request the receiver got."""

    path: str
    headers: dict[str, str]
    body: bytes


class _Handler(BaseHTTPRequestHandler):
    server: "_Server"

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length)
        receiver = self.server.receiver
        with receiver.lock:
            receiver.requests.append(
                Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
            )
            answer = receiver.script.pop(0) if receiver.script else receiver.default
        self.send_response(answer.status)
        for name, value in answer.headers.items():
            self.send_header(name, value)
        if "Content-Length" not in answer.headers:
            self.send_header("Content-Length", str(len(answer.body)))
        self.end_headers()
        try:
            if answer.drip is None:
                self.wfile.write(answer.body)
                return
            for byte in answer.body:
                self.wfile.write(bytes([byte]))
                self.wfile.flush()
                time.sleep(answer.drip)
        except OSError:  # the client hung up, as it should on a slow or lying receiver
            receiver.hung_up += 1

    def log_message(self, format: str, *args: object) -> None:
        return None


class _Server(LoopbackHTTPServer):
    receiver: "Receiver"


class Receiver:
    """A webhook endpoint on 127.0.0.1 answering from a script (then `default`)."""

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.script: list[Answer] = []
        self.default = Answer()
        self.hung_up = 0
        self.lock = threading.Lock()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.receiver = self
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """The endpoint's URL."""
        return f"http://127.0.0.1:{self._server.server_port}/hooks"

    def __enter__(self) -> "Receiver":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
