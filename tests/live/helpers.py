"""Helpers of the live-event tests: an open event stream read frame by frame."""

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx

from tests.helpers import bearer

STREAM = "/api/v1/events/stream"


class Frames:
    """The server-sent events of one open stream, read as they arrive."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self._lines = response.aiter_lines()

    async def next(self, timeout: float = 20) -> dict:
        """The next event (id, event, data), skipping keep-alive comments."""
        frame: dict = {}
        async with asyncio.timeout(timeout):
            async for line in self._lines:
                if not line:
                    if frame:
                        return frame
                    continue
                if line.startswith(":"):
                    continue
                field, _, value = line.partition(": ")
                frame[field] = json.loads(value) if field == "data" else value
        raise AssertionError(f"the stream ended; pending frame {frame}")

    async def until(self, event: str) -> dict:
        """Read up to the next frame of this event name."""
        while (frame := await self.next())["event"] != event:
            pass
        return frame


@asynccontextmanager
async def open_stream(base: str, token: str, **headers: str) -> AsyncIterator[Frames]:
    async with (
        httpx.AsyncClient(base_url=base, timeout=30) as http,
        http.stream("GET", STREAM, headers={**bearer(token), **headers}) as response,
    ):
        assert response.status_code == 200, await response.aread()
        assert response.headers["content-type"].startswith("text/event-stream")
        frames = Frames(response)
        assert (await frames.next())["event"] == "ready"
        yield frames
