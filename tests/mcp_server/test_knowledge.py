"""Knowledge over MCP, with a vector database and an ingestion worker: `search_knowledge`
finds the tenant's chunk, ready documents are resources the client reads, and another tenant
finds and reads none of them."""

from collections.abc import AsyncIterator

import httpx
import pytest
from mcp.shared.exceptions import McpError
from pydantic import AnyUrl, SecretStr
from sqlalchemy.engine import URL

from orchestrator_service.bootstrap import boot, running_jobs
from orchestrator_service.config import Settings
from orchestrator_service.main import create_app
from tests.helpers import new_tenant, served_over_http, url_string
from tests.mcp_server.helpers import mcp_session
from tests.rag.helpers import finished, upload

OFFICE = "The office opens at nine in the morning."


@pytest.fixture
async def served(settings: Settings, vectors_db: URL) -> AsyncIterator[tuple]:
    """A service with a vector database and a worker, over HTTP; two tenants; A's document."""
    configured = settings.model_copy(
        update={"vector_database_url": SecretStr(url_string(vectors_db))}
    )
    async with boot(configured) as runtime, running_jobs(runtime):
        app = create_app(configured, runtime=runtime)
        async with served_over_http(app) as url, httpx.AsyncClient(base_url=url) as client:
            a = await new_tenant(runtime, "mcp-a")
            b = await new_tenant(runtime, "mcp-b")
            uploaded = await upload(client, a, "office.txt", OFFICE.encode())
            document = await finished(client, a, uploaded.json()["id"])
            assert document["status"] == "ready", document
            yield url, a, b, document


async def test_search_and_resources_are_the_tenants_own(served) -> None:
    url, a, b, document = served
    uri = f"orchestrator://documents/{document['id']}"

    async with mcp_session(f"{url}/mcp", a.api_key) as session:
        found = await session.call_tool("search_knowledge", {"query": "When does the office open?"})
        resources = await session.list_resources()
        read = await session.read_resource(AnyUrl(uri))
        bad = await session.call_tool("search_knowledge", {"query": ""})

    assert not found.isError
    [hit] = found.structuredContent["results"]
    assert (hit["document_id"], hit["filename"]) == (document["id"], "office.txt")
    assert hit["content"] == OFFICE
    assert [(str(r.uri), r.name) for r in resources.resources] == [(uri, "office.txt")]
    assert read.contents[0].text == OFFICE
    assert bad.isError and "query" in bad.content[0].text

    async with mcp_session(f"{url}/mcp", b.api_key) as session:
        found_b = await session.call_tool(
            "search_knowledge", {"query": "When does the office open?"}
        )
        resources_b = await session.list_resources()
        with pytest.raises(McpError, match="No such resource"):
            await session.read_resource(AnyUrl(uri))

    assert found_b.structuredContent == {"results": []}
    assert resources_b.resources == []
