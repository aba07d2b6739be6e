"""The `orchestrator` command. Exit codes: 0 done, 1 failed (stderr says why), 2 usage error."""

import argparse
import asyncio
import gc
import json
import signal
import sys
from contextlib import suppress
from pathlib import Path
from typing import Any

import uvicorn
from pydantic import ValidationError

from orchestrator_service.audit.service import Actor
from orchestrator_service.bootstrap import (
    Runtime,
    boot,
    heal_databases,
    object_store,
    open_databases,
    running_jobs,
)
from orchestrator_service.config import Settings
from orchestrator_service.credentials.rotation import rotate
from orchestrator_service.errors import ConfigError, OrchestratorError
from orchestrator_service.http import configure_logging
from orchestrator_service.jobs.schedule import sweep
from orchestrator_service.main import create_app
from orchestrator_service.rag import service as rag_service
from orchestrator_service.rag.ingest import IngestionDeferred
from orchestrator_service.rag.relocate import migrate_files
from orchestrator_service.rag.remote_sql import remote_schema_sql
from orchestrator_service.tenants import service as tenant_service
from orchestrator_service.tenants.schemas import TenantCreate

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="orchestrator", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="heal the schema, then serve the API")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)

    migrate = commands.add_parser("migrate", help="heal the schema and exit")
    migrate.add_argument("--dry-run", action="store_true", help="change nothing; list changes")
    migrate.add_argument("--json", action="store_true", help="print one JSON report")
    migrate.add_argument("--database-url", help="metadata database (overrides ORCH_DATABASE_URL)")
    migrate.add_argument(
        "--vector-database-url", help="vector database (overrides ORCH_VECTOR_DATABASE_URL)"
    )

    tenant = commands.add_parser("tenant", help="manage tenants").add_subparsers(
        dest="action", required=True
    )
    tenant_create = tenant.add_parser("create", help="create a tenant and its first admin key")
    tenant_create.add_argument("name")
    tenant_create.add_argument("--json", action="store_true", help="print one JSON object")

    platform = commands.add_parser("platform-key", help="platform-admin keys").add_subparsers(
        dest="action", required=True
    )
    platform_create = platform.add_parser("create", help="create a platform-admin API key")
    platform_create.add_argument("name")
    platform_create.add_argument("--json", action="store_true", help="print one JSON object")

    vault = commands.add_parser("vault", help="the credentials vault").add_subparsers(
        dest="action", required=True
    )
    rotate = vault.add_parser(
        "rotate", help="rewrap every data key under the active key (first of ORCH_VAULT_KEYS)"
    )
    rotate.add_argument(
        "--reencrypt", action="store_true", help="also re-encrypt every value under fresh data keys"
    )
    rotate.add_argument("--json", action="store_true", help="print one JSON report")

    rag = commands.add_parser("rag", help="documents and the vector store").add_subparsers(
        dest="action", required=True
    )
    ingest = rag.add_parser("ingest", help="upload files and folders and ingest them")
    ingest.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    ingest.add_argument("--tenant", required=True, help="tenant id or name")
    ingest.add_argument("--collection", default="General")
    reindex = rag.add_parser(
        "reindex", help="re-embed a tenant's documents with another embedder, without downtime"
    )
    reindex.add_argument("--tenant", required=True, help="tenant id or name")
    reindex.add_argument("--collection")
    reindex.add_argument(
        "--embedder",
        required=True,
        choices=["local", "multilingual", "use", "multilingual+use", "openai"],
    )
    rag.add_parser("supabase-sql", help="print the SQL that prepares a Supabase project")

    storage = commands.add_parser("storage", help="where uploaded files live").add_subparsers(
        dest="action", required=True
    )
    storage_migrate = storage.add_parser(
        "migrate",
        help="copy every uploaded file to another store (resumable, verified by hash), then "
        "switch the metadata to it",
    )
    storage_migrate.add_argument(
        "--to", required=True, metavar="URL", help="the new store, e.g. s3://bucket/prefix"
    )
    storage_migrate.add_argument(
        "--from",
        dest="source",
        metavar="URL",
        help="the store to copy from (default: ORCH_STORAGE_URL, else <ORCH_DATA_DIR>/uploads)",
    )
    storage_migrate.add_argument("--json", action="store_true", help="print one JSON report")

    reconcile = commands.add_parser(
        "reconcile", help="remove orphans between the metadata and vector stores and the disk"
    )
    reconcile.add_argument("--dry-run", action="store_true", help="list, change nothing")
    reconcile.add_argument("--json", action="store_true", help="print one JSON report")
    return parser


