"""Connecting: the OAuth 2.0 authorization code flow with PKCE (S256) and a state bound to the
user, tokens sealed in the vault and shown nowhere, and every way a callback can be wrong."""

import asyncio
import json
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import httpx
from sqlalchemy import select, update

from orchestrator_service.audit.service import Actor
from orchestrator_service.credentials.models import Credential
from orchestrator_service.credentials.service import MANAGED_CATEGORY
from orchestrator_service.errors import NotFound
from orchestrator_service.integrations.models import OAuthState
from tests.helpers import PASSWORD, Caller, create_user, error_of, login
from tests.integrations.helpers import API, Served
from tests.integrations.standin import ProviderStandIn


async def _managed(served: Served) -> list[Credential]:
    async with served.runtime.sessionmaker() as session:
        rows = await session.scalars(
            select(Credential).where(Credential.category == MANAGED_CATEGORY)
        )
        return list(rows)


async def test_connecting_gmail_stores_tokens_in_the_vault_and_queues_a_sync(
    served: Served, providers: ProviderStandIn, ana: Caller
) -> None:
    """The authorization URL carries the client, the redirect URI, the state and an S256
    challenge; the callback trades the code (with the verifier the stand-in checks against the
    challenge) for tokens, which go to the vault, sealed, and appear in no answer."""
    started = await served.start(ana, "gmail")
    query = parse_qs(urlsplit(started["authorization_url"]).query)
    assert query["scope"] == ["https://www.googleapis.com/auth/gmail.readonly"]
    assert query["access_type"] == ["offline"]
    assert started["integration"]["status"] == "pending"

    code, state = providers.consent(started["authorization_url"])
    response = await served.callback(ana, code=code, state=state)
    assert response.status_code == 200, response.text
    integration = response.json()
    assert integration["status"] == "connected"
    assert integration["sync"]["status"] == "queued"
    assert integration["visibility"] == "private"

    token_calls = [r for r in providers.requests if r.path == "/google/token"]
    assert [r.form["grant_type"] for r in token_calls] == [["authorization_code"]]
    assert token_calls[0].form["code_verifier"][0]  # the stand-in checked it against S256

    secrets = {r.authorization for r in providers.requests} | set(providers.grants)
    secrets |= set(providers.access)
    secrets.discard("")
    stored = await _managed(served)
    assert {c.name.rsplit(":", 1)[1] for c in stored} == {"access", "refresh"}
    assert all(c.value.startswith("orchv1.") and c.hint is None for c in stored)
    for secret in secrets:
        assert all(secret not in c.value for c in stored)
    seen = [response.text, (await served.client.get(API, headers=ana.headers)).text]
    seen.append((await served.client.get("/api/v1/credentials", headers=served.admin.headers)).text)
    seen.append((await served.client.get("/api/v1/audit-logs", headers=served.admin.headers)).text)
    for text in seen:
        for secret in secrets:
            assert secret not in text


async def test_the_credentials_api_and_tools_never_reach_an_integrations_tokens(
    served: Served, providers: ProviderStandIn, ana: Caller
) -> None:
    """Tokens live in the credentials table but belong to their integration: the credentials
    API neither lists, shows, edits nor deletes them, nor lets anyone store one of that
    category, and no tool can resolve one by name."""
    await served.connect(ana, providers, "gmail")
    stored = await _managed(served)
    admin = served.admin.headers
    listed = (await served.client.get("/api/v1/credentials", headers=admin)).json()
    assert {c["id"] for c in listed["items"]}.isdisjoint({str(c.id_uuid) for c in stored})
    for credential in stored:
        path = f"/api/v1/credentials/{credential.id_uuid}"
        error_of(await served.client.get(path, headers=admin), 404, "not_found")
        patch = {"allowed_hosts": ["127.0.0.1"]}
        error_of(await served.client.patch(path, headers=admin, json=patch), 404, "not_found")
        error_of(await served.client.delete(path, headers=admin), 404, "not_found")
        actor = Actor(tenant_id=served.admin.tenant_id, user_id=None, key_id=None, label="t")
        try:
            await served.runtime.secrets.resolve(
                tenant_id=served.admin.tenant_id or 0,
                name=credential.name,
                consumer="tool:test",
                destination=providers.base_url,
                actor=actor,
            )
        except NotFound:
            pass
        else:
            raise AssertionError("a tool resolved an integration's token")
    body = {"name": "squat", "value": "x" * 20, "category": MANAGED_CATEGORY}
    error_of(await served.client.post("/api/v1/credentials", headers=admin, json=body), 422)
    assert len(await _managed(served)) == len(stored)


async def test_a_replayed_state_is_refused(
    served: Served, providers: ProviderStandIn, ana: Caller
) -> None:
    """A state works once: the second callback with it is a 422, and calls no provider."""
    started = await served.start(ana, "google_calendar")
    code, state = providers.consent(started["authorization_url"])
    assert (await served.callback(ana, code=code, state=state)).status_code == 200
    calls = len(providers.requests)
    error = error_of(await served.callback(ana, code=code, state=state), 422, "invalid_input")
    assert "already used" in error["message"]
    assert len(providers.requests) == calls


