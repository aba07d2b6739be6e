"""The vault against real PostgreSQL: binding, wrong keys, rotation under load, adoption."""

import asyncio
import base64
import json
import logging
import os
import stat
import subprocess
import uuid
from pathlib import Path

import pytest
from pgserver._commands import POSTGRES_BIN_PATH
from pydantic import SecretStr
from sqlalchemy.engine import URL

from orchestrator_service.bootstrap import Runtime, boot
from orchestrator_service.config import Settings
from orchestrator_service.credentials.keys import DEV_KEY_FILE, generate_key_entry
from orchestrator_service.credentials.rotation import rotate
from orchestrator_service.credentials.vault import FORMAT
from orchestrator_service.errors import ConfigError, Forbidden, VaultError
from tests.helpers import ORCHESTRATOR, TEST_ACTOR, Caller, cli_env, sql, url_string

SECRET_A = "sk-tenantA-Zebra-7f3c9a1e5d"
SECRET_A2 = "smtp-pass-Quokka-42a8b0c6d1"
SECRET_B = "sk-tenantB-Walrus-91d2e4f6a8"


async def _store(client, caller: Caller, name: str, value: str, **extra) -> dict:
    """Store a credential; unless told otherwise it may go to the hosts these tests resolve
    for (with no allowed_hosts it could go nowhere, or only to its category's provider)."""
    extra.setdefault("allowed_hosts", ["api.test", "a.test", "smtp.test"])
    response = await client.post(
        "/api/v1/credentials", headers=caller.headers, json={"name": name, "value": value, **extra}
    )
    assert response.status_code == 201, response.text
    return response.json()


async def _resolve(runtime: Runtime, tenant_id: int, name: str, destination: str) -> str:
    return await runtime.secrets.resolve(
        tenant_id=tenant_id,
        name=name,
        consumer="test",
        destination=destination,
        actor=TEST_ACTOR,
    )


def _keys(*entries: str) -> str:
    return ",".join(entries)


