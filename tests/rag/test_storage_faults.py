"""Uploaded files on S3-compatible object storage (moto's server on loopback, stopped and
started for real): an upload, an ingestion and a delete while storage is unreachable, the hash
the worker checks before parsing, keys that never come from a client, and the reconciler
listing a bucket page by page."""

import hashlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy.engine import URL

from orchestrator_service.bootstrap import Runtime, boot, running_jobs
from orchestrator_service.config import Settings
from orchestrator_service.main import create_app
from orchestrator_service.rag.ingest import IngestionDeferred
from orchestrator_service.rag.reconcile import Reconciler
from orchestrator_service.rag.storage import document_key
from tests.helpers import Caller, error_of, eventually, new_tenant, sql, url_string
from tests.rag.helpers import DOCS, finished, upload
from tests.s3_server import SECRET_KEY, S3StandIn

TEXT = "La bodega de Lima despacha los pedidos a la costa cada martes."


@asynccontextmanager
async def _on_s3(
    settings: Settings, vectors: URL, s3: S3StandIn, **extra: object
) -> AsyncIterator[tuple[Runtime, httpx.AsyncClient, Caller]]:
    configured = settings.model_copy(
        update={**s3.settings(), "vector_database_url": SecretStr(url_string(vectors)), **extra}
    )
    async with boot(configured) as runtime:
        app = create_app(configured, runtime=runtime)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://storage.test") as client:
            yield runtime, client, await new_tenant(runtime, "storage")


@pytest.fixture
async def on_s3(settings: Settings, vectors_db: URL, s3: S3StandIn) -> AsyncIterator[tuple]:
    """A service storing files on the S3 stand-in (no job worker: tests run ingestions)."""
    async with _on_s3(settings, vectors_db, s3) as service:
        yield service


async def _objects(runtime: Runtime) -> list[str]:
    return sorted([i.key async for page in runtime.files.pages(page_size=100) for i in page])


async def _document(runtime: Runtime, document_id: str) -> dict:
    rows = await sql(
        runtime.databases.metadata,
        "SELECT status, attempts, error FROM rag_documents WHERE id = $1",
        document_id,
    )
    return dict(rows[0]) if rows else {}


async def test_an_upload_with_storage_unreachable_is_503_and_keeps_nothing(
    on_s3: tuple, s3: S3StandIn
) -> None:
    runtime, client, caller = on_s3
    s3.stop()

    response = await upload(client, caller, "notas.txt", TEXT.encode())

    error = error_of(response, 503, "storage_unavailable")
    assert error["message"] == (
        f"Object storage is unreachable (127.0.0.1:{s3.port}); try again later"
    )
    assert SECRET_KEY not in response.text
    metadata = runtime.databases.metadata
    assert (await sql(metadata, "SELECT count(*) AS n FROM rag_documents"))[0]["n"] == 0
    assert (await sql(metadata, "SELECT count(*) AS n FROM pgqueuer"))[0]["n"] == 0
    s3.start()
    assert await _objects(runtime) == []
    # Nothing was half-written: the same file uploads afresh once storage is back.
    assert (await upload(client, caller, "notas.txt", TEXT.encode())).status_code == 202


async def test_the_key_comes_from_tenant_and_document_never_the_file_name(
    on_s3: tuple,
) -> None:
    runtime, client, caller = on_s3

    response = await upload(client, caller, "../../otro-tenant/1/secreto.txt", TEXT.encode())

    document = response.json()
    key = f"{caller.tenant_id}/{document['id']}"
    assert await _objects(runtime) == [key]
    stored = await runtime.files.open(key)
    assert stored.sha256 == hashlib.sha256(TEXT.encode()).hexdigest() == document["content_hash"]
    assert b"".join([c async for c in stored.chunks]) == TEXT.encode()
    assert document["filename"] == "secreto.txt"


