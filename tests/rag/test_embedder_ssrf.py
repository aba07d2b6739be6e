"""The OpenAI-compatible embedder goes through the SSRF guard like every outbound call: an
embedding endpoint at a private, loopback, link-local or metadata address (or a name resolving
to one) is refused before any connection opens (the network fence sees none), and neither the
refusal, nor the log, nor the failed document holds the tenant's API key. Loopback works only
when allow-listed, as the tests' stand-ins are. Names resolve through the fake DNS."""

import logging

import pytest
from pydantic import SecretStr
from sqlalchemy.engine import URL

from orchestrator_service.config import Settings
from orchestrator_service.rag.embedders.openai import OpenAIEmbedder
from orchestrator_service.tools.ssrf import BlockedDestination, Guard
from tests import network as fence
from tests.helpers import Caller, url_string
from tests.network import NetworkSpy
from tests.rag.helpers import DOCS, upload
from tests.scripted_model import ScriptedModel
from tests.tools.helpers import fake_resolver, install_guard

network = fence.network  # the autouse fence (loopback only), as this module's fixture
KEY = "sk-embeddings-Okapi-7f3a9c1d5e"
METADATA = "http://169.254.169.254/latest/v1"

BLOCKED = {
    "metadata": (METADATA, "169.254.169.254"),
    "private_10": ("http://10.0.0.7:11434/v1", "10.0.0.7"),
    "private_192": ("https://192.168.1.20/v1", "192.168.1.20"),
    "loopback": ("http://127.0.0.1:{port}/v1", "127.0.0.1"),
    "loopback_v6": ("http://[::1]:{port}/v1", "::1"),
    "localhost": ("http://localhost:{port}/v1", "localhost"),
    "mapped_metadata": ("http://[::ffff:169.254.169.254]/v1", "::ffff:169.254.169.254"),
    "aws_v6_metadata": ("http://[fd00:ec2::254]/v1", "fd00:ec2::254"),
    "name_to_10": ("https://internal.corp.test/v1", "internal.corp.test"),
}


def _embedder(base_url: str, guard: Guard) -> OpenAIEmbedder:
    return OpenAIEmbedder(
        base_url=base_url,
        model="text-embedding-3-small",
        dimensions=4,
        api_key=KEY,
        guard=guard,
    )


@pytest.mark.parametrize(("url", "host"), list(BLOCKED.values()), ids=list(BLOCKED))
async def test_a_private_embedding_endpoint_is_refused_before_connecting(
    url: str, host: str, model: ScriptedModel, network: NetworkSpy, caplog
) -> None:
    caplog.set_level(logging.DEBUG)
    port = int(model.base_url.rsplit(":", 1)[1].split("/")[0])
    embedder = _embedder(url.format(port=port), Guard(resolver=fake_resolver))

    with pytest.raises(BlockedDestination) as refused:
        await embedder.embed(["hola"])
    await embedder.aclose()

    assert refused.value.message == "Destination not allowed"
    assert refused.value.details == {"host": host}
    assert network.connections == []
    assert model.requests == []
    assert KEY not in caplog.text and "10.1.2.3" not in refused.value.message


@pytest.fixture
def settings(settings: Settings, vectors_db: URL) -> Settings:
    """A service whose `openai` embedder is configured at the metadata address."""
    return settings.model_copy(
        update={
            "vector_database_url": SecretStr(url_string(vectors_db)),
            "embedder": "openai",
            "openai_embedding_base_url": METADATA,
        }
    )


async def test_an_ingestion_through_a_metadata_address_fails_without_connecting(
    client, runtime, tenant_a: Caller, network: NetworkSpy, caplog
) -> None:
    caplog.set_level(logging.DEBUG)
    install_guard(runtime)  # nothing allow-listed: the default
    # Even a credential whose admin approved the host does not get past the guard.
    stored = await client.post(
        "/api/v1/credentials",
        headers=tenant_a.headers,
        json={
            "name": "OPENAI_API_KEY",
            "value": KEY,
            "category": "openai",
            "allowed_hosts": ["169.254.169.254"],
        },
    )
    assert stored.status_code == 201, stored.text
    uploaded = await upload(client, tenant_a, "faq.txt", b"Las devoluciones son gratis.")
    assert uploaded.status_code == 202, uploaded.text

    await runtime.ingestor.ingest(uploaded.json()["id"])
    document = await client.get(f"{DOCS}/{uploaded.json()['id']}", headers=tenant_a.headers)

    assert document.json()["status"] == "failed"
    assert document.json()["error"] == "Ingestion failed: Destination not allowed"
    assert network.connections == []
    assert KEY not in document.text and KEY not in caplog.text