async def test_secrets_appear_in_no_dump_log_or_response(
    client, runtime: Runtime, tenant_a: Caller, tenant_b: Caller, fresh_db: URL, caplog
) -> None:
    caplog.set_level("DEBUG")
    responses = []
    created = await _store(client, tenant_a, "OPENAI_API_KEY", SECRET_A, category="openai")
    responses.append(json.dumps(created))
    responses.append(json.dumps(await _store(client, tenant_b, "OPENAI_API_KEY", SECRET_B)))
    for path in ("/api/v1/credentials", f"/api/v1/credentials/{created['id']}"):
        responses.append((await client.get(path, headers=tenant_a.headers)).text)
    patched = await client.patch(
        f"/api/v1/credentials/{created['id']}",
        headers=tenant_a.headers,
        json={"value": SECRET_A2, "name": "SMTP_PASSWORD", "category": "smtp"},
    )
    responses.append(patched.text)
    responses.append((await client.get("/api/v1/audit-logs", headers=tenant_a.headers)).text)
    assert await _resolve(runtime, tenant_a.tenant_id, "SMTP_PASSWORD", "https://smtp.test") == (
        SECRET_A2
    )
    # A log line that quotes a secret is scrubbed before any handler sees it.
    logging.getLogger("tests.vault").warning("leaking %s on purpose", SECRET_A2)

    dump = subprocess.run(
        [
            str(POSTGRES_BIN_PATH / "pg_dump"),
            "--data-only",
            url_string(fresh_db).replace("postgresql+asyncpg", "postgresql"),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "orchestrator_heal_state" in dump  # the dump is real and complete
    logs = "\n".join(r.getMessage() for r in caplog.records)
    assert "leaking [SECRET] on purpose" in logs
    for secret in (SECRET_A, SECRET_A2, SECRET_B):
        assert secret not in dump
        assert secret not in logs
        assert all(secret not in text for text in responses)
    assert created["hint"] == SECRET_A[-4:] and "value" not in created


async def test_short_secrets_get_no_hint(client, tenant_a: Caller) -> None:
    created = await _store(client, tenant_a, "PIN", "12345678901")
    assert created["hint"] is None and created["fingerprint"]


async def test_ciphertext_copied_elsewhere_fails_to_decrypt(
    client, runtime: Runtime, tenant_a: Caller, tenant_b: Caller, fresh_db: URL
) -> None:
    await _store(client, tenant_a, "A_KEY", SECRET_A)
    await _store(client, tenant_a, "A_OTHER", SECRET_A2)
    await _store(client, tenant_b, "B_KEY", SECRET_B)
    # Onto another tenant's row: B's credential now holds A's ciphertext.
    await sql(
        fresh_db,
        "UPDATE credentials SET value = a.value, key_id = a.key_id FROM credentials a "
        "WHERE a.name = 'A_KEY' AND credentials.name = 'B_KEY'",
    )
    with pytest.raises(VaultError, match=r"not bound to this record"):
        await _resolve(runtime, tenant_b.tenant_id, "B_KEY", "https://api.test")
    # Onto another credential of the same tenant.
    await sql(
        fresh_db,
        "UPDATE credentials SET value = a.value FROM credentials a "
        "WHERE a.name = 'A_KEY' AND credentials.name = 'A_OTHER'",
    )
    with pytest.raises(VaultError, match="not bound to this record"):
        await _resolve(runtime, tenant_a.tenant_id, "A_OTHER", "https://api.test")
    assert await _resolve(runtime, tenant_a.tenant_id, "A_KEY", "https://api.test") == SECRET_A


async def test_tenant_credential_shadows_global_and_hosts_are_enforced(
    client, runtime: Runtime, tenant_a: Caller, tenant_b: Caller, platform_admin: Caller
) -> None:
    await _store(client, platform_admin, "SHARED", SECRET_B, allowed_hosts=["x.test"])
    await _store(client, tenant_a, "SHARED", SECRET_A, allowed_hosts=["api.example.com"])

    assert await _resolve(runtime, tenant_b.tenant_id, "SHARED", "https://x.test/") == SECRET_B
    assert (
        await _resolve(runtime, tenant_a.tenant_id, "SHARED", "https://api.example.com/v1")
        == SECRET_A
    )
    with pytest.raises(Forbidden, match=r"may not be sent to evil\.test"):
        await _resolve(runtime, tenant_a.tenant_id, "SHARED", "https://evil.test/v1")

    logs = (
        await client.get(
            "/api/v1/audit-logs?action=use&resource_type=credential", headers=tenant_a.headers
        )
    ).json()["items"]
    outcomes = sorted(entry["new_values"]["outcome"] for entry in logs)
    assert outcomes == ["host_not_allowed", "ok"]
    assert all(entry["new_values"]["destination_host"] for entry in logs)
    assert SECRET_A not in json.dumps(logs)


async def test_rotation_under_load_keeps_requests_working_and_retires_the_old_key(
    client, runtime: Runtime, tenant_a: Caller, tenant_b: Caller, fresh_db: URL, settings
) -> None:
    for i in range(5):
        await _store(client, tenant_a, f"KEY_{i}", f"{SECRET_A}-{i}")
        await _store(client, tenant_b, f"KEY_{i}", f"{SECRET_B}-{i}")
    old_id = runtime.vault.provider.active_key_id
    old_entry = (Path(settings.data_dir) / DEV_KEY_FILE).read_text().strip()
    new_settings = settings.model_copy(
        update={"vault_keys": _secret(_keys(generate_key_entry("k2"), old_entry))}
    )
    failures: list[BaseException] = []
    resolved = 0
    stop = asyncio.Event()

    async def use_credentials(serving: Runtime, tenant: Caller, secret: str) -> None:
        nonlocal resolved
        while not stop.is_set():
            for i in range(5):
                try:
                    value = await _resolve(serving, tenant.tenant_id, f"KEY_{i}", "https://a.test")
                    assert value == f"{secret}-{i}"
                    resolved += 1
                except BaseException as exc:  # collected and asserted below
                    failures.append(exc)
            await asyncio.sleep(0)

    # The documented procedure: every replica runs with the new key first and the old one
    # second, then `vault rotate` runs while they serve, then the old key is removed.
    async with boot(new_settings) as rotated_runtime:
        users = [
            asyncio.create_task(use_credentials(rotated_runtime, tenant_a, SECRET_A)),
            asyncio.create_task(use_credentials(rotated_runtime, tenant_b, SECRET_B)),
        ]
        lines: list[str] = []
        report = await rotate(
            rotated_runtime.sessionmaker,
            rotated_runtime.vault,
            reencrypt=True,
            progress=lines.append,
        )
        stop.set()
        await asyncio.gather(*users)

    assert failures == []
    assert resolved > 0
    assert report.active_key_id == "k2" and report.remaining_old_key_ids == []
    assert report.reencrypted_values == 10 and lines
    kek_ids = {r["kek_id"] for r in await sql(fresh_db, "SELECT kek_id FROM vault_data_keys")}
    state = await sql(fresh_db, "SELECT kek_id FROM vault_state")
    assert kek_ids == {"k2"} and state[0]["kek_id"] == "k2"
    assert old_id != "k2"
    # The old key can now leave the configuration.
    only_new = settings.model_copy(
        update={"vault_keys": _secret(new_settings.vault_keys.get_secret_value().split(",")[0])}
    )
    async with boot(only_new) as fresh_runtime:
        assert await _resolve(fresh_runtime, tenant_a.tenant_id, "KEY_3", "https://a.test") == (
            f"{SECRET_A}-3"
        )
    # Running it again is harmless.
    async with boot(only_new) as again:
        second = await rotate(again.sessionmaker, again.vault, reencrypt=False)
    assert second.rewrapped == 0


def _secret(value: str):
    return SecretStr(value)


async def test_wrong_key_refuses_to_boot_naming_the_key_id(
    runtime: Runtime, settings: Settings
) -> None:
    wrong = settings.model_copy(
        update={"vault_keys": _secret(f"dev1:{base64.b64encode(os.urandom(32)).decode()}")}
    )
    with pytest.raises(VaultError, match="Vault key 'dev1' does not decrypt"):
        async with boot(wrong):
            pass
    other_id = settings.model_copy(update={"vault_keys": _secret(generate_key_entry("k9"))})
    with pytest.raises(VaultError, match="'dev1' is not configured"):
        async with boot(other_id):
            pass


async def test_the_dev_key_is_private_and_never_replaced(
    runtime: Runtime, settings: Settings
) -> None:
    key_file = Path(settings.data_dir) / DEV_KEY_FILE
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    key_file.unlink()
    with pytest.raises(VaultError, match="never generated for an existing vault"):
        async with boot(settings):
            pass
    assert not key_file.exists()


async def test_production_without_keys_refuses(settings: Settings) -> None:
    # Even a single-host install that opts into the embedded defaults needs real vault keys.
    production = settings.model_copy(update={"env": "production", "allow_embedded": True})
    with pytest.raises(ConfigError, match="ORCH_ENV=production needs ORCH_VAULT_KEYS"):
        async with boot(production):
            pass


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("nocolon", "entry 1 must look like id:base64key"),
        (
            "k1:" + base64.b64encode(os.urandom(32)).decode() + ",k2:***",
            "entry 2 .* not valid base64",
        ),
        ("k1:" + base64.b64encode(os.urandom(16)).decode(), "entry 1 .* 16 bytes"),
        (
            "k1:"
            + base64.b64encode(os.urandom(32)).decode()
            + ",k1:"
            + base64.b64encode(os.urandom(32)).decode(),
            "entry 2 repeats the key id 'k1'",
        ),
    ],
    ids=["no-colon", "bad-base64", "short-key", "repeated-id"],  # stable across xdist workers
)
async def test_malformed_vault_keys_refuse_to_boot_naming_the_entry(
    settings: Settings, raw: str, message: str
) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        async with boot(settings.model_copy(update={"vault_keys": _secret(raw)})):
            pass
    assert raw.split(":", 1)[-1][:20] not in info.value.message or raw == "nocolon"


