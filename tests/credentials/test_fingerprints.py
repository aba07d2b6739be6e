"""Fingerprints are salted per credential and per value. Unsalted, a credential's keyed
fingerprint equalled that of any other credential of the tenant holding the same value, so a
member could store a guess and compare fingerprints (the last-4 hint narrowing the guesses).
Rows from before salts show no fingerprint until their next write, which salts it."""

import hashlib
import hmac
import uuid

from sqlalchemy.engine import URL

from orchestrator_service.bootstrap import Runtime
from orchestrator_service.credentials.models import Credential
from orchestrator_service.credentials.vault import open_vault
from tests.helpers import TEST_ACTOR, Caller, sql

SECRET = "sk-guessable-0123456789abcdef"


async def _store(client, caller: Caller, name: str, value: str = SECRET, **extra) -> dict:
    response = await client.post(
        "/api/v1/credentials",
        headers=caller.headers,
        json={"name": name, "value": value, "allowed_hosts": ["api.example.com"], **extra},
    )
    assert response.status_code == 201, response.text
    return response.json()


async def _patch(client, caller: Caller, credential_id: str, **changes) -> dict:
    response = await client.patch(
        f"/api/v1/credentials/{credential_id}", headers=caller.headers, json=changes
    )
    assert response.status_code == 200, response.text
    return response.json()


async def test_a_stored_guess_does_not_fingerprint_like_the_secret(
    client, tenant_a: Caller
) -> None:
    secret = await _store(client, tenant_a, "ADMIN_KEY")
    guess = await _store(client, tenant_a, "MY_GUESS")

    assert secret["hint"] == guess["hint"]  # the hint alone confirms nothing
    assert secret["fingerprint"] and guess["fingerprint"]
    assert secret["fingerprint"] != guess["fingerprint"]


async def test_the_fingerprint_tells_versions_apart_and_a_rewrite_of_the_same_value_too(
    client, tenant_a: Caller
) -> None:
    created = await _store(client, tenant_a, "ADMIN_KEY")

    same = await _patch(client, tenant_a, created["id"], allowed_hosts=["api.example.com"])
    renamed = await _patch(client, tenant_a, created["id"], name="RENAMED")
    # Writing a guess over the value gets a new salt: equal or not, the fingerprint changes,
    # so overwriting and comparing confirms nothing either.
    rewritten = await _patch(client, tenant_a, created["id"], value=SECRET)

    assert same["fingerprint"] == created["fingerprint"]
    assert renamed["fingerprint"] == created["fingerprint"]  # same value, same salt
    assert rewritten["fingerprint"] != created["fingerprint"]


async def test_legacy_unsalted_fingerprints_are_hidden_then_salted_on_the_next_write(
    client, runtime: Runtime, tenant_a: Caller, fresh_db: URL
) -> None:
    created = await _store(client, tenant_a, "OLD_KEY")
    async with runtime.sessionmaker() as session:
        row = await session.get(Credential, uuid.UUID(created["id"]))
        data_key = await runtime.vault.data_key_of(session, row)
    unsalted = hmac.new(data_key.key, SECRET.encode(), hashlib.sha256).hexdigest()[:16]
    await sql(
        fresh_db,
        "UPDATE credentials SET fingerprint = $1, fingerprint_salt = NULL",
        unsalted,
    )

    await open_vault(runtime.settings, runtime.sessionmaker)  # what every boot does

    shown = (
        await client.get(f"/api/v1/credentials/{created['id']}", headers=tenant_a.headers)
    ).json()
    assert shown["fingerprint"] is None
    assert unsalted not in str(await sql(fresh_db, "SELECT * FROM credentials"))
    written = await _patch(client, tenant_a, created["id"], allowed_hosts=["api.example.com"])
    assert written["fingerprint"] not in (None, unsalted)
    [row] = await sql(fresh_db, "SELECT fingerprint_salt FROM credentials")
    assert row["fingerprint_salt"]
    secret = await runtime.secrets.resolve(
        tenant_id=tenant_a.tenant_id,
        name="OLD_KEY",
        consumer="test",
        destination="https://api.example.com/",
        actor=TEST_ACTOR,
    )
    assert secret == SECRET  # re-sealed, same value
