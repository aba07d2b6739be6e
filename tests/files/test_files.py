"""Attachments: stored with a sniffed type, size limit and hash; read back only through a
conversation the caller can read; refused when too large, empty or aimed at another tenant's
conversation or message; deleted with their bytes; sent to RAG ingestion, followed by a task."""

import hashlib
import uuid

import httpx
from sqlalchemy import select

from orchestrator_service.bootstrap import Runtime, running_jobs
from orchestrator_service.files.models import File
from orchestrator_service.storage import ObjectMissing
from tests.files.conftest import LIMIT
from tests.helpers import Caller, error_of, eventually

API = "/api/v1"
PDF = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\ntrailer\n<<>>\n%%EOF\n"
NOTE = "La reunión con Rosa es el martes; el presupuesto es de 120 soles.\n".encode()


async def conversation(client: httpx.AsyncClient, caller: Caller) -> str:
    """A new conversation of the caller's tenant."""
    response = await client.post(f"{API}/conversations", headers=caller.headers, json={})
    assert response.status_code == 201, response.text
    return response.json()["id"]


async def attach(
    client: httpx.AsyncClient,
    caller: Caller,
    conversation_id: str,
    content: bytes,
    name: str = "invoice.txt",
    **form: str,
) -> httpx.Response:
    """POST a file to a conversation."""
    return await client.post(
        f"{API}/files",
        headers=caller.headers,
        files={"file": (name, content, "text/plain")},
        data={"conversation_id": conversation_id, **form},
    )


async def test_a_file_is_stored_sniffed_hashed_and_read_back_by_its_tenant_only(
    client: httpx.AsyncClient, runtime: Runtime, tenant_a: Caller, tenant_b: Caller
) -> None:
    conversation_id = await conversation(client, tenant_a)

    response = await attach(client, tenant_a, conversation_id, PDF, name="../../etc/passwd.txt")

    assert response.status_code == 201, response.text
    attached = response.json()
    assert attached["mime_type"] == "application/pdf"  # its bytes, not its name or header
    assert attached["file_hash"] == hashlib.sha256(PDF).hexdigest()
    assert attached["file_size"] == len(PDF)
    assert attached["original_filename"] == "passwd.txt"
    content = await client.get(f"{API}/files/{attached['id']}/content", headers=tenant_a.headers)
    assert content.status_code == 200 and content.content == PDF
    assert content.headers["content-type"] == "application/pdf"
    assert content.headers["content-disposition"].startswith("attachment")
    assert content.headers["x-content-type-options"] == "nosniff"
    listed = await client.get(
        f"{API}/conversations/{conversation_id}/files", headers=tenant_a.headers
    )
    assert [f["id"] for f in listed.json()] == [attached["id"]]
    async with runtime.sessionmaker() as session:
        row = await session.scalar(select(File).where(File.id == uuid.UUID(attached["id"])))
    assert row is not None and row.filename == f"files/{tenant_a.tenant_id}/{attached['id']}"

    # Another tenant: every path is a 404, as for an id that does not exist.
    for path in (f"/files/{attached['id']}", f"/files/{attached['id']}/content"):
        error_of(await client.get(f"{API}{path}", headers=tenant_b.headers), 404, "not_found")
    error_of(
        await client.get(f"{API}/conversations/{conversation_id}/files", headers=tenant_b.headers),
        404,
    )
    error_of(await attach(client, tenant_b, conversation_id, NOTE), 404, "not_found")
    error_of(await client.delete(f"{API}/files/{attached['id']}", headers=tenant_b.headers), 404)
    error_of(
        await client.post(
            f"{API}/files/{attached['id']}/ingest", headers=tenant_b.headers, json={}
        ),
        404,
    )


async def test_too_large_empty_and_misdirected_files_are_refused_and_nothing_is_kept(
    client: httpx.AsyncClient, runtime: Runtime, tenant_a: Caller, tenant_b: Caller
) -> None:
    conversation_id = await conversation(client, tenant_a)
    other = await conversation(client, tenant_b)
    message = await client.post(
        f"{API}/conversations/{other}/messages",
        headers=tenant_b.headers,
        json={"role": "user", "content": "hola"},
    )
    assert message.status_code == 201, message.text

    error_of(await attach(client, tenant_a, conversation_id, b"x" * (LIMIT + 1)), 413)
    error_of(await attach(client, tenant_a, conversation_id, b"x" * (4 * LIMIT)), 413)
    error_of(await attach(client, tenant_a, conversation_id, b""), 422)
    error_of(
        await attach(client, tenant_a, conversation_id, NOTE, message_id=message.json()["id"]),
        404,
    )
    error_of(await attach(client, tenant_a, str(uuid.uuid4()), NOTE), 404)
    error_of(await attach(client, tenant_a, "not-a-uuid", NOTE), 422)

    async with runtime.sessionmaker() as session:
        assert (await session.scalars(select(File))).all() == []
    stored = [info async for page in runtime.files.pages(page_size=100) for info in page]
    assert stored == []


async def test_a_deleted_file_takes_its_bytes_with_it(
    client: httpx.AsyncClient, runtime: Runtime, tenant_a: Caller
) -> None:
    conversation_id = await conversation(client, tenant_a)
    attached = (await attach(client, tenant_a, conversation_id, NOTE)).json()
    assert attached["mime_type"] == "text/plain"

    response = await client.delete(f"{API}/files/{attached['id']}", headers=tenant_a.headers)

    assert response.status_code == 204
    error_of(await client.get(f"{API}/files/{attached['id']}", headers=tenant_a.headers), 404)
    try:
        await runtime.files.open(f"files/{tenant_a.tenant_id}/{attached['id']}")
    except ObjectMissing:
        pass
    else:
        raise AssertionError("the file's bytes are still stored")


async def test_a_file_sent_to_ingestion_becomes_a_searchable_document_followed_by_a_task(
    client: httpx.AsyncClient, runtime: Runtime, tenant_a: Caller
) -> None:
    conversation_id = await conversation(client, tenant_a)
    attached = (await attach(client, tenant_a, conversation_id, NOTE, name="notas.txt")).json()

    response = await client.post(
        f"{API}/files/{attached['id']}/ingest",
        headers=tenant_a.headers,
        json={"collection": "Reuniones"},
    )

    assert response.status_code == 202, response.text
    sent = response.json()
    assert sent["file"]["document_id"] == sent["document"]["id"]
    assert sent["document"]["collection"] == "Reuniones"
    task_path = f"{API}/tasks/{sent['task_id']}"
    queued = (await client.get(task_path, headers=tenant_a.headers)).json()
    assert queued["kind"] == "ingestion" and queued["status"] == "pending"
    assert queued["title"] == "Ingest notas.txt"

    async with running_jobs(runtime):
        task = await eventually(
            lambda: client.get(task_path, headers=tenant_a.headers),
            lambda r: r.json()["status"] in ("completed", "failed"),
            attempts=200,
        )

    assert task.json()["status"] == "completed", task.json()
    assert task.json()["progress_percentage"] == 100
    found = await client.post(
        f"{API}/rag/search",
        headers=tenant_a.headers,
        json={"query": "presupuesto de la reunión con Rosa", "collections": ["Reuniones"]},
    )
    assert found.status_code == 200, found.text
    assert any("120 soles" in r["content"] for r in found.json()["items"])
