"""Outbound webhooks end to end: an event's delivery verified by the `standardwebhooks`
library on a loopback receiver, secret rotation (both signatures during the grace period), a
retried delivery through the job worker, an endpoint disabled after repeated failures,
manual redelivery, and refusals: private and metadata URLs (before any connection),
redirects to them, slow and lying receivers."""

import json
import uuid

import httpx
import pytest
from sqlalchemy import text
from standardwebhooks import Webhook as Verifier
from standardwebhooks.webhooks import WebhookVerificationError

from orchestrator_service.bootstrap import Runtime, running_jobs
from tests.helpers import Caller, error_of, eventually
from tests.network import NetworkSpy
from tests.webhooks.receiver import Answer, Receiver

API = "/api/v1"


async def subscribe(client: httpx.AsyncClient, caller: Caller, url: str, events: list[str]) -> dict:
    """Create an endpoint; its body, with the secret shown once."""
    response = await client.post(
        f"{API}/webhooks", headers=caller.headers, json={"url": url, "events": events}
    )
    assert response.status_code == 201, response.text
    return response.json()


async def close_a_conversation(client: httpx.AsyncClient, caller: Caller) -> str:
    """Open a conversation and close it (the `conversation.closed` event); its id."""
    response = await client.post(f"{API}/conversations", headers=caller.headers, json={})
    assert response.status_code == 201, response.text
    conversation_id = response.json()["id"]
    response = await client.patch(
        f"{API}/conversations/{conversation_id}", headers=caller.headers, json={"status": "closed"}
    )
    assert response.status_code == 200, response.text
    return conversation_id


async def deliveries(client: httpx.AsyncClient, caller: Caller, webhook_id: str) -> list[dict]:
    """An endpoint's delivery log, newest first."""
    response = await client.get(f"{API}/webhooks/{webhook_id}/deliveries", headers=caller.headers)
    assert response.status_code == 200, response.text
    return response.json()["items"]


async def detail(client: httpx.AsyncClient, caller: Caller, webhook_id: str, delivery_id: str):
    """One delivery with its payload and tries."""
    response = await client.get(
        f"{API}/webhooks/{webhook_id}/deliveries/{delivery_id}", headers=caller.headers
    )
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture
def loopback(runtime: Runtime) -> Runtime:
    """The runtime with the loopback receiver allow-listed (as an operator would allow an
    internal host with ORCH_OUTBOUND_ALLOWED_HOSTS)."""
    runtime.guard.allow("127.0.0.1")
    return runtime


async def test_a_delivery_verifies_with_the_standardwebhooks_library(
    client: httpx.AsyncClient, loopback: Runtime, tenant_a: Caller, receiver: Receiver
) -> None:
    webhook = await subscribe(client, tenant_a, receiver.url, ["conversation.closed"])
    assert webhook["secret"].startswith("whsec_")
    conversation_id = await close_a_conversation(client, tenant_a)
    [queued] = await deliveries(client, tenant_a, webhook["id"])
    assert queued["status"] == "pending" and queued["event"] == "conversation.closed"

    assert await loopback.webhooks.deliver(uuid.UUID(queued["id"])) is None

    [request] = receiver.requests
    message = Verifier(webhook["secret"]).verify(request.body, request.headers)
    assert message["type"] == "conversation.closed"
    assert message["data"]["conversation_id"] == conversation_id
    assert request.headers["webhook-id"] == f"msg_{uuid.UUID(queued['id']).hex}"
    # Another secret does not verify it: the signature is really checked.
    with pytest.raises(WebhookVerificationError):
        Verifier("whsec_" + "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUE=").verify(
            request.body, request.headers
        )
    done = await detail(client, tenant_a, webhook["id"], queued["id"])
    assert done["status"] == "succeeded" and done["attempts"] == 1
    assert [(a["attempt"], a["succeeded"], a["status_code"]) for a in done["attempts_log"]] == [
        (1, True, 204)
    ]
    assert done["payload"] == json.loads(request.body)
    # The secret is in the vault, never in an answer about the endpoint or its deliveries.
    for path in (f"/webhooks/{webhook['id']}", f"/webhooks/{webhook['id']}/deliveries"):
        response = await client.get(f"{API}{path}", headers=tenant_a.headers)
        assert webhook["secret"] not in response.text
    async with loopback.sessionmaker() as session:
        rows = await session.execute(text("SELECT * FROM webhooks"))
        assert webhook["secret"] not in str(rows.all())


