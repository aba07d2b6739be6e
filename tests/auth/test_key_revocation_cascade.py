"""Revoking an API key revokes every key minted below it (children, grandchildren), at once:
a holder whose key is revoked keeps no access through a key it made. Keys beside it (minted by
the same parent) and above it keep working. A key being minted while its parent is revoked
is either refused or revoked with it, never left behind."""

import asyncio

import httpx
import pytest
from sqlalchemy.engine import URL

from orchestrator_service.audit.service import Actor
from orchestrator_service.auth import service as auth_service
from orchestrator_service.auth.authentication import authenticate
from orchestrator_service.auth.schemas import ApiKeyCreate
from orchestrator_service.bootstrap import Runtime
from orchestrator_service.errors import Unauthorized
from tests.helpers import TEST_ACTOR, Caller, bearer, create_key, error_of, eventually, sql


async def _me(client: httpx.AsyncClient, key: str) -> httpx.Response:
    return await client.get("/api/v1/me", headers=bearer(key))


async def test_revoking_a_key_revokes_the_keys_it_minted_at_once(
    client: httpx.AsyncClient, tenant_a: Caller, tenant_b: Caller
) -> None:
    parent = await create_key(client, tenant_a.headers, "contractor")
    child = await create_key(client, bearer(parent["api_key"]), "contractor's spare")
    grandchild = await create_key(client, bearer(child["api_key"]), "spare of the spare")
    sibling = await create_key(client, tenant_a.headers, "ci")
    me = (await _me(client, tenant_a.api_key)).json()
    assert parent["parent_key_id"] == me["key_id"]
    assert (child["parent_key_id"], grandchild["parent_key_id"]) == (parent["id"], child["id"])

    revoked = await client.delete(f"/api/v1/api-keys/{parent['id']}", headers=tenant_a.headers)

    assert revoked.status_code == 204, revoked.text
    for key in (parent, child, grandchild):
        error = error_of(await _me(client, key["api_key"]), 401, "unauthorized")
        assert error["message"] == "This API key has been revoked"
        shown = await client.get(f"/api/v1/api-keys/{key['id']}", headers=tenant_a.headers)
        assert shown.json()["revoked_at"] is not None
    for key in (sibling["api_key"], tenant_a.api_key, tenant_b.api_key):
        assert (await _me(client, key)).status_code == 200
    logs = await client.get(
        "/api/v1/audit-logs",
        params={"action": "revoke", "resource_type": "api_key"},
        headers=tenant_a.headers,
    )
    [entry] = [e for e in logs.json()["items"] if e["resource_id"] == parent["id"]]
    assert sorted(entry["new_values"]["revoked_descendants"]) == sorted(
        [child["id"], grandchild["id"]]
    )


async def test_revoking_a_child_leaves_its_parent_working(
    client: httpx.AsyncClient, tenant_a: Caller
) -> None:
    parent = await create_key(client, tenant_a.headers, "parent")
    child = await create_key(client, bearer(parent["api_key"]), "child")

    revoked = await client.delete(f"/api/v1/api-keys/{child['id']}", headers=tenant_a.headers)

    assert revoked.status_code == 204
    assert (await _me(client, parent["api_key"])).status_code == 200
    error_of(await _me(client, child["api_key"]), 401, "unauthorized")


async def test_a_key_minted_while_its_parent_is_revoked_is_revoked_with_it(
    client: httpx.AsyncClient, runtime: Runtime, tenant_a: Caller, fresh_db: URL
) -> None:
    parent = await create_key(client, tenant_a.headers, "parent")
    async with runtime.sessionmaker() as minting:
        principal = await authenticate(minting, f"Bearer {parent['api_key']}")
        await minting.commit()
        # The mint is under way (not committed) when the revocation starts.
        child, plaintext = await auth_service.create_key(
            minting,
            principal=principal,
            data=ApiKeyCreate(name="raced"),
            actor=Actor.of(principal),
        )
        revocation = asyncio.create_task(
            client.delete(f"/api/v1/api-keys/{parent['id']}", headers=tenant_a.headers)
        )

        async def waiting() -> list:
            return await sql(
                fresh_db,
                "SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                "AND query ILIKE '%api_keys%'",
            )

        await eventually(waiting, bool)  # the revocation waits for the mint
        await minting.commit()
    assert (await revocation).status_code == 204

    assert child.parent_key_id is not None
    error = error_of(await _me(client, plaintext), 401, "unauthorized")
    assert error["message"] == "This API key has been revoked"


async def test_a_revoked_key_cannot_finish_minting_a_key(
    client: httpx.AsyncClient, runtime: Runtime, tenant_a: Caller, fresh_db: URL
) -> None:
    parent = await create_key(client, tenant_a.headers, "parent")
    async with runtime.sessionmaker() as session:
        principal = await authenticate(session, f"Bearer {parent['api_key']}")
        await session.commit()
    # Revoked between authentication and the mint.
    revoked = await client.delete(f"/api/v1/api-keys/{parent['id']}", headers=tenant_a.headers)
    assert revoked.status_code == 204

    async with runtime.sessionmaker.begin() as session:
        with pytest.raises(Unauthorized) as refused:
            await auth_service.create_key(
                session, principal=principal, data=ApiKeyCreate(name="late"), actor=TEST_ACTOR
            )
    assert refused.value.message == "This API key has been revoked"
    rows = await sql(fresh_db, "SELECT count(*) AS n FROM api_keys WHERE name = 'late'")
    assert rows[0]["n"] == 0
