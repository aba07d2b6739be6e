"""Ingestion end to end on the embedded default with the real local model: uploads reach
`ready`, chunks land in the vector database with their tenant, source, collection and index,
dedup and replace behave, and a worker killed midway leaves no half-written state."""

import asyncio
import io
import signal
import subprocess
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import docx
import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy.engine import URL

from orchestrator_service.bootstrap import Runtime, boot, running_jobs
from orchestrator_service.config import Settings
from orchestrator_service.main import create_app
from tests.helpers import (
    ORCHESTRATOR,
    Caller,
    cli_env,
    eventually,
    free_port,
    new_tenant,
    sql,
    url_string,
)
from tests.rag.helpers import DOCS, finished, upload

SAMPLES = Path(__file__).parent / "samples"


@pytest.fixture
def rag_settings(settings: Settings, vectors_db: URL) -> Settings:
    """Settings with a vector database and a short job lease."""
    return settings.model_copy(
        update={
            "vector_database_url": SecretStr(url_string(vectors_db)),
            "job_lease_seconds": 30.0,
        }
    )


@pytest.fixture
async def rag(rag_settings: Settings) -> AsyncIterator[tuple[Runtime, httpx.AsyncClient, Caller]]:
    """A booted service with an ingestion worker, a client, and a tenant."""
    async with boot(rag_settings) as runtime, running_jobs(runtime):
        app = create_app(rag_settings, runtime=runtime)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://rag.test") as client:
            yield runtime, client, await new_tenant(runtime, f"rag-{uuid.uuid4().hex[:6]}")


def _pdf(text: str) -> bytes:
    """A one-page PDF with a real text layer."""
    content = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out, offsets = io.BytesIO(b"%PDF-1.4\n"), []
    out.seek(0, io.SEEK_END)
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % number + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for offset in offsets:
        out.write(b"%010d 00000 n \n" % offset)
    out.write(
        b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    )
    return out.getvalue()


def _docx(paragraphs: list[str]) -> bytes:
    document = docx.Document()
    for paragraph in paragraphs:
        document.add_paragraph(paragraph)
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


async def test_every_format_reaches_ready_with_its_chunks_in_the_vector_store(
    rag, vectors_db: URL
) -> None:
    runtime, client, tenant = rag
    uploads = {
        "manual.pdf": _pdf("The refund policy allows returns within thirty days"),
        "guide.docx": _docx(["Shipping takes five business days.", "We ship to Peru and Chile."]),
        "notes.txt": b"Our office opens at nine in the morning and closes at six.",
        "chat.txt": (SAMPLES / "android_24h_dayfirst.txt").read_bytes(),
    }
    ids = {}
    for name, data in uploads.items():
        collection = "ADN Personal" if name == "chat.txt" else "General"
        response = await upload(client, tenant, name, data, collection)
        assert response.status_code == 202, response.text
        ids[name] = response.json()["id"]

    kinds = {}
    for name, document_id in ids.items():
        document = await finished(client, tenant, document_id)
        assert document["status"] == "ready", document["error"]
        assert document["chunk_count"] >= 1
        assert document["chunks_done"] == document["chunk_count"]
        assert document["embedding_model"] == runtime.embedders.local.model_id
        kinds[name] = document["file_type"]
        rows = await sql(
            vectors_db,
            "SELECT tenant_id, source_id, collection, chunk_index, metadata->>'source_id' AS m "
            "FROM documents WHERE source_id = $1 ORDER BY chunk_index",
            document_id,
        )
        assert len(rows) == document["chunk_count"]
        assert [r["chunk_index"] for r in rows] == list(range(len(rows)))
        assert {(r["tenant_id"], r["collection"], r["m"]) for r in rows} == {
            (tenant.tenant_id, document["collection"], document_id)
        }
    assert kinds == {
        "manual.pdf": "pdf",
        "guide.docx": "docx",
        "notes.txt": "txt",
        "chat.txt": "whatsapp",
    }

    query = (await runtime.embedders.local.embed(["When does the office open?"]))[0]
    matches = await runtime.vector_store.search(tenant.tenant_id, query, 3)
    assert matches[0].metadata["source_id"] == ids["notes.txt"]


