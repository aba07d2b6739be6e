"""Any OpenAI-compatible `/v1/embeddings` endpoint (OpenAI, Azure, Ollama, vLLM), with the
tenant's API key from the vault."""

import httpx

from orchestrator_service.errors import OrchestratorError

# Chunks are cut to the local model's 256-token window whatever the embedder; this bounds
# what one request may carry.
_BATCH = 128


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
        timeout: float = 60.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.dimensions = dimensions
        self.model_id = f"openai:{model}:{dimensions}"
        self._client = httpx.AsyncClient(
            timeout=timeout,
            headers={"Authorization": f"Bearer {api_key}"},
            transport=transport,
        )

    async def embed(self, texts: list[str]) -> list[list[float]]:
        """One vector per text, in order, checked to have the configured dimension."""
        vectors: list[list[float]] = []
        for start in range(0, len(texts), _BATCH):
            batch = texts[start : start + _BATCH]
            body = {"model": self.model, "input": batch, "dimensions": self.dimensions}
            try:
                response = await self._client.post(f"{self.base_url}/embeddings", json=body)
            except httpx.HTTPError as exc:
                raise EmbeddingFailed(f"The embedding service is unreachable: {exc}") from None
            if response.status_code != 200:
                raise EmbeddingFailed(
                    f"The embedding service answered {response.status_code}",
                    details={"status": response.status_code},
                )
            try:
                data = sorted(response.json()["data"], key=lambda item: item["index"])
                batch_vectors = [item["embedding"] for item in data]
            except (ValueError, KeyError, TypeError):
                raise EmbeddingFailed("The embedding service sent an unexpected answer") from None
            if len(batch_vectors) != len(batch) or any(
                len(v) != self.dimensions for v in batch_vectors
            ):
                raise EmbeddingFailed(
                    f"The embedding service returned vectors that are not {self.dimensions}-"
                    "dimensional (or not one per text); check the model and dimensions settings"
                )
            vectors.extend(batch_vectors)
        return vectors

    async def close(self) -> None:
        """Close the HTTP client."""
        await self._client.aclose()