def _settings(**overrides: Any) -> Settings:  # argparse values, checked by Settings
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        raise ConfigError(f"Invalid configuration: {exc}") from exc


async def _migrate(args: argparse.Namespace) -> int:
    settings = _settings(
        database_url=args.database_url, vector_database_url=args.vector_database_url
    )
    databases = await open_databases(settings)
    if args.database_url and not args.vector_database_url:
        # An explicit metadata URL heals that database only.
        databases.vectors = None
    try:
        reports = await heal_databases(databases, settings, dry_run=args.dry_run)
    finally:
        databases.close()
    summary = {
        "ok": True,
        "dry_run": args.dry_run,
        "applied": [{"database": n, **a} for n, r in reports.items() for a in r.applied],
        "drift": [{"database": n, **d} for n, r in reports.items() for d in r.drift],
        "duration_ms": round(sum(r.duration_ms for r in reports.values()), 2),
        "databases": {n: r.as_dict() for n, r in reports.items()},
    }
    if args.json:
        print(json.dumps(summary))
    else:
        verb = "would apply" if args.dry_run else "applied"
        print(f"{verb} {len(summary['applied'])} change(s); {len(summary['drift'])} drift item(s)")
        for item in summary["applied"]:
            print(f"  {verb}: [{item['database']}] {item['kind']} {item['object']}")
        for item in summary["drift"]:
            print(
                f"  drift:   [{item['database']}] {item['kind']} {item['object']}: {item['detail']}"
            )
    return EXIT_OK


CLI_ACTOR = Actor(tenant_id=None, user_id=None, key_id=None, label="cli")


async def _tenant_create(args: argparse.Namespace) -> int:
    async with boot(_settings()) as runtime, runtime.sessionmaker.begin() as session:
        tenant, api_key = await tenant_service.create_tenant(
            session, data=TenantCreate(name=args.name), actor=CLI_ACTOR
        )
    if args.json:
        print(json.dumps({"tenant_id": tenant.id, "api_key": api_key}))
    else:
        print(f"Created tenant {tenant.name!r} (id {tenant.id}).")
        print(f"Its admin API key, shown this one time: {api_key}")
    return EXIT_OK


async def _platform_key_create(args: argparse.Namespace) -> int:
    async with boot(_settings()) as runtime, runtime.sessionmaker.begin() as session:
        api_key = await tenant_service.create_platform_key(session, name=args.name, actor=CLI_ACTOR)
    if args.json:
        print(json.dumps({"api_key": api_key}))
    else:
        print(f"Platform-admin API key, shown this one time: {api_key}")
    return EXIT_OK


async def _vault_rotate(args: argparse.Namespace) -> int:
    async with boot(_settings()) as runtime:
        report = await rotate(
            runtime.sessionmaker,
            runtime.vault,
            reencrypt=args.reencrypt,
            progress=lambda line: print(line, file=sys.stderr, flush=True),
        )
    if args.json:
        print(report.model_dump_json())
    else:
        print(
            f"Active key {report.active_key_id}: rewrapped {report.rewrapped} data key(s), "
            f"re-encrypted {report.reencrypted_values} value(s) of "
            f"{report.reencrypted_tenants} tenant(s)."
        )
        if not report.remaining_old_key_ids:
            print("No data is wrapped under other keys: they can leave ORCH_VAULT_KEYS.")
    return EXIT_OK