async def test_same_bytes_return_the_existing_document_and_replace_reingests(
    rag, vectors_db: URL
) -> None:
    runtime, client, tenant = rag
    data = b"Dedup me: the warehouse is in Lima, next to the port."
    first = await upload(client, tenant, "a.txt", data)
    document = await finished(client, tenant, first.json()["id"])
    generation = (
        await sql(
            runtime.databases.metadata,
            "SELECT generation FROM rag_documents WHERE id = $1",
            document["id"],
        )
    )[0]["generation"]

    assert document["status"] == "ready", document["error"]
    again = await upload(client, tenant, "renamed.txt", data)
    assert again.status_code == 200 and again.json()["id"] == document["id"]
    elsewhere = await upload(client, tenant, "a.txt", data, collection="Other")
    assert elsewhere.status_code == 202 and elsewhere.json()["id"] != document["id"]

    replaced = await upload(client, tenant, "a.txt", data, on_duplicate="replace")
    assert replaced.status_code == 200 and replaced.json()["status"] == "ready"
    rows = await eventually(
        lambda: sql(
            runtime.databases.metadata,
            "SELECT generation, attempts FROM rag_documents WHERE id = $1",
            document["id"],
        ),
        lambda rows: rows[0]["generation"] != generation,
        attempts=300,
        interval=0.2,
    )
    new_generation = rows[0]["generation"]
    # A replace is a new request: its attempts count from zero (ORCH_INGEST_MAX_ATTEMPTS).
    assert new_generation != generation and rows[0]["attempts"] == 1
    generations = await sql(
        vectors_db, "SELECT DISTINCT generation FROM documents WHERE source_id = $1", document["id"]
    )
    assert [g["generation"] for g in generations] == [new_generation]


async def test_unusable_files_fail_with_a_reason_and_leave_no_vectors(rag, vectors_db) -> None:
    _, client, tenant = rag
    cases = {
        "empty.txt": b"   \n ",
        "picture.txt": b"\x89PNG\r\n\x1a\n" + b"\x00" * 64,
        "broken.pdf": b"%PDF-1.4\n%garbage that is not a pdf",
    }
    for name, data in cases.items():
        document = await finished(
            client, tenant, (await upload(client, tenant, name, data)).json()["id"]
        )
        assert document["status"] == "failed"
        assert document["error"]
        rows = await sql(
            vectors_db, "SELECT count(*) AS n FROM documents WHERE source_id = $1", document["id"]
        )
        assert rows[0]["n"] == 0


async def test_uploads_over_the_limit_are_413(rag_settings: Settings) -> None:
    small = rag_settings.model_copy(update={"max_upload_bytes": 1000})
    async with boot(small) as runtime:
        tenant = await new_tenant(runtime, "limits")
        app = create_app(small, runtime=runtime)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://rag.test"
        ) as client:
            response = await upload(client, tenant, "big.txt", b"x" * 5000)
    assert response.status_code == 413
    assert response.json()["error"]["code"] in ("upload_too_large", "body_too_large")


