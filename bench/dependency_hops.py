"""What a plain-`def` request dependency costs against an `async def` one (issue 15).

FastAPI runs a plain `def` dependency in its thread pool. This measures, in one process, a
route with two such dependencies against the same route with two `async def` ones (what a
search had before: the sessionmaker and the knowledge service), in twelve alternating blocks of
200 requests through the ASGI app (no socket); CPU per request (time.process_time), median.
Prints the table and writes bench/results/dependency_hops.json. Run from the repository root:

    .venv/bin/python bench/dependency_hops.py
"""

import asyncio
import json
import statistics
import time
from pathlib import Path
from typing import Annotated

import httpx
from fastapi import Depends, FastAPI, Request
from report import markdown_table  # bench/ is on sys.path when run

RESULTS = Path(__file__).resolve().parent / "results" / "dependency_hops.json"
BLOCKS, REQUESTS = 12, 200


def plain_one(request: Request) -> int:
    """A dependency FastAPI runs in its thread pool."""
    return 1


def plain_two(request: Request) -> int:
    """Another."""
    return 2


async def async_one(request: Request) -> int:
    """A dependency run on the event loop."""
    return 1


async def async_two(request: Request) -> int:
    """Another."""
    return 2


app = FastAPI()


@app.post("/plain")
async def plain(
    x: Annotated[int, Depends(plain_one)], y: Annotated[int, Depends(plain_two)]
) -> dict:
    """Two plain-def dependencies."""
    return {}


@app.post("/async")
async def asynchronous(
    x: Annotated[int, Depends(async_one)], y: Annotated[int, Depends(async_two)]
) -> dict:
    """Two async dependencies."""
    return {}


async def main() -> None:
    """Alternate the two routes, print and write the medians."""
    cpu: dict[str, list[float]] = {"/plain": [], "/async": []}
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
        for path in cpu:
            for _ in range(50):
                await client.post(path)
        for _ in range(BLOCKS):
            for path in cpu:
                started = time.process_time()
                for _ in range(REQUESTS):
                    await client.post(path)
                cpu[path].append((time.process_time() - started) / REQUESTS * 1000)
    medians = {path: statistics.median(values) for path, values in cpu.items()}
    rows = [
        {
            "route": "two plain-def dependencies (thread pool)",
            "CPU per request": f"{medians['/plain']:.3f} ms",
        },
        {
            "route": "two async dependencies (event loop)",
            "CPU per request": f"{medians['/async']:.3f} ms",
        },
    ]
    print(markdown_table(rows))
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps({"cpu_ms_per_request": cpu, "medians": medians}, indent=1))


if __name__ == "__main__":
    asyncio.run(main())
