"""The error log: a handled failure is recorded once and counted (deduplicated by kind, code,
subject and message), with the tenant's secrets scrubbed from its message; each tenant reads
only its own entries, and only admins read them."""

import uuid

import httpx
import pytest

from orchestrator_service.bootstrap import Runtime
from orchestrator_service.error_log.service import record
from tests.helpers import Caller, create_key, error_of

API = "/api/v1"
SECRET = "sk-live-4f9a8b7c6d5e4f3a2b1c"


async def test_failures_are_scrubbed_counted_and_kept_to_their_tenant(
    client: httpx.AsyncClient, runtime: Runtime, tenant_a: Caller, tenant_b: Caller
) -> None:
    response = await client.post(
        f"{API}/credentials",
        headers=tenant_a.headers,
        json={"name": "CRM_TOKEN", "value": SECRET, "category": "http"},
    )
    assert response.status_code == 201, response.text
    execution_ids = [uuid.uuid4(), uuid.uuid4()]
    for execution_id in execution_ids:
        async with runtime.sessionmaker.begin() as session:
            await record(
                session,
                tenant_id=tenant_a.tenant_id or 0,
                kind="tool_call",
                code="tool_failed",
                message=f"The CRM answered 401 for token {SECRET}",
                subject="tool:crm_lookup",
                execution_id=execution_id,
                scrubber=runtime.secrets.scrubber(tenant_a.tenant_id or 0),
            )

    listed = await client.get(f"{API}/error-logs", headers=tenant_a.headers)

    assert listed.status_code == 200, listed.text
    assert SECRET not in listed.text
    page = listed.json()
    assert page["total"] == 1
    [entry] = page["items"]
    assert entry["error_message"] == "The CRM answered 401 for token [SECRET]"
    assert (entry["error_type"], entry["error_code"], entry["subject"]) == (
        "tool_call",
        "tool_failed",
        "tool:crm_lookup",
    )
    assert entry["occurrences"] == 2
    assert entry["execution_id"] == str(execution_ids[-1])  # where it was last seen
    by_execution = await client.get(
        f"{API}/error-logs",
        headers=tenant_a.headers,
        params={"execution_id": str(execution_ids[-1]), "kind": "tool_call"},
    )
    assert by_execution.json()["total"] == 1
    assert (await client.get(f"{API}/error-logs", headers=tenant_b.headers)).json()["total"] == 0
    other_kind = await client.get(
        f"{API}/error-logs", headers=tenant_a.headers, params={"kind": "sync"}
    )
    assert other_kind.json()["total"] == 0
    error_of(
        await client.get(f"{API}/error-logs", headers=tenant_a.headers, params={"kind": "nope"}),
        422,
    )


async def test_only_admins_read_the_error_log(
    client: httpx.AsyncClient, runtime: Runtime, tenant_a: Caller
) -> None:
    member = await create_key(client, tenant_a.headers, "member key", role="member")
    response = await client.get(
        f"{API}/error-logs", headers={"Authorization": f"Bearer {member['api_key']}"}
    )
    error_of(response, 403, "forbidden")


async def test_an_unknown_kind_is_a_programming_error(runtime: Runtime, tenant_a: Caller) -> None:
    async with runtime.sessionmaker.begin() as session:
        with pytest.raises(ValueError, match="unknown error kind"):
            await record(
                session,
                tenant_id=tenant_a.tenant_id or 0,
                kind="cosmic_ray",
                message="x",
                scrubber=runtime.secrets.scrubber(tenant_a.tenant_id or 0),
            )