async def test_another_users_state_is_refused_and_stays_usable_by_its_owner(
    served: Served, providers: ProviderStandIn, ana: Caller, bruno: Caller
) -> None:
    """Bruno posting Ana's state (and code) gets the same 422 as for an unknown state, and
    Ana's connection still completes afterwards."""
    started = await served.start(ana, "gmail")
    code, state = providers.consent(started["authorization_url"])
    error_of(await served.callback(bruno, code=code, state=state), 422, "invalid_input")
    error_of(await served.callback(bruno, code=code, state="forged-" + state), 422, "invalid_input")
    assert not [r for r in providers.requests if r.path == "/google/token"]
    response = await served.callback(ana, code=code, state=state)
    assert response.status_code == 200, response.text
    listed = (await served.client.get(API, headers=bruno.headers)).json()
    assert listed["items"] == []


async def test_an_expired_state_is_refused(
    served: Served, providers: ProviderStandIn, ana: Caller
) -> None:
    """A state past its lifetime is refused like an unknown one."""
    started = await served.start(ana, "gmail")
    code, state = providers.consent(started["authorization_url"])
    async with served.runtime.sessionmaker.begin() as session:
        past = datetime.now(UTC) - timedelta(seconds=1)
        await session.execute(update(OAuthState).values(expires_at=past))
    error_of(await served.callback(ana, code=code, state=state), 422, "invalid_input")
    assert not [r for r in providers.requests if r.path == "/google/token"]


async def test_a_bad_or_missing_code_is_a_clear_422(
    served: Served, providers: ProviderStandIn, ana: Caller
) -> None:
    """No code and no error: 422 and the state survives. A code the provider refuses: 422, and
    the integration says to connect again. A declined consent: 422 likewise."""
    started = await served.start(ana, "gmail")
    _, state = providers.consent(started["authorization_url"])
    error = error_of(await served.callback(ana, state=state), 422, "invalid_input")
    assert "neither" in error["message"]
    error_of(await served.client.post(f"{API}/callback", headers=ana.headers, json={}), 422)
    error = error_of(await served.callback(ana, state=state, code="4/0Awrong"), 422)
    assert "refused the authorization code" in error["message"]
    integration = await served.get(ana, started["integration"]["id"])
    assert integration["status"] == "error"
    assert "connect again" in integration["status_reason"]

    again = await served.start(ana, "gmail")  # an integration in error can be connected again
    assert again["integration"]["id"] == started["integration"]["id"]
    _, state = providers.consent(again["authorization_url"])
    error = error_of(await served.callback(ana, state=state, error="access_denied"), 422)
    assert "not granted" in error["message"]


async def test_integrations_need_a_user_a_configured_provider_and_one_per_kind(
    served: Served, providers: ProviderStandIn, ana: Caller
) -> None:
    """A key acting for no user cannot connect (403); a second integration of a connected
    kind is a 409; an unknown kind a 422."""
    error = error_of(
        await served.client.post(API, headers=served.admin.headers, json={"kind": "gmail"}), 403
    )
    assert "belong to a user" in error["message"]
    await served.connect(ana, providers, "outlook_mail")
    response = await served.client.post(API, headers=ana.headers, json={"kind": "outlook_mail"})
    error_of(response, 409, "conflict")
    error_of(await served.client.post(API, headers=ana.headers, json={"kind": "imap"}), 422)


async def test_an_unconfigured_provider_is_a_clear_422(
    client: httpx.AsyncClient, tenant_a: Caller
) -> None:
    """Without the operator's OAuth client, connecting says which settings are missing."""
    await create_user(client, tenant_a.headers, "solo@example.com", password=PASSWORD)
    headers = {"Authorization": f"Bearer {await login(client, 'solo@example.com')}"}
    error = error_of(await client.post(API, headers=headers, json={"kind": "gmail"}), 422)
    assert "ORCH_GOOGLE_CLIENT_ID" in error["message"]


async def test_revoking_deletes_the_tokens(
    served: Served, providers: ProviderStandIn, ana: Caller
) -> None:
    """DELETE removes the integration and its tokens from the vault."""
    integration = await served.connect(ana, providers, "gmail")
    assert len(await _managed(served)) == 2
    path = f"{API}/{integration['id']}"
    assert (await served.client.delete(path, headers=ana.headers)).status_code == 204
    assert await _managed(served) == []
    error_of(await served.client.get(path, headers=ana.headers), 404, "not_found")
    log = await served.client.get(
        "/api/v1/audit-logs", headers=served.admin.headers, params={"resource_type": "integration"}
    )
    assert {e["action"] for e in log.json()["items"]} >= {"create", "update", "delete"}
    assert "ya29." not in json.dumps(log.json())


async def test_deleting_the_user_deletes_their_integrations_tokens(
    served: Served, providers: ProviderStandIn, ana: Caller
) -> None:
    """However an integration's row goes (here with its user, by the foreign key's cascade),
    its tokens go with it (a trigger, ledger step 0017)."""
    await served.connect(ana, providers, "gmail")
    assert len(await _managed(served)) == 2
    me = await served.client.get("/api/v1/me", headers=ana.headers)
    deleted = await served.client.delete(
        f"/api/v1/users/{me.json()['user_id']}", headers=served.admin.headers
    )
    assert deleted.status_code == 204, deleted.text
    assert await _managed(served) == []


async def test_two_callbacks_racing_with_one_state_connect_once(
    served: Served, providers: ProviderStandIn, ana: Caller
) -> None:
    """The same state posted twice at once: one callback connects, the other is refused, and
    the code is traded once."""
    started = await served.start(ana, "gmail")
    code, state = providers.consent(started["authorization_url"])
    first, second = await asyncio.gather(
        served.callback(ana, code=code, state=state), served.callback(ana, code=code, state=state)
    )
    assert sorted((first.status_code, second.status_code)) == [200, 422]
    assert len([r for r in providers.requests if r.path == "/google/token"]) == 1
