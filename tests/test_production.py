"""Production refuses the embedded defaults: each one a forgotten variable would fall back to
(the database, the vector store, local-disk uploads) stops the boot with a message naming that
variable, unless ORCH_ALLOW_EMBEDDED=true opts in."""

from pathlib import Path

import pytest
from pydantic import SecretStr

from orchestrator_service.bootstrap import boot
from orchestrator_service.config import Settings
from orchestrator_service.errors import ConfigError, DatabaseUnreachable
from tests.helpers import run_cli
from tests.s3_server import S3StandIn

DATABASE = SecretStr("postgresql://orchestrator@127.0.0.1:9/never-reached")


def _production(tmp_path: Path, **fields: object) -> Settings:
    return Settings(
        env="production",
        data_dir=tmp_path / "data",
        vault_keys=SecretStr("k1:" + "A" * 43 + "="),
        connect_timeout=1,
        **fields,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({}, "ORCH_DATABASE_URL"),
        ({"database_url": DATABASE}, "ORCH_VECTOR_DATABASE_URL (or ORCH_SUPABASE_URL"),
        (
            {"database_url": DATABASE, "vector_database_url": DATABASE},
            "ORCH_STORAGE_URL (s3://bucket/prefix)",
        ),
        (
            {
                "database_url": DATABASE,
                "supabase_url": "http://127.0.0.1:9",
                "supabase_key": SecretStr("k"),
                "storage_url": "/srv/uploads",
            },
            "ORCH_STORAGE_URL (s3://bucket/prefix)",
        ),
    ],
)
async def test_each_embedded_default_refuses_to_start_naming_its_variable(
    tmp_path: Path, fields: dict, named: str
) -> None:
    with pytest.raises(ConfigError) as refused:
        async with boot(_production(tmp_path, **fields)):
            pass

    assert refused.value.message.startswith(f"ORCH_ENV=production needs {named}")
    assert "ORCH_ALLOW_EMBEDDED=true" in refused.value.message
    assert not (tmp_path / "data").exists()  # no embedded server was started


async def test_a_fully_configured_production_passes_the_check(
    tmp_path: Path, s3: S3StandIn
) -> None:
    settings = _production(
        tmp_path, database_url=DATABASE, vector_database_url=DATABASE, **s3.settings()
    )
    # Past the refusal, the boot goes on to reach the database (which is not there).
    with pytest.raises(DatabaseUnreachable):
        async with boot(settings):
            pass


def test_serve_in_production_without_a_database_url_exits_2_naming_it(tmp_path: Path) -> None:
    done = run_cli(tmp_path, "serve", ORCH_ENV="production", ORCH_VAULT_KEYS="k1:" + "A" * 43 + "=")

    assert done.returncode == 2
    assert "ORCH_ENV=production needs ORCH_DATABASE_URL" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "data").exists()


async def test_allow_embedded_lets_a_single_host_install_start(settings: Settings) -> None:
    single_host = settings.model_copy(
        update={
            "env": "production",
            "allow_embedded": True,
            "vault_keys": SecretStr("k1:" + "A" * 43 + "="),
        }
    )
    async with boot(single_host) as runtime:
        assert runtime.healed
        assert runtime.files.url == str((Path(settings.data_dir) / "uploads").resolve())