async def test_an_ingestion_with_storage_unreachable_backs_off_then_fails_at_the_limit(
    on_s3: tuple, s3: S3StandIn
) -> None:
    runtime, client, caller = on_s3
    document_id = (await upload(client, caller, "notas.txt", TEXT.encode())).json()["id"]
    s3.stop()

    delays = []
    for attempt in (1, 2):  # ORCH_INGEST_MAX_ATTEMPTS is 3
        with pytest.raises(IngestionDeferred) as deferred:
            await runtime.ingestor.ingest(document_id)
        delays.append(deferred.value.delay)
        state = await _document(runtime, document_id)
        assert state["status"] == "queued" and state["attempts"] == attempt
        assert state["error"].startswith("Waiting to retry: Object storage is unreachable")
    await runtime.ingestor.ingest(document_id)

    assert 1.0 <= delays[0] <= 2.0 <= delays[1] <= 4.0  # doubling, jittered down by <= half
    state = await _document(runtime, document_id)
    assert state["status"] == "failed" and state["attempts"] == 3
    assert "Object storage is unreachable" in state["error"]
    assert "ORCH_INGEST_MAX_ATTEMPTS" in state["error"]


async def test_a_deferred_ingestion_job_is_retried_and_finishes_once_storage_is_back(
    settings: Settings, vectors_db: URL, s3: S3StandIn
) -> None:
    async with _on_s3(settings, vectors_db, s3, ingest_max_attempts=6) as service:
        runtime, client, caller = service
        document_id = (await upload(client, caller, "notas.txt", TEXT.encode())).json()["id"]
        s3.stop()
        async with running_jobs(runtime):
            waiting = await eventually(
                lambda: _document(runtime, document_id),
                lambda d: (d["error"] or "").startswith("Waiting to retry"),
            )
            s3.start()
            done = await finished(client, caller, document_id)

    assert waiting["status"] == "queued"
    assert done["status"] == "ready" and done["error"] is None and done["chunk_count"] >= 1


async def test_the_worker_refuses_a_stored_file_that_does_not_match_its_hash(
    on_s3: tuple,
) -> None:
    runtime, client, caller = on_s3
    documents = [
        (await upload(client, caller, f"{n}.txt", f"{TEXT} {n}".encode())).json() for n in (1, 2)
    ]

    async def tampered() -> AsyncIterator[bytes]:
        yield b"Texto cambiado en el almacenamiento."

    # Swapped bytes carrying the original hash: only the worker's own check can see it.
    first = documents[0]
    await runtime.files.put(
        document_key(caller.tenant_id, first["id"]), tampered(), sha256=first["content_hash"]
    )
    # Swapped bytes carrying their own hash: refused before the worker is even asked.
    second = documents[1]
    swapped = hashlib.sha256(b"Texto cambiado en el almacenamiento.").hexdigest()
    await runtime.files.put(
        document_key(caller.tenant_id, second["id"]), tampered(), sha256=swapped
    )

    for document in documents:
        await runtime.ingestor.ingest(document["id"])
        state = (await client.get(f"{DOCS}/{document['id']}", headers=caller.headers)).json()
        assert state["status"] == "failed"
        assert "does not match the content hash recorded at upload" in state["error"]
    vectors = runtime.databases.vectors
    assert vectors is not None
    assert (await sql(vectors, "SELECT count(*) AS n FROM documents"))[0]["n"] == 0


