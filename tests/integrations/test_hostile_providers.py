"""A provider that lies or misbehaves: rate limits, malformed JSON, huge or slow answers, page
tokens that loop or never end, more items than asked, links outside its API, a token endpoint
answering garbage. Each ends the sync with a clear error (or defers it) and loses nothing:
the next sync resumes from the last page stored."""

import json

import pytest

from orchestrator_service.integrations.sync import SyncDeferred
from tests.helpers import Caller, error_of
from tests.integrations.helpers import Served
from tests.integrations.standin import ProviderStandIn

LIST = "/gmail/v1/users/me/messages"


async def _gmail_with(served: Served, providers: ProviderStandIn, ana: Caller, count: int) -> dict:
    for n in range(count):
        providers.add_gmail(f"Mensaje {n}", f"texto {n}")
    return await served.connect(ana, providers, "gmail")


def _no_secret(providers: ProviderStandIn, *texts: str) -> None:
    secrets = set(providers.access) | set(providers.grants)
    for text in texts:
        for secret in secrets:
            assert secret not in text


async def test_a_rate_limit_defers_the_job_and_the_sync_resumes_where_it_stopped(
    served: Served, providers: ProviderStandIn, ana: Caller
) -> None:
    """429 with Retry-After on the second page: the job is deferred by that long, the first
    page stays stored, and the next run starts at the second page's token."""
    integration = await _gmail_with(served, providers, ana, 5)
    providers.fault(LIST, "ok", "429")
    with pytest.raises(SyncDeferred) as deferred:
        await served.sync(integration["id"])
    assert deferred.value.delay == 7
    state = await served.get(ana, integration["id"])
    assert state["sync"]["status"] == "throttled"
    assert len(await served.emails(integration["id"])) == 2

    calls = len(providers.requests)
    await served.sync(integration["id"])
    lists = [r for r in providers.requests[calls:] if r.path == LIST]
    assert lists[0].query["pageToken"] == ["2"]
    assert len(await served.emails(integration["id"])) == 5
    assert (await served.get(ana, integration["id"]))["sync"]["status"] == "done"


@pytest.mark.parametrize(
    ("fault", "phrase"),
    [
        ("malformed", "not JSON"),
        ("huge", "answered more than 131072 bytes"),
        ("slow", "did not answer in time"),
        ("html", "refused the request (502)"),
        ("loop", "page token it had already given"),
        ("oversized", "1500 items on one page"),
        ("bad_id", "an item id that is not a plain id"),
    ],
)
async def test_a_lying_page_fails_the_sync_clearly_and_the_next_run_recovers(
    served: Served, providers: ProviderStandIn, ana: Caller, fault: str, phrase: str
) -> None:
    """The second page is bad: the sync fails with a message saying how, keeps the first
    page and its cursor, and the next run (the provider behaving again) finishes without
    duplicates."""
    integration = await _gmail_with(served, providers, ana, 5)
    providers.fault(LIST, "ok", fault)
    await served.sync(integration["id"])
    state = await served.get(ana, integration["id"])
    assert state["status"] == "connected"
    assert state["sync"]["status"] == "failed"
    assert phrase in state["sync"]["last_error"]
    _no_secret(providers, json.dumps(state))
    assert len(await served.emails(integration["id"])) == 2

    await served.sync(integration["id"])
    assert len(await served.emails(integration["id"])) == 5
    assert (await served.get(ana, integration["id"]))["sync"]["status"] == "done"


async def test_endless_page_tokens_stop_at_the_page_limit(
    served: Served, providers: ProviderStandIn, ana: Caller
) -> None:
    """A provider promising one more page forever is stopped at ORCH_INTEGRATION_MAX_PAGES
    (50 here)."""
    integration = await _gmail_with(served, providers, ana, 1)
    providers.endless_pages = True
    await served.sync(integration["id"])
    state = await served.get(ana, integration["id"])
    assert "read 50 pages" in state["sync"]["last_error"]
    assert len([r for r in providers.requests if r.path == LIST]) == 50


async def test_a_graph_link_outside_the_api_is_never_followed(
    served: Served, providers: ProviderStandIn, ana: Caller
) -> None:
    """An @odata.nextLink pointing at the cloud metadata address is refused before any
    connection (the network fence fails the test on any attempt beyond loopback)."""
    providers.add_graph_message("Hola", "hola")
    integration = await served.connect(ana, providers, "outlook_mail")
    providers.fault("/graph/v1.0/me/mailFolders/inbox/messages/delta", "outside")
    await served.sync(integration["id"])
    state = await served.get(ana, integration["id"])
    assert "outside its configured base URL" in state["sync"]["last_error"]
    assert not [r for r in providers.requests if "latest" in r.path]


@pytest.mark.parametrize(
    ("fault", "phrase"),
    [("malformed", "without JSON"), ("huge", "more than"), ("slow", "in time")],
)
async def test_a_token_endpoint_answering_garbage_is_a_502_that_names_no_token(
    served: Served, providers: ProviderStandIn, ana: Caller, fault: str, phrase: str
) -> None:
    """The code exchange gets garbage: a 502 saying what went wrong, the integration in
    error saying to connect again, nothing stored in the vault."""
    started = await served.start(ana, "gmail")
    code, state = providers.consent(started["authorization_url"])
    providers.fault("/google/token", fault)
    response = await served.callback(ana, code=code, state=state)
    error = error_of(response, 502, "integration_failed")
    assert phrase in error["message"]
    assert code not in response.text
    integration = await served.get(ana, started["integration"]["id"])
    assert integration["status"] == "error"
    assert "connect again" in integration["status_reason"]


async def test_every_provider_call_passes_the_ssrf_guard(
    served: Served, providers: ProviderStandIn, ana: Caller
) -> None:
    """With loopback no longer allow-listed, the sync is refused at the guard, before any
    connection: the stand-in receives nothing and the error names the host, nothing more."""
    integration = await _gmail_with(served, providers, ana, 1)
    served.runtime.guard.allowed_networks.clear()
    calls = len(providers.requests)
    await served.sync(integration["id"])
    state = await served.get(ana, integration["id"])
    assert state["sync"]["last_error"] == "The API at 127.0.0.1 is not an allowed destination"
    assert len(providers.requests) == calls
