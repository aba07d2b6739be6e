"""What the service and an ingestion worker process say to each other, and how it is framed.

Each message is a frame: a 4-byte big-endian length, then JSON. A batch's vectors follow it as
a second frame of float32s. JSON and raw floats cannot run code when read, as a pickle could:
the worker handles hostile files, so the service trusts nothing it sends beyond its shape.
"""

import json
import struct
from dataclasses import dataclass
from typing import IO, Any

from orchestrator_service.rag.documents import Chunk

_HEADER = struct.Struct("!I")
MAX_FRAME = 256 << 20  # a batch of 64 chunks is well under 1 MiB


class ProtocolError(Exception):
    """A frame that does not follow the protocol."""


@dataclass(frozen=True)
class Request:
    """One document to process: its stored file, and how to chunk (and maybe embed) it."""

    path: str
    sha256: str  # of the bytes uploaded; the worker refuses a file that does not match
    filename: str
    participant: str | None
    max_tokens: int
    # The local model (`local`, `multilingual`, `use` or `multilingual+use`) that embeds in the
    # worker; None: the service embeds the chunks (a remote embedder).
    embed: str | None
    batch: int  # chunks per Batch event


@dataclass(frozen=True)
class Parsed:
    """The document is parsed and chunked."""

    kind: str
    chunks: int


@dataclass(frozen=True)
class Batch:
    """Chunks in ascending token count, with their vectors when the worker embedded them."""

    chunks: list[Chunk]
    vectors: list[list[float]] | None


def frame(message: dict[str, Any]) -> bytes:
    """A JSON message as one frame."""
    return raw_frame(json.dumps(message).encode())


def raw_frame(payload: bytes) -> bytes:
    """Bytes as one frame."""
    return _HEADER.pack(len(payload)) + payload


def read_frame(stream: IO[bytes]) -> bytes | None:
    """The next frame's bytes from a blocking stream; None at its end."""
    header = stream.read(_HEADER.size)
    if not header:
        return None
    (size,) = _HEADER.unpack(header)
    payload = stream.read(size)
    if len(payload) != size:
        raise ProtocolError("the stream ended inside a frame")
    return payload


def frame_size(header: bytes) -> int:
    """The size a frame's header announces, refused past MAX_FRAME."""
    (size,) = _HEADER.unpack(header)
    if size > MAX_FRAME:
        raise ProtocolError(f"a frame of {size} bytes")
    return size


HEADER_SIZE = _HEADER.size