async def test_s3_stopped_in_the_middle_of_a_delete_leaves_no_orphan_after_the_reconciler(
    on_s3: tuple, s3: S3StandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime, client, caller = on_s3
    document_id = (await upload(client, caller, "notas.txt", TEXT.encode())).json()["id"]
    await runtime.ingestor.ingest(document_id)
    key = f"{caller.tenant_id}/{document_id}"
    store = runtime.vector_store
    assert store is not None
    delete_vectors = store.delete_source

    async def storage_goes_away_then_delete_vectors(*args: object, **kwargs: object) -> None:
        s3.stop()  # after the document was marked deleting, before its file is deleted
        await delete_vectors(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(store, "delete_source", storage_goes_away_then_delete_vectors)
    response = await client.delete(f"{DOCS}/{document_id}", headers=caller.headers)
    monkeypatch.undo()

    assert response.status_code == 204  # hidden at once: the file is best effort
    assert (await client.get(f"{DOCS}/{document_id}", headers=caller.headers)).status_code == 404
    vectors = runtime.databases.vectors
    assert vectors is not None
    assert (await sql(vectors, "SELECT count(*) AS n FROM documents"))[0]["n"] == 0
    s3.start()
    assert await _objects(runtime) == [key]  # an object without metadata, left behind

    reconciler = Reconciler(
        sessionmaker=runtime.sessionmaker,
        vector_store=store,
        files=runtime.files,
        deleter=runtime.deleter,
        lease_seconds=60,
        tenant_index_min_chunks=runtime.settings.tenant_index_min_chunks,
        file_grace_seconds=0,
    )
    report = await reconciler.reconcile()

    assert report.orphan_files == [key] and report.counts()["orphan_files"] == 1
    assert await _objects(runtime) == []
    assert (await reconciler.reconcile()).counts()["orphan_files"] == 0


async def test_the_reconciler_lists_the_bucket_page_by_page_and_keeps_what_has_metadata(
    on_s3: tuple,
) -> None:
    runtime, client, caller = on_s3
    uploaded = [
        (await upload(client, caller, f"{n}.txt", f"{TEXT} {n}".encode())).json() for n in range(3)
    ]
    kept = [f"{caller.tenant_id}/{document['id']}" for document in uploaded]

    async def one(data: bytes) -> AsyncIterator[bytes]:
        yield data

    orphans = [f"{caller.tenant_id}/orphan-{n}" for n in range(5)]
    # A document's id under another tenant's prefix is not that document's file.
    orphans.append(f"{caller.tenant_id + 1000}/{kept[0].split('/')[1]}")
    for key in orphans:
        await runtime.files.put(key, one(b"x"), sha256=hashlib.sha256(b"x").hexdigest())
    pages: list[int] = []
    listing = runtime.files.pages

    def recorded(*, page_size: int) -> AsyncIterator:
        async def walk() -> AsyncIterator:
            async for page in listing(page_size=page_size):
                pages.append(len(page))
                yield page

        return walk()

    reconciler = Reconciler(
        sessionmaker=runtime.sessionmaker,
        vector_store=runtime.vector_store,
        files=runtime.files,
        deleter=runtime.deleter,
        lease_seconds=60,
        tenant_index_min_chunks=runtime.settings.tenant_index_min_chunks,
        file_grace_seconds=0,
        page_size=2,
    )
    object.__setattr__(runtime.files, "pages", recorded)

    listed = await reconciler.reconcile(dry_run=True)
    removed = await reconciler.reconcile()

    assert sorted(listed.orphan_files) == sorted(orphans) == sorted(removed.orphan_files)
    assert pages and max(pages) <= 2 and sum(pages) == 2 * (len(kept) + len(orphans))
    assert await _objects(runtime) == sorted(kept)


async def test_a_seed_era_document_whose_id_cannot_name_a_file_still_deletes(
    on_s3: tuple,
) -> None:
    runtime, _, caller = on_s3
    metadata = runtime.databases.metadata
    for document_id in ("legado/7", ".."):
        await sql(
            metadata,
            "INSERT INTO rag_documents (id, tenant_id, filename, collection, file_type, status) "
            "VALUES ($1, $2, 'viejo.pdf', 'General', 'pdf', 'deleting')",
            document_id,
            caller.tenant_id,
        )

    report = await runtime.reconciler.reconcile()

    assert sorted(report.pending_deletes) == ["..", "legado/7"]
    assert (await sql(metadata, "SELECT count(*) AS n FROM rag_documents"))[0]["n"] == 0
    assert await _objects(runtime) == []