async def test_a_rotated_secret_keeps_the_old_one_signing_during_the_grace_period(
    client: httpx.AsyncClient, loopback: Runtime, tenant_a: Caller, receiver: Receiver
) -> None:
    webhook = await subscribe(client, tenant_a, receiver.url, ["*"])
    response = await client.post(
        f"{API}/webhooks/{webhook['id']}/rotate-secret", headers=tenant_a.headers
    )
    assert response.status_code == 200, response.text
    rotated = response.json()
    assert rotated["secret"] != webhook["secret"]
    assert rotated["previous_secret_expires_at"] is not None

    await close_a_conversation(client, tenant_a)
    [queued] = await deliveries(client, tenant_a, webhook["id"])
    await loopback.webhooks.deliver(uuid.UUID(queued["id"]))

    [request] = receiver.requests
    assert len(request.headers["webhook-signature"].split(" ")) == 2
    for secret in (webhook["secret"], rotated["secret"]):  # a receiver with either verifies
        assert Verifier(secret).verify(request.body, request.headers)["type"] == (
            "conversation.closed"
        )


async def test_a_failed_delivery_is_retried_by_the_worker_with_backoff(
    client: httpx.AsyncClient, loopback: Runtime, tenant_a: Caller, receiver: Receiver
) -> None:
    receiver.script = [Answer(503), Answer(500)]
    webhook = await subscribe(client, tenant_a, receiver.url, ["conversation.closed"])
    await close_a_conversation(client, tenant_a)

    async with running_jobs(loopback):
        [done] = await eventually(
            lambda: deliveries(client, tenant_a, webhook["id"]),
            lambda items: items[0]["status"] != "pending",
            attempts=100,
        )

    assert done["status"] == "succeeded" and done["attempts"] == 3
    tries = (await detail(client, tenant_a, webhook["id"], done["id"]))["attempts_log"]
    assert [(t["succeeded"], t["status_code"]) for t in tries] == [
        (False, 503),
        (False, 500),
        (True, 204),
    ]
    assert len({r.headers["webhook-id"] for r in receiver.requests}) == 1  # one message
    for request in receiver.requests:
        Verifier(webhook["secret"]).verify(request.body, request.headers)
    endpoint = (
        await client.get(f"{API}/webhooks/{webhook['id']}", headers=tenant_a.headers)
    ).json()
    assert endpoint["consecutive_failures"] == 0 and endpoint["is_active"]
    # Each failure is in the error log, with the endpoint as its subject.
    errors = (await client.get(f"{API}/error-logs", headers=tenant_a.headers)).json()["items"]
    assert sorted((e["error_type"], e["error_message"], e["occurrences"]) for e in errors) == [
        ("webhook_delivery", "Delivery to 127.0.0.1 failed: the receiver answered 500", 1),
        ("webhook_delivery", "Delivery to 127.0.0.1 failed: the receiver answered 503", 1),
    ]
    assert {e["subject"] for e in errors} == {f"webhook:{webhook['id']}"}


