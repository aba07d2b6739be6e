"""Helpers of the RAG tests: uploads through the API, waiting for an ingestion to finish, a
Word document of any size, and a vector store in a PostgreSQL cluster of its own that a test
can stop and start."""

import io
import json
import threading
import uuid
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
from pgserver._commands import pg_ctl

from orchestrator_service.db.embedded import EmbeddedPostgres
from tests.helpers import Caller, eventually, new_tenant

DOCS = "/api/v1/rag/documents"


async def upload(
    client: httpx.AsyncClient,
    caller: Caller,
    name: str,
    data: bytes,
    collection: str = "General",
    **query: str,
) -> httpx.Response:
    """Upload one document through the API."""
    return await client.post(
        DOCS,
        headers=caller.headers,
        files={"file": (name, data)},
        data={"collection": collection},
        params=query,
    )


async def finished(
    client: httpx.AsyncClient, caller: Caller, document_id: str, attempts: int = 600
) -> dict:
    """The document once its ingestion is over (`ready` or `failed`), polled 0.2 s apart."""

    async def fetch() -> dict:
        return (await client.get(f"{DOCS}/{document_id}", headers=caller.headers)).json()

    return await eventually(
        fetch, lambda body: body["status"] in ("ready", "failed"), attempts=attempts, interval=0.2
    )


async def configured_tenant(runtime, client: httpx.AsyncClient, admin: Caller, **body) -> Caller:
    """A new tenant, its settings (`language`, `embedder`...) set by a platform admin."""
    caller = await new_tenant(runtime, f"rag-{uuid.uuid4().hex[:6]}")
    if body:
        response = await client.patch(
            f"/api/v1/tenants/{caller.tenant_id}", headers=admin.headers, json=body
        )
        assert response.status_code == 200, response.text
        assert {k: response.json()[k] for k in body} == body
    return caller


async def ingested(client: httpx.AsyncClient, caller: Caller, name: str, text: str, **kw) -> dict:
    """Upload a text document and wait until it is ready; its JSON."""
    response = await upload(client, caller, name, text.encode(), **kw)
    assert response.status_code in (200, 201, 202), response.text
    document = await finished(client, caller, response.json()["id"])
    assert document["status"] == "ready", document
    return document


def huge_docx(paragraphs: int) -> bytes:
    """A valid .docx whose document.xml holds `paragraphs` one-word paragraphs."""
    namespace = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
    body = "<w:p><w:r><w:t>x</w:t></w:r></w:p>" * paragraphs
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(
            "[Content_Types].xml",
            '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/'
            'content-types"><Default Extension="rels" ContentType="application/vnd.'
            'openxmlformats-package.relationships+xml"/><Override PartName="/word/document.xml"'
            ' ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.'
            'document.main+xml"/></Types>',
        )
        archive.writestr(
            "_rels/.rels",
            '<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/'
            'package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.'
            'openxmlformats.org/officeDocument/2006/relationships/officeDocument" '
            'Target="word/document.xml"/></Relationships>',
        )
        archive.writestr(
            "word/document.xml",
            f'<?xml version="1.0"?><w:document xmlns:w="{namespace}"><w:body>{body}'
            "</w:body></w:document>",
        )
    return buffer.getvalue()


class VectorCluster:
    """A PostgreSQL cluster of its own for the vector store, which a test can stop and start
    (a real fault, not a mock)."""

    def __init__(self, data_dir: Path) -> None:
        self.embedded = EmbeddedPostgres(data_dir)
        self.base = self.embedded.start()
        server = self.embedded._server
        self._user = server.system_user
        self._socket_dir = str(server.get_postmaster_info().socket_dir)

    def stop(self) -> None:
        """Stop the cluster now (fast shutdown: open connections are cut)."""
        pg_ctl(["-w", "-m", "fast", "stop"], pgdata=self.embedded.pgdata, user=self._user)

    def start(self) -> None:
        """Start it again on the same socket."""
        pg_ctl(
            [
                "-w",
                "-o",
                '-h ""',
                "-o",
                f"-k {self._socket_dir}",
                "-l",
                str(self.embedded.pgdata / "log"),
                "start",
            ],
            pgdata=self.embedded.pgdata,
            user=self._user,
        )


def answer_embeddings(
    handler: BaseHTTPRequestHandler, body: dict, vector_of: Callable[[str], list[float]]
) -> None:
    """Answer an OpenAI-compatible /v1/embeddings request: `vector_of(text)` for each input."""
    data = [
        {"index": i, "embedding": vector_of(text), "object": "embedding"}
        for i, text in enumerate(body["input"])
    ]
    payload = json.dumps({"data": data, "model": body["model"]}).encode()
    handler.send_response(200)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(payload)))
    handler.end_headers()
    handler.wfile.write(payload)


@contextmanager
def embeddings_standin(
    vector_of: Callable[[str], list[float]],
) -> Iterator[tuple[str, list[dict]]]:
    """An OpenAI-compatible /v1/embeddings on loopback answering `vector_of(text)` for each
    input; yields its base URL and the requests it got ({"auth": header, "body": JSON})."""
    seen: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            seen.append({"auth": self.headers.get("Authorization"), "body": body})
            answer_embeddings(self, body, vector_of)

        def log_message(self, *args: object) -> None:
            """Silence the default request log."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1", seen
    finally:
        server.shutdown()
        server.server_close()
