"""Deployment files as structures (no Docker engine runs here), metrics and JSON logs."""

import json
import logging
import re
from pathlib import Path

import yaml
from prometheus_client.parser import text_string_to_metric_families

from orchestrator_service.config import Settings
from orchestrator_service.http import JsonFormatter
from tests.helpers import REPO, Caller

SETTINGS_VARIABLES = {f"ORCH_{name.upper()}" for name in Settings.model_fields}
COMPOSE = yaml.safe_load((REPO / "docker-compose.yml").read_text())
DOCKERFILE = (REPO / "Dockerfile").read_text()


def _orch_variables(text: str) -> set[str]:
    return set(re.findall(r"\b(ORCH_[A-Z_]+)\b", text))


def test_compose_runs_two_replicas_after_two_healthy_databases_and_a_bucket() -> None:
    services = COMPOSE["services"]
    assert set(services) == {"metadata-db", "vector-db", "minio", "minio-init", "orchestrator"}
    app = services["orchestrator"]
    assert app["deploy"]["replicas"] == 2
    assert app["depends_on"] == {
        "metadata-db": {"condition": "service_healthy"},
        "vector-db": {"condition": "service_healthy"},
        "minio-init": {"condition": "service_completed_successfully"},
    }
    assert services["minio-init"]["depends_on"] == {"minio": {"condition": "service_healthy"}}
    for name, service in services.items():
        if name != "minio-init":  # a one-shot that creates the bucket and exits
            assert "test" in service["healthcheck"], f"{name} has no health check"
    assert "/health/ready" in " ".join(app["healthcheck"]["test"])
    for db in ("metadata-db", "vector-db"):
        assert services[db]["image"].startswith("pgvector/pgvector:pg16")


def test_compose_volumes_are_named_and_declared() -> None:
    declared = set(COMPOSE["volumes"])
    used = {
        mount.split(":", 1)[0]
        for service in COMPOSE["services"].values()
        for mount in service.get("volumes", [])
    }
    assert used == declared == {"metadata-data", "vector-data", "minio-data"}


def test_the_replicas_share_no_upload_volume_and_store_files_in_minio() -> None:
    app = COMPOSE["services"]["orchestrator"]
    assert "volumes" not in app
    environment = app["environment"]
    assert environment["ORCH_STORAGE_URL"].startswith("s3://orchestrator/")
    assert environment["ORCH_STORAGE_ENDPOINT"] == "http://minio:9000"
    assert "ORCH_ALLOW_EMBEDDED" not in environment  # production refuses local disk
    assert "mc mb --ignore-existing local/orchestrator" in " ".join(
        COMPOSE["services"]["minio-init"]["entrypoint"]
    )


def test_every_variable_compose_sets_is_a_real_setting() -> None:
    environment = COMPOSE["services"]["orchestrator"]["environment"]
    assert set(environment) <= SETTINGS_VARIABLES, set(environment) - SETTINGS_VARIABLES
    assert {"ORCH_DATABASE_URL", "ORCH_VECTOR_DATABASE_URL", "ORCH_VAULT_KEYS"} <= set(environment)
    assert "@metadata-db:5432/" in environment["ORCH_DATABASE_URL"]
    assert "@vector-db:5432/" in environment["ORCH_VECTOR_DATABASE_URL"]
    assert environment["ORCH_ENV"] == "production"


def test_dockerfile_is_slim_non_root_runtime_only_with_a_readiness_healthcheck() -> None:
    stages = re.findall(r"^FROM (\S+)", DOCKERFILE, flags=re.MULTILINE)
    assert stages and all(image.startswith("python:3.11-slim") for image in stages)
    final = DOCKERFILE.rsplit("\nFROM ", 1)[1]
    user = re.search(r"^USER (\S+)", final, flags=re.MULTILINE)
    assert user and user.group(1) not in ("root", "0")
    assert re.search(r"^HEALTHCHECK .*\n?.*health/ready", final, flags=re.MULTILINE)
    install = re.search(r"pip install [^\n]*", DOCKERFILE).group(0)
    assert "[test" not in install and "[bench" not in install and "-e " not in install
    assert _orch_variables(DOCKERFILE) <= SETTINGS_VARIABLES
    assert 'orchestrator", "serve"' in DOCKERFILE


def test_readme_documents_every_variable_compose_uses() -> None:
    readme = (REPO / "README.md").read_text()
    used = set(COMPOSE["services"]["orchestrator"]["environment"])
    assert not {v for v in used if v not in readme}


async def test_metrics_parse_and_move_with_requests(client, tenant_a: Caller) -> None:
    def requests_to_me(text: str) -> float:
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if (
                    sample.name == "orchestrator_http_requests_total"
                    and sample.labels["route"] == "/api/v1/me"
                    and sample.labels["status"] == "200"
                ):
                    return sample.value
        return 0.0

    before = requests_to_me((await client.get("/metrics")).text)
    for _ in range(3):
        assert (await client.get("/api/v1/me", headers=tenant_a.headers)).status_code == 200
    response = await client.get("/metrics")

    assert response.status_code == 200 and "text/plain" in response.headers["content-type"]
    families = {f.name for f in text_string_to_metric_families(response.text)}
    assert {
        "orchestrator_http_requests",
        "orchestrator_http_request_duration_seconds",
        "orchestrator_heals",
        "orchestrator_heal_duration_seconds",
        "orchestrator_ingestion_jobs",
        "orchestrator_search_duration_seconds",
        "orchestrator_tool_invocations",
        "orchestrator_vault_decryptions",
    } <= families
    assert requests_to_me(response.text) == before + 3


async def test_access_log_is_one_json_object_with_request_context(
    client, tenant_a: Caller, caplog
) -> None:
    formatter = JsonFormatter()
    caplog.set_level(logging.INFO, logger="orchestrator_service.access")

    response = await client.get(
        "/api/v1/me", headers={**tenant_a.headers, "X-Request-ID": "json-log-1"}
    )

    record = next(r for r in caplog.records if r.name == "orchestrator_service.access")
    line = json.loads(formatter.format(record))
    assert line["request_id"] == response.headers["x-request-id"] == "json-log-1"
    assert line["tenant_id"] == tenant_a.tenant_id
    assert (line["route"], line["status"], line["method"]) == ("/api/v1/me", 200, "GET")
    assert line["duration_ms"] >= 0
    assert tenant_a.api_key not in json.dumps(line)


def test_settings_fields_have_no_stray_environment_readers() -> None:
    offenders = [
        str(path.relative_to(REPO))
        for path in (REPO / "orchestrator_service").rglob("*.py")
        if "os.environ" in path.read_text() or "getenv(" in path.read_text()
    ]
    assert offenders == []


def test_dockerignore_keeps_the_build_context_small() -> None:
    ignored = set(Path(REPO / ".dockerignore").read_text().split())
    assert {".venv", ".git", ".orchestrator"} <= ignored