async def test_an_endpoint_that_keeps_failing_is_disabled_and_can_be_redelivered_to(
    client: httpx.AsyncClient, loopback: Runtime, tenant_a: Caller, receiver: Receiver
) -> None:
    receiver.default = Answer(500)
    webhook = await subscribe(client, tenant_a, receiver.url, ["conversation.closed"])
    for _ in range(2):
        await close_a_conversation(client, tenant_a)
    second, first = await deliveries(client, tenant_a, webhook["id"])

    # The first gives up after 3 tries (3 failures in a row); the second fails once more, the
    # 4th in a row: the endpoint is disabled.
    delays = [await loopback.webhooks.deliver(uuid.UUID(first["id"])) for _ in range(3)]
    assert delays[0] is not None and delays[1] is not None and delays[1] > delays[0]
    assert delays[2] is None
    assert await loopback.webhooks.deliver(uuid.UUID(second["id"])) is None

    endpoint = (
        await client.get(f"{API}/webhooks/{webhook['id']}", headers=tenant_a.headers)
    ).json()
    assert endpoint["is_active"] is False
    assert endpoint["disabled_reason"] == "failures"
    assert endpoint["consecutive_failures"] == 4
    statuses = {d["id"]: d["status"] for d in await deliveries(client, tenant_a, webhook["id"])}
    assert statuses == {first["id"]: "failed", second["id"]: "failed"}
    # A disabled endpoint gets nothing new, and refuses a redelivery until enabled.
    await close_a_conversation(client, tenant_a)
    assert len(await deliveries(client, tenant_a, webhook["id"])) == 2
    redeliver = f"{API}/webhooks/{webhook['id']}/deliveries/{first['id']}/redeliver"
    error_of(await client.post(redeliver, headers=tenant_a.headers), 409, "conflict")

    response = await client.patch(
        f"{API}/webhooks/{webhook['id']}", headers=tenant_a.headers, json={"is_active": True}
    )
    assert response.json()["consecutive_failures"] == 0
    receiver.default = Answer(200)
    response = await client.post(redeliver, headers=tenant_a.headers)
    assert response.status_code == 202, response.text
    assert await loopback.webhooks.deliver(uuid.UUID(first["id"])) is None
    again = await detail(client, tenant_a, webhook["id"], first["id"])
    assert again["status"] == "succeeded" and again["attempts"] == 4
    ids = [r.headers["webhook-id"] for r in receiver.requests]
    assert ids[-1] == ids[0]  # the same message, so the receiver can deduplicate


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.7/hooks",
        "http://[::ffff:169.254.169.254]/x",
        "http://127.0.0.1:9/hooks",
        "http://0.0.0.0/",
        "http://localhost:8080/hooks",
        "http://[fd00:ec2::254]/latest",
        # What the C library reads as an address without asking DNS, not names to resolve.
        "http://0x7f000001/hooks",
        "http://2130706433/hooks",
        "http://0177.0.0.1/hooks",
        "http://127.1/hooks",
        "http://0xa9.0xfe.0xa9.0xfe/latest",
        "http://169.254.169.254./latest",
    ],
)
async def test_a_private_or_metadata_url_is_refused_before_any_connection(
    client: httpx.AsyncClient, runtime: Runtime, tenant_a: Caller, network: NetworkSpy, url: str
) -> None:
    response = await client.post(
        f"{API}/webhooks", headers=tenant_a.headers, json={"url": url, "events": ["*"]}
    )
    error_of(response, 422, "destination_blocked")
    assert network.connections == []


async def test_a_host_that_rebinds_to_a_private_address_is_refused_at_delivery(
    client: httpx.AsyncClient, loopback: Runtime, tenant_a: Caller, network: NetworkSpy
) -> None:
    answers = {"hooks.tenant.test": ["127.0.0.1"]}  # allowed (the loopback allow-list)

    async def resolver(host: str, port: int) -> list[str]:
        return answers[host]

    loopback.guard.resolver = resolver
    webhook = await subscribe(client, tenant_a, "https://hooks.tenant.test/in", ["*"])
    answers["hooks.tenant.test"] = ["169.254.169.254"]  # DNS changes after the check
    await close_a_conversation(client, tenant_a)
    [queued] = await deliveries(client, tenant_a, webhook["id"])

    assert await loopback.webhooks.deliver(uuid.UUID(queued["id"])) is not None

    assert network.connections == []  # refused before a socket opened
    tried = await detail(client, tenant_a, webhook["id"], queued["id"])
    assert tried["last_error"].startswith("the destination is not allowed")