async def test_a_worker_killed_midway_is_replaced_and_leaves_one_clean_copy(
    rag_settings: Settings, fresh_db: URL, vectors_db: URL, tmp_path: Path
) -> None:
    rag_settings = rag_settings.model_copy(update={"job_lease_seconds": 3.0})
    # 150 chunks, three embedding batches of 64: the worker is still at it after the first.
    long_text = "\n\n".join(
        f"Section {i}. " + " ".join(f"word{i}_{j} is described in detail here." for j in range(40))
        for i in range(75)
    ).encode()
    async with boot(rag_settings) as runtime:
        tenant = await new_tenant(runtime, "kill")
        app = create_app(rag_settings, runtime=runtime)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://rag.test"
        ) as client:
            document_id = (await upload(client, tenant, "long.txt", long_text)).json()["id"]

            port = free_port()
            env = cli_env(
                tmp_path,
                ORCH_DATABASE_URL=url_string(fresh_db),
                ORCH_VECTOR_DATABASE_URL=url_string(vectors_db),
                ORCH_JOB_LEASE_SECONDS="3",
            )
            env["ORCH_DATA_DIR"] = str(rag_settings.data_dir)
            worker = subprocess.Popen(
                [ORCHESTRATOR, "serve", "--port", str(port)],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )

            async def progress() -> dict:
                return (await client.get(f"{DOCS}/{document_id}", headers=tenant.headers)).json()

            try:
                body = await eventually(
                    progress, lambda body: body["chunks_done"] > 0, attempts=1200
                )
                assert body["status"] == "processing" and body["chunks_done"] > 0, body
            finally:
                worker.send_signal(signal.SIGKILL)
                worker.wait()
            half = await sql(
                vectors_db, "SELECT count(*) AS n FROM documents WHERE source_id = $1", document_id
            )
            assert half[0]["n"] > 0  # the killed attempt left partial vectors behind

            async with running_jobs(runtime):
                document = await finished(client, tenant, document_id, attempts=900)

    assert document["status"] == "ready"
    rows = await sql(
        vectors_db,
        "SELECT generation, count(*) AS n FROM documents WHERE source_id = $1 GROUP BY generation",
        document_id,
    )
    assert len(rows) == 1 and rows[0]["n"] == document["chunk_count"]
    attempts = await sql(fresh_db, "SELECT attempts FROM rag_documents WHERE id = $1", document_id)
    assert attempts[0]["attempts"] == 2


async def test_rag_ingest_loads_a_folder_with_progress(
    rag_settings: Settings, fresh_db: URL, vectors_db: URL, tmp_path: Path
) -> None:
    folder = tmp_path / "docs"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.txt").write_text("Bulk loaded notes about the Callao port.")
    (folder / "sub" / "b.md").write_text("# Heading\n\nMore **bulk** notes about Lima.")
    (folder / "empty.txt").write_text("  ")
    env = cli_env(
        tmp_path,
        ORCH_DATABASE_URL=url_string(fresh_db),
        ORCH_VECTOR_DATABASE_URL=url_string(vectors_db),
    )
    env["ORCH_DATA_DIR"] = str(rag_settings.data_dir)
    # The tenant, as `orchestrator tenant create` makes it (that command has tests of its own).
    async with boot(rag_settings) as runtime:
        await new_tenant(runtime, "bulk")

    result = await asyncio.to_thread(
        subprocess.run,
        [ORCHESTRATOR, "rag", "ingest", str(folder), "--tenant", "bulk", "--collection", "Docs"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert result.returncode == 1  # one file could not be ingested, and the command says so
    assert "3/3" in result.stderr and "2 ready, 1 failed" in result.stderr
    assert "empty.txt" in result.stderr
    rows = await sql(
        fresh_db,
        "SELECT status, count(*) AS n FROM rag_documents WHERE collection = 'Docs' GROUP BY status",
    )
    assert {r["status"]: r["n"] for r in rows} == {"ready": 2, "failed": 1}


async def test_an_ingestion_lost_with_its_process_too_often_fails_naming_the_limit(
    rag_settings: Settings, fresh_db: URL
) -> None:
    async with boot(rag_settings) as runtime:
        tenant = await new_tenant(runtime, "attempts")
        app = create_app(rag_settings, runtime=runtime)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://rag.test"
        ) as client:
            document_id = (await upload(client, tenant, "a.txt", b"Hola.")).json()["id"]
            # As three workers leave it: each took the job, counted an attempt, and died.
            await sql(
                fresh_db,
                "UPDATE rag_documents SET status = 'processing', attempts = 3 WHERE id = $1",
                document_id,
            )
            async with running_jobs(runtime):
                document = await finished(client, tenant, document_id)

    assert document["status"] == "failed"
    assert "(limit ORCH_INGEST_MAX_ATTEMPTS)" in document["error"]
    rows = await sql(fresh_db, "SELECT attempts FROM rag_documents WHERE id = $1", document_id)
    assert rows[0]["attempts"] == 3
