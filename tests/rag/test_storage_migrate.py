"""`orchestrator storage migrate --to s3://...` as a process: local files copied to object
storage and verified by hash, idempotent, resumable after an interruption, refusing to switch
while a copy does not verify, and a service on the new store ingesting what it copied."""

import hashlib
import json
import subprocess
from pathlib import Path

from pydantic import SecretStr
from sqlalchemy.engine import URL

from orchestrator_service.bootstrap import Runtime, boot
from orchestrator_service.config import Settings
from orchestrator_service.rag.relocate import matches
from tests.helpers import ORCHESTRATOR, Caller, cli_env, finish, sql, url_string
from tests.rag.helpers import upload
from tests.s3_server import S3StandIn
from tests.storage.test_contract import s3_store


async def _migrate(settings: Settings, database: URL, s3: S3StandIn) -> tuple[int, dict, str]:
    environment = {k: v for k, v in s3.environment().items() if k != "ORCH_STORAGE_URL"}
    env = cli_env(Path(settings.data_dir).parent, ORCH_DATABASE_URL=url_string(database))
    env.update(environment, ORCH_DATA_DIR=str(settings.data_dir))
    process = subprocess.Popen(
        [ORCHESTRATOR, "storage", "migrate", "--to", s3.url(), "--json"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    code, out, err = await finish(process)
    return code, json.loads(out), err


async def test_migrate_copies_verifies_resumes_and_switches(
    settings: Settings,
    fresh_db: URL,
    vectors_db: URL,
    runtime: Runtime,
    client,
    tenant_a: Caller,
    s3: S3StandIn,
) -> None:
    texts = [f"Documento {n}: la bodega de Lima despacha pedidos." for n in range(3)]
    documents = [
        (await upload(client, tenant_a, f"{n}.txt", text.encode())).json()
        for n, text in enumerate(texts)
    ]
    keys = [f"{tenant_a.tenant_id}/{d['id']}" for d in documents]
    target = s3_store(s3, prefix="uploads")

    code, report, err = await _migrate(settings, fresh_db, s3)

    assert code == 0, err
    assert (report["copied"], report["already_there"], report["switched"]) == (3, 0, True)
    assert f"ORCH_STORAGE_URL={s3.url()}" in err
    for key, document in zip(keys, documents, strict=True):
        assert await matches(target, key, document["content_hash"])
    paths = await sql(fresh_db, "SELECT id, file_path FROM rag_documents")
    assert {r["file_path"] for r in paths} == {f"{s3.url()}/{key}" for key in keys}

    # Idempotent: a second run copies nothing.
    code, report, err = await _migrate(settings, fresh_db, s3)
    assert code == 0, err
    assert (report["copied"], report["already_there"]) == (0, 3)

    # Resumable: what an interrupted run did not copy is copied, the rest is left alone.
    await target.delete(keys[1])
    code, report, err = await _migrate(settings, fresh_db, s3)
    assert code == 0, err
    assert (report["copied"], report["already_there"]) == (1, 2)

    # Verified by hash: a source file that is not what was uploaded is never switched to.
    local = Path(settings.data_dir) / "uploads" / keys[2]
    local.write_bytes(b"corrupted on the old disk")
    await target.delete(keys[2])
    code, report, err = await _migrate(settings, fresh_db, s3)
    assert code == 1
    assert report["mismatched"] == [documents[2]["id"]] and report["switched"] is False
    assert "Not switched" in err
    listed = sorted([i.key async for page in target.pages(page_size=10) for i in page])
    assert listed == sorted(keys[:2])

    # A service on the new store ingests what was copied.
    on_s3 = settings.model_copy(
        update={**s3.settings(), "vector_database_url": SecretStr(url_string(vectors_db))}
    )
    async with boot(on_s3) as migrated:
        await migrated.ingestor.ingest(documents[0]["id"])
    state = await sql(
        fresh_db, "SELECT status, content_hash FROM rag_documents WHERE id = $1", documents[0]["id"]
    )
    assert state[0]["status"] == "ready"
    assert state[0]["content_hash"] == hashlib.sha256(texts[0].encode()).hexdigest()
