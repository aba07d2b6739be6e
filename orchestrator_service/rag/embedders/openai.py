"""Any OpenAI-compatible `/v1/embeddings` endpoint (OpenAI, Azure, Ollama, vLLM), with the
tenant's API key from the vault, through the SSRF guard like every outbound call (a private
endpoint such as a local Ollama must be allow-listed in ORCH_OUTBOUND_ALLOWED_HOSTS). Failures
are fixed messages (class of failure and host), never the HTTP library's words, which can quote
the request and its key. Each request has one deadline, connecting to last byte, and its answer
is read no further than a byte cap; redirects are not followed."""

import asyncio
import json

import httpx

from orchestrator_service.audit.service import Actor
from orchestrator_service.credentials.service import SecretResolver
from orchestrator_service.errors import InvalidInput, OrchestratorError
from orchestrator_service.outbound import TooLarge, failure, header_value, host_of, read_capped
from orchestrator_service.tools.ssrf import Guard, GuardedTransport

SYSTEM_ACTOR = "system:ingestion"

# Chunks are cut to the local model's 256-token window whatever the embedder; this bounds
# what one request may carry.
_BATCH = 128
# pgvector's largest vector.
_MAX_DIMENSIONS = 16000


class EmbeddingFailed(OrchestratorError):
    """The embedding service refused or failed."""

    status_code = 502
    code = "embedding_failed"


class OpenAIEmbedder:
    """Embeddings over HTTP; `dimensions` is requested from models that can shorten vectors."""

    max_tokens = 256

    def __init__(
        self,
        *,
        base_url: str,
        model: str,
        dimensions: int,
        api_key: str,
        guard: Guard,
        timeout: float = 60.0,
        max_response_bytes: int = 32 * 1024 * 1024,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.host = host_of(self.base_url)
        self.model = model
        self.dimensions = dimensions
        self.timeout = timeout
        self.max_response_bytes = max_response_bytes
        self.model_id = f"openai:{model}:{dimensions}"
        authorization = header_value(f"Bearer {api_key}")
        if authorization is None:
            raise InvalidInput(
                "The embedding API key holds characters an HTTP header cannot carry (control or "
                "non-ASCII characters); store the credential again"
            )
        self._client = httpx.AsyncClient(
            transport=GuardedTransport(guard),
            timeout=timeout,
            headers={"Authorization": authorization},
            follow_redirects=False,
            trust_env=False,
        )

    async def embed(self, texts: list[str]) -> list[list[float]]:
        """One vector per text, in order, checked to have the configured dimension."""
        vectors: list[list[float]] = []
        for start in range(0, len(texts), _BATCH):
            batch = texts[start : start + _BATCH]
            body = {"model": self.model, "input": batch, "dimensions": self.dimensions}
            payload = await self._post(body)
            try:
                data = sorted(json.loads(payload)["data"], key=lambda item: item["index"])
                batch_vectors = [item["embedding"] for item in data]
            except (ValueError, KeyError, TypeError):
                raise EmbeddingFailed(
                    f"The embedding service at {self.host} sent an unexpected answer"
                ) from None
            if len(batch_vectors) != len(batch) or any(
                len(v) != self.dimensions for v in batch_vectors
            ):
                raise EmbeddingFailed(
                    f"The embedding service returned vectors that are not {self.dimensions}-"
                    "dimensional (or not one per text); check the model and dimensions settings"
                )
            vectors.extend(batch_vectors)
        return vectors

    async def embed_query(self, text: str) -> list[float]:
        """A query is embedded like any text."""
        return (await self.embed([text]))[0]

    async def _post(self, body: dict) -> bytes:
        """One request's answer, within the deadline and the byte cap."""
        try:
            request = self._client.build_request("POST", f"{self.base_url}/embeddings", json=body)
            async with asyncio.timeout(self.timeout):
                response = await self._client.send(request, stream=True)
                try:
                    if response.status_code != 200:
                        raise EmbeddingFailed(
                            f"The embedding service at {self.host} answered {response.status_code}",
                            details={"status": response.status_code},
                        )
                    return await read_capped(response, self.max_response_bytes)
                finally:
                    await response.aclose()
        except TimeoutError:
            raise EmbeddingFailed(
                f"The embedding service at {self.host} failed: it did not answer in time (the "
                f"deadline is {self.timeout:g} s for the whole answer)",
                details={"timeout_s": self.timeout},
            ) from None
        except TooLarge as exc:
            raise EmbeddingFailed(
                f"The embedding service at {self.host} sent an answer larger than {exc.limit} "
                "bytes; it was cut off and discarded",
                details={"max_response_bytes": exc.limit},
            ) from None
        except (httpx.HTTPError, httpx.InvalidURL, ValueError) as exc:
            raise EmbeddingFailed(
                f"The embedding service at {self.host} failed: {failure(exc)}"
            ) from None

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self._client.aclose()


def model_of(model_id: str | None) -> tuple[str, int] | None:
    """The model and dimension an `openai:<model>:<dimensions>` id names (the model may hold
    colons, as Ollama's `name:tag` does); None for any other id."""
    if model_id is None or not model_id.startswith("openai:"):
        return None
    model, _, dimensions = model_id.removeprefix("openai:").rpartition(":")
    if not (model and dimensions.isascii() and dimensions.isdigit()):
        return None
    if not 0 < int(dimensions) <= _MAX_DIMENSIONS:
        return None
    return model, int(dimensions)


class OpenAIEmbedderFactory:
    """Opens a tenant's OpenAI-compatible embedder with the API key from its vault."""

    def __init__(
        self,
        *,
        secrets: SecretResolver,
        guard: Guard,
        base_url: str,
        model: str,
        credential: str,
        dimensions: int,
        timeout: float,
        max_response_bytes: int,
    ) -> None:
        self._secrets = secrets
        self._guard = guard
        self._base_url = base_url
        self._model = model
        self._credential = credential
        self._dimensions = dimensions
        self._timeout = timeout
        self._max_response_bytes = max_response_bytes

    async def __call__(self, tenant_id: int, model_id: str | None = None) -> OpenAIEmbedder:
        """A new embedder holding the tenant's key, of `model_id`'s model and dimension when
        given (else the configured ones); the caller closes it."""
        model, dimensions = model_of(model_id) or (self._model, self._dimensions)
        api_key = await self._secrets.resolve(
            tenant_id=tenant_id,
            name=self._credential,
            consumer="embedder",
            destination=self._base_url,
            actor=Actor(tenant_id=tenant_id, user_id=None, key_id=None, label=SYSTEM_ACTOR),
        )
        return OpenAIEmbedder(
            base_url=self._base_url,
            model=model,
            dimensions=dimensions,
            api_key=api_key,
            guard=self._guard,
            timeout=self._timeout,
            max_response_bytes=self._max_response_bytes,
        )
