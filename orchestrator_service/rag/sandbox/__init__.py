"""Uploads are parsed, chunked and embedded in worker processes, never in the service's own.

A hostile file can make a parser run for hours or allocate without bound, and in the service's
process that would stop the API, the health checks and the job heartbeats with it (the GIL).
So `IngestPool` (pool.py) runs that code in child processes (child.py), each under a memory
limit and a per-document CPU limit it sets itself, with a wall-clock deadline the service
enforces by killing it; the parsers cap what an upload may expand into (rag/limits.py). A
document that goes over any limit fails with a reason naming its setting.

The local model embeds in the same child, right after chunking: the chunks never cross a
process boundary twice, the model loads once per child (which serves many documents, and
whose successor is started warm), and one memory limit covers everything that touches the
document. A remote embedder (OpenAI-compatible) is called from the service, which holds the
tenant's API key: secrets never enter a process that handles hostile files.
"""

from orchestrator_service.rag.sandbox.pool import IngestPool, PoolStats, ProcessLimits
from orchestrator_service.rag.sandbox.protocol import Batch, Parsed, Request

__all__ = ["Batch", "IngestPool", "Parsed", "PoolStats", "ProcessLimits", "Request"]