async def test_redirects_slow_and_lying_receivers_fail_within_bounds(
    client: httpx.AsyncClient,
    loopback: Runtime,
    tenant_a: Caller,
    receiver: Receiver,
    network: NetworkSpy,
) -> None:
    receiver.script = [
        Answer(302, {"Location": "http://169.254.169.254/latest/meta-data/"}),
        Answer(200, body=b"x" * 4096),  # over the 1 KiB cap
        Answer(200, {"Content-Length": "100000000"}, b"tiny"),  # lies about its length
        Answer(200, body=b"." * 200, drip=0.05),  # 10 s of dripping, past the 1.5 s deadline
    ]
    webhook = await subscribe(client, tenant_a, receiver.url, ["conversation.closed"])
    await close_a_conversation(client, tenant_a)
    [queued] = await deliveries(client, tenant_a, webhook["id"])

    errors = []
    for _ in range(3):
        await loopback.webhooks.deliver(uuid.UUID(queued["id"]))
        errors.append((await detail(client, tenant_a, webhook["id"], queued["id"]))["last_error"])
    assert errors == [
        "the receiver redirected (not followed)",
        "the receiver's answer was larger than allowed",
        "the receiver's answer was larger than allowed",
    ]
    # The 3rd try gave up (3 attempts); a redelivery meets the dripping receiver.
    response = await client.post(
        f"{API}/webhooks/{webhook['id']}/deliveries/{queued['id']}/redeliver",
        headers=tenant_a.headers,
    )
    assert response.status_code == 202
    await loopback.webhooks.deliver(uuid.UUID(queued["id"]))
    last = await detail(client, tenant_a, webhook["id"], queued["id"])
    assert last["last_error"] == "the receiver did not answer in time"
    assert last["status"] == "failed"
    assert {host for host, _ in network.connections} == {"127.0.0.1"}  # never the redirect


async def test_unknown_events_and_bad_urls_are_refused_with_what_is_wrong(
    client: httpx.AsyncClient, runtime: Runtime, tenant_a: Caller
) -> None:
    for body, needle in [
        ({"url": "https://example.com/h", "events": ["run.exploded"]}, "unknown events"),
        ({"url": "ftp://example.com/h", "events": ["*"]}, "https://"),
        ({"url": "https://user:pw@example.com/h", "events": ["*"]}, "user name"),
        ({"url": "https://example.com/h", "events": []}, "events"),
    ]:
        response = await client.post(f"{API}/webhooks", headers=tenant_a.headers, json=body)
        assert needle in response.text, response.text
        error_of(response, 422)


async def test_a_signing_secret_overwritten_in_the_vault_fails_the_try_not_the_worker(
    client: httpx.AsyncClient, loopback: Runtime, tenant_a: Caller, receiver: Receiver
) -> None:
    webhook = await subscribe(client, tenant_a, receiver.url, ["conversation.closed"])
    credentials = await client.get(f"{API}/credentials", headers=tenant_a.headers)
    [signing] = [
        c for c in credentials.json()["items"] if c["name"] == f"webhook:{webhook['id']}:signing"
    ]
    assert webhook["secret"] not in credentials.text
    response = await client.patch(
        f"{API}/credentials/{signing['id']}",
        headers=tenant_a.headers,
        json={"value": "not base64 at all!"},
    )
    assert response.status_code == 200, response.text
    await close_a_conversation(client, tenant_a)
    [queued] = await deliveries(client, tenant_a, webhook["id"])

    assert await loopback.webhooks.deliver(uuid.UUID(queued["id"])) is not None

    tried = await detail(client, tenant_a, webhook["id"], queued["id"])
    assert tried["last_error"] == "the signing secret in the vault is not a whsec_ secret"
    assert receiver.requests == []  # nothing unsigned was sent