def test_wrong_key_at_the_command_line_exits_1_with_the_key_id(
    fresh_db: URL, tmp_path: Path
) -> None:
    env = cli_env(tmp_path, ORCH_DATABASE_URL=url_string(fresh_db))
    env["ORCH_VAULT_KEYS"] = generate_key_entry("prod1")
    first = subprocess.run(
        [ORCHESTRATOR, "tenant", "create", "acme", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert first.returncode == 0, first.stderr
    env["ORCH_VAULT_KEYS"] = f"prod1:{base64.b64encode(os.urandom(32)).decode()}"
    second = subprocess.run(
        [ORCHESTRATOR, "tenant", "create", "beta", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert second.returncode == 1
    assert "'prod1'" in second.stderr and "Traceback" not in second.stderr


async def test_legacy_values_are_marked_for_reentry_and_never_crash(
    client, runtime: Runtime, tenant_a: Caller, fresh_db: URL, settings: Settings
) -> None:
    legacy_id = uuid.uuid4()
    await sql(
        fresh_db,
        "INSERT INTO credentials (id_uuid, tenant_id, name, value, category) "
        "VALUES ($1, $2, 'LEGACY', 'plain-or-foreign-ciphertext', 'openai')",
        legacy_id,
        tenant_a.tenant_id,
    )
    async with boot(settings) as rebooted:
        listed = await client.get(
            "/api/v1/credentials?status=needs_reentry", headers=tenant_a.headers
        )
        assert [c["name"] for c in listed.json()["items"]] == ["LEGACY"]
        with pytest.raises(VaultError, match="must be entered again"):
            await _resolve(rebooted, tenant_a.tenant_id, "LEGACY", "https://api.test")
    fixed = await client.patch(
        f"/api/v1/credentials/{legacy_id}", headers=tenant_a.headers, json={"value": SECRET_A}
    )
    assert fixed.status_code == 200 and fixed.json()["status"] == "ok"
    rows = await sql(fresh_db, "SELECT value FROM credentials WHERE id_uuid = $1", legacy_id)
    assert rows[0]["value"].startswith(f"{FORMAT}.")
    # An openai key naming no hosts may go to OpenAI's API.
    assert await _resolve(runtime, tenant_a.tenant_id, "LEGACY", "https://api.openai.com/v1") == (
        SECRET_A
    )


async def test_deleting_a_tenant_shreds_its_data_key(
    client,
    runtime: Runtime,
    tenant_a: Caller,
    tenant_b: Caller,
    platform_admin: Caller,
    fresh_db: URL,
) -> None:
    await _store(client, tenant_a, "A_KEY", SECRET_A)
    await _store(client, tenant_b, "B_KEY", SECRET_B)
    before = await sql(fresh_db, "SELECT count(*) AS n FROM vault_data_keys")

    deleted = await client.delete(
        f"/api/v1/tenants/{tenant_a.tenant_id}", headers=platform_admin.headers
    )

    assert deleted.status_code == 204
    keys = await sql(fresh_db, "SELECT tenant_id FROM vault_data_keys")
    assert len(keys) == before[0]["n"] - 1
    assert tenant_a.tenant_id not in {k["tenant_id"] for k in keys}
    gone = await client.get("/api/v1/me", headers=tenant_a.headers)
    assert gone.status_code == 401
    assert await _resolve(runtime, tenant_b.tenant_id, "B_KEY", "https://api.test") == SECRET_B