async def _rag_ingest(args: argparse.Namespace) -> int:
    files = sorted(
        f for p in args.paths for f in ([p] if p.is_file() else p.rglob("*")) if f.is_file()
    )
    if not files:
        raise ConfigError("No files found under the given paths")
    async with boot(_settings()) as runtime:
        if runtime.vector_store is None:
            raise ConfigError("No vector store is configured (ORCH_VECTOR_DATABASE_URL)")
        tenant_id = await tenant_service.resolve_tenant(runtime.sessionmaker, args.tenant)
        ids = []
        for path in files:
            async with runtime.sessionmaker.begin() as session:
                with path.open("rb") as source:
                    document, _ = await rag_service.upload(
                        session,
                        runtime.files,
                        max_bytes=runtime.settings.max_upload_bytes,
                        quotas=runtime.quotas,
                        tenant_id=tenant_id,
                        filename=path.name,
                        source=source,
                        collection=args.collection,
                        metadata={},
                        replace=False,
                        actor=CLI_ACTOR,
                    )
            ids.append(document.id)
        async with running_jobs(runtime):
            states = await rag_service.wait_for(runtime.sessionmaker, ids, progress=_progress_bar)
    failed = [(s.filename, s.error) for s in states if s.status == "failed"]
    print(f"\n{len(states) - len(failed)} ready, {len(failed)} failed", file=sys.stderr)
    for name, error in failed:
        print(f"  {name}: {error}", file=sys.stderr)
    return EXIT_FAILED if failed else EXIT_OK


async def _rag_reindex(args: argparse.Namespace) -> int:
    async with boot(_settings()) as runtime:
        if runtime.vector_store is None:
            raise ConfigError("No vector store is configured (ORCH_VECTOR_DATABASE_URL)")
        tenant_id = await tenant_service.resolve_tenant(runtime.sessionmaker, args.tenant)
        ids = await rag_service.ready_documents(
            runtime.sessionmaker, tenant_id=tenant_id, collection=args.collection
        )
        for done, document_id in enumerate(ids, start=1):
            # Deferred (storage unreachable): the document keeps its embeddings and says why.
            with suppress(IngestionDeferred):
                await runtime.ingestor.ingest(
                    document_id, embedder_name=args.embedder, restart=True
                )
            _progress_bar(done, len(ids))
        states = await rag_service.wait_for(runtime.sessionmaker, ids, progress=lambda *_: None)
    unchanged = [s.filename for s in states if s.error]
    print(f"\nreindexed {len(ids) - len(unchanged)} of {len(ids)} document(s)", file=sys.stderr)
    for name in unchanged:
        print(f"  {name}: kept its previous embeddings (see its error)", file=sys.stderr)
    return EXIT_FAILED if unchanged else EXIT_OK


def _progress_bar(done: int, total: int) -> None:
    width = 30
    filled = width * done // max(total, 1)
    print(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total}", end="", file=sys.stderr)


async def _supabase_sql(_: argparse.Namespace) -> int:
    print(remote_schema_sql())
    return EXIT_OK


async def _storage_migrate(args: argparse.Namespace) -> int:
    configured = _settings()
    source = object_store(configured, args.source)
    # The runtime's own store is the target, so production's refusal of local disk holds.
    async with boot(_settings(storage_url=args.to)) as runtime:
        if source.url == runtime.files.url:
            raise ConfigError(f"--to names the store files are copied from ({source.url})")
        try:
            report = await migrate_files(
                runtime.sessionmaker, source, runtime.files, progress=_progress_bar
            )
        finally:
            await source.close()
    print(file=sys.stderr)
    if args.json:
        print(json.dumps(report.as_dict()))
    else:
        print(
            f"copied {report.copied}, already there {report.already_there}, "
            f"no file at the source {len(report.missing)}, failed verification "
            f"{len(report.mismatched)}"
        )
        for document_id in report.mismatched:
            print(f"  {document_id}: the copy did not match its content hash", file=sys.stderr)
    if not report.switched:
        print("Not switched: fix the files above and run again.", file=sys.stderr)
        return EXIT_FAILED
    print(
        "Switched the metadata to the new store. Set on every replica, then restart them:\n"
        f"  ORCH_STORAGE_URL={report.target}",
        file=sys.stderr,
    )
    return EXIT_OK


async def _reconcile(args: argparse.Namespace) -> int:
    async with boot(_settings()) as runtime:
        report = await sweep(runtime.sessionmaker, runtime.reconciler, dry_run=args.dry_run)
    if args.json:
        print(json.dumps(report.as_dict()))
    else:
        verb = "found" if args.dry_run else "removed"
        for kind, count in report.counts().items():
            print(f"{kind.replace('_', ' ')}: {count} {verb}")
    return EXIT_OK


async def _first_tenant(runtime: Runtime, base_url: str) -> None:
    """On the embedded default, a newcomer gets a tenant and a key to call the API at once."""
    async with runtime.sessionmaker.begin() as session:
        if await tenant_service.has_tenants(session):
            return
        tenant, api_key = await tenant_service.create_tenant(
            session, data=TenantCreate(name="default"), actor=CLI_ACTOR
        )
    print(
        f"Created tenant 'default' (id {tenant.id}). Its admin API key, shown this one time:\n"
        f"  {api_key}\n"
        "Call the API with: curl -H 'Authorization: Bearer <key>' "
        f"{base_url}/api/v1/me",
        flush=True,
    )


async def _serve(args: argparse.Namespace) -> int:
    settings = _settings()
    async with boot(settings) as runtime, running_jobs(runtime):
        if runtime.databases.embedded is not None:
            await _first_tenant(runtime, f"http://{args.host}:{args.port}")
        config = uvicorn.Config(
            create_app(settings, runtime=runtime),
            host=args.host,
            port=args.port,
            log_level=settings.log_level.lower(),
            access_log=False,  # The request-context middleware logs each request with its id.
            timeout_graceful_shutdown=int(settings.shutdown_timeout),
        )
        # uvicorn re-raises the stop signal once it has shut down gracefully; with a no-op
        # handler in place the process goes on to release the databases and exits 0.
        previous = {sig: signal.signal(sig, _ignore) for sig in (signal.SIGTERM, signal.SIGINT)}
        # What boot made (models, routes, schemas) lives as long as the process: out of the
        # collector's generations, a full collection under load takes milliseconds, not the
        # 200-300 ms (every 2 s at 200 searches/s) it took walking all of it.
        gc.collect()
        gc.freeze()
        try:
            await uvicorn.Server(config).serve()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
    return EXIT_OK


def _ignore(_signum: int, _frame: object) -> None:
    """A signal handler that does nothing."""


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `orchestrator` console script."""
    args = _parser().parse_args(argv)
    try:
        logging_settings = Settings()
        configure_logging(logging_settings.log_level, logging_settings.log_format)
    except ValidationError:
        configure_logging()  # the command reports the configuration error itself
    command = {
        ("serve", None): _serve,
        ("migrate", None): _migrate,
        ("tenant", "create"): _tenant_create,
        ("platform-key", "create"): _platform_key_create,
        ("vault", "rotate"): _vault_rotate,
        ("rag", "ingest"): _rag_ingest,
        ("rag", "reindex"): _rag_reindex,
        ("rag", "supabase-sql"): _supabase_sql,
        ("storage", "migrate"): _storage_migrate,
        ("reconcile", None): _reconcile,
    }[(args.command, getattr(args, "action", None))]
    try:
        return asyncio.run(command(args))
    except ConfigError as exc:
        print(f"orchestrator {args.command}: {exc.message}", file=sys.stderr)
        return EXIT_USAGE
    except ValidationError as exc:
        print(f"orchestrator {args.command}: invalid input: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except OrchestratorError as exc:
        print(f"orchestrator {args.command}: {exc.message}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
