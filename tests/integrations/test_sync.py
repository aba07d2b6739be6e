"""Incremental sync against the stand-ins: pagination, deletions, idempotence, a cursor the
provider invalidates (full resync and sweep), access tokens expired or about to expire, and a
revoked grant."""

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select, update

from orchestrator_service.db.tenancy import visible
from orchestrator_service.integrations.models import Integration
from orchestrator_service.integrations.service import queue_due_syncs
from orchestrator_service.live.models import LiveEvent
from orchestrator_service.mail.models import Email
from tests.helpers import Caller
from tests.integrations.helpers import Served
from tests.integrations.standin import ProviderStandIn


async def _count_emails(served: Served) -> int:
    async with served.runtime.sessionmaker() as session:
        return await session.scalar(select(func.count()).select_from(Email)) or 0


async def test_gmail_full_then_incremental_by_history_id(
    served: Served, providers: ProviderStandIn, ana: Caller
) -> None:
    """Five messages over three pages, stored as Ana's private emails; then the history since
    the stored historyId (itself paginated) adds one and deletes one; a sync with nothing new
    changes nothing."""
    ids = [providers.add_gmail(f"Pedido {n}", f"Cuerpo del pedido {n}") for n in range(5)]
    integration = await served.connect(ana, providers, "gmail")
    await served.sync(integration["id"])

    emails = await served.emails(integration["id"])
    assert set(emails) == set(ids)
    first = emails[ids[0]]
    assert first.subject == "Pedido 0"
    assert "Cuerpo del pedido 0" in (first.body_text or "")
    assert first.from_address == "luis@example.com" and first.from_name == "Luis"
    assert first.visibility == "private" and first.is_read is False
    assert first.owner_user_id is not None
    state = await served.get(ana, integration["id"])
    assert state["sync"]["status"] == "done"
    assert state["sync"]["progress"]["stored"] == 5
    assert state["sync"]["progress"]["pages"] == 3
    assert state["sync"]["last_synced_at"] is not None
    async with served.runtime.sessionmaker() as session:
        pushed = list(
            await session.scalars(
                select(LiveEvent)
                .where(LiveEvent.data["integration_id"].astext == integration["id"])
                .order_by(LiveEvent.id)
            )
        )
    # One sync.progress event per stored page, to Ana only (her user id is the owner's).
    assert [e.event for e in pushed] == ["sync.progress"] * 3
    assert {e.user_id for e in pushed} == {first.owner_user_id}
    assert pushed[-1].data["status"] == "done" and pushed[-1].data["progress"]["stored"] == 5

    added = providers.add_gmail("Factura", "La factura de noviembre")
    providers.add_gmail("Tercero", "otro")
    providers.delete_gmail(ids[1])
    await served.sync(integration["id"])
    emails = await served.emails(integration["id"])
    assert added in emails and ids[1] not in emails
    assert len(emails) == 6
    history_calls = [r for r in providers.requests if r.path.endswith("/history")]
    assert len(history_calls) == 2  # three records, two per page
    assert "pageToken" in history_calls[1].query

    before = await _count_emails(served)
    await served.sync(integration["id"])
    assert await _count_emails(served) == before
    state = await served.get(ana, integration["id"])
    assert state["sync"]["progress"]["deleted"] == 1


async def test_gmail_history_too_old_means_a_full_resync_that_sweeps(
    served: Served, providers: ProviderStandIn, ana: Caller
) -> None:
    """When Gmail no longer keeps the stored historyId (404), the sync lists everything again
    and deletes what is no longer there."""
    keep = providers.add_gmail("Queda", "sigue")
    gone = providers.add_gmail("Se va", "borrado")
    integration = await served.connect(ana, providers, "gmail")
    await served.sync(integration["id"])
    with providers.lock:  # gone without a history record
        providers.gmail.items[gone].deleted = True
    providers.forget_gmail_history()
    await served.sync(integration["id"])
    assert set(await served.emails(integration["id"])) == {keep}
    state = await served.get(ana, integration["id"])
    assert state["sync"]["progress"]["full_resyncs"] == 1


async def test_google_calendar_by_sync_token_with_cancelled_events_and_410(
    served: Served, providers: ProviderStandIn, ana: Caller
) -> None:
    """events.list pages up to nextSyncToken; a cancelled event is deleted locally; a sync
    token answered 410 GONE triggers a full resync, whose sweep deletes what vanished."""
    standup = providers.add_event(
        "Reunión de equipo", "2026-12-03T10:00:00+01:00", "2026-12-03T11:00:00+01:00"
    )
    holiday = providers.add_event("Puente", "2026-12-08", "2026-12-09", all_day=True)
    dentist = providers.add_event("Dentista", "2026-12-04T17:00:00", "2026-12-04T18:00:00")
    integration = await served.connect(ana, providers, "google_calendar")
    await served.sync(integration["id"])
    events = await served.events(integration["id"])
    assert set(events) == {standup, holiday, dentist}
    assert events[standup].start_time == datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
    assert events[standup].timezone == "Europe/Madrid"
    assert events[holiday].is_all_day
    assert events[dentist].start_time == datetime(2026, 12, 4, 16, 0, tzinfo=UTC)

    providers.cancel_event(dentist)
    new = providers.add_event("Cena", "2026-12-05T21:00:00+01:00", "2026-12-05T23:00:00+01:00")
    await served.sync(integration["id"])
    events = await served.events(integration["id"])
    assert set(events) == {standup, holiday, new}
    assert any("syncToken" in r.query for r in providers.requests if "events" in r.path)

    providers.drop_event_silently(holiday)
    providers.invalidate_sync_tokens()
    await served.sync(integration["id"])
    assert set(await served.events(integration["id"])) == {standup, new}
    state = await served.get(ana, integration["id"])
    assert state["sync"]["progress"]["full_resyncs"] == 1
    assert state["sync"]["status"] == "done"


async def test_outlook_mail_and_calendar_by_delta_links(
    served: Served, providers: ProviderStandIn, ana: Caller
) -> None:
    """Graph delta pages follow @odata.nextLink to the @odata.deltaLink; the next round
    starts at the deltaLink and `@removed` items are deleted; an invalidated delta token
    (410) starts over."""
    messages = [providers.add_graph_message(f"Asunto {n}", f"texto {n}") for n in range(3)]
    meeting = providers.add_graph_event(
        "Revisión", "2026-12-02T15:00:00.0000000", "2026-12-02T16:00:00.0000000"
    )
    mail = await served.connect(ana, providers, "outlook_mail")
    calendar = await served.connect(ana, providers, "outlook_calendar")
    await served.sync(mail["id"])
    await served.sync(calendar["id"])
    stored = await served.emails(mail["id"])
    assert set(stored) == set(messages)
    assert (
        stored[messages[0]].is_important and stored[messages[0]].from_address == "eva@example.com"
    )
    events = await served.events(calendar["id"])
    assert events[meeting].start_time == datetime(2026, 12, 2, 15, 0, tzinfo=UTC)
    assert events[meeting].location == "Sala 2"

    providers.delete_graph_message(messages[0])
    later = providers.add_graph_message("Nuevo", "nuevo")
    providers.delete_graph_event(meeting)
    await served.sync(mail["id"])
    await served.sync(calendar["id"])
    assert set(await served.emails(mail["id"])) == {messages[1], messages[2], later}
    assert await served.events(calendar["id"]) == {}
    delta_calls = [r for r in providers.requests if r.path.endswith("messages/delta")]
    assert any("$deltatoken" in r.query for r in delta_calls)
    assert any("$skiptoken" in r.query for r in delta_calls)

    providers.invalidate_sync_tokens()
    await served.sync(mail["id"])
    assert set(await served.emails(mail["id"])) == {messages[1], messages[2], later}
    assert (await served.get(ana, mail["id"]))["sync"]["progress"]["full_resyncs"] == 1


async def test_an_expired_access_token_is_refreshed_and_the_call_retried(
    served: Served, providers: ProviderStandIn, ana: Caller
) -> None:
    """The provider answers 401 to an access token it expired: the sync refreshes it with
    the refresh token (in the vault) and goes on."""
    providers.add_gmail("Uno", "uno")
    integration = await served.connect(ana, providers, "gmail")
    providers.expire_access_tokens()
    await served.sync(integration["id"])
    assert len(await served.emails(integration["id"])) == 1
    grants = [r.form.get("grant_type") for r in providers.requests if r.path == "/google/token"]
    assert grants == [["authorization_code"], ["refresh_token"]]
    statuses = [r for r in providers.requests if r.path.endswith("/profile")]
    assert len(statuses) == 2  # refused once, then served with the new token


async def test_a_token_about_to_expire_is_refreshed_before_use(
    served: Served, providers: ProviderStandIn, ana: Caller
) -> None:
    """An access token expiring within the margin is refreshed before any API call."""
    integration = await served.connect(ana, providers, "google_calendar")
    async with served.runtime.sessionmaker.begin() as session:
        soon = datetime.now(UTC) + timedelta(seconds=30)
        await session.execute(update(Integration).values(token_expires_at=soon))
    calls = len(providers.requests)
    await served.sync(integration["id"])
    after = providers.requests[calls:]
    assert after[0].path == "/google/token" and after[0].form["grant_type"] == ["refresh_token"]
    assert all(r.authorization != "" for r in after[1:])
    state = await served.get(ana, integration["id"])
    expires = datetime.fromisoformat(state["token_expires_at"])
    assert expires > datetime.now(UTC) + timedelta(minutes=30)


async def test_a_revoked_grant_ends_the_integration_in_error_with_what_to_do(
    served: Served, providers: ProviderStandIn, ana: Caller
) -> None:
    """The user revoked access at Google: the refresh answers invalid_grant, the integration
    ends in `error` saying to connect again, and its tokens are deleted."""
    integration = await served.connect(ana, providers, "gmail")
    providers.revoke()
    await served.sync(integration["id"])
    state = await served.get(ana, integration["id"])
    assert state["status"] == "error"
    assert "Google no longer accepts" in state["status_reason"]
    assert "connect it again" in state["status_reason"]
    assert state["sync"]["status"] == "failed"
    async with served.runtime.sessionmaker() as session:
        left = await session.scalar(
            select(func.count()).select_from(Integration).where(Integration.status == "error")
        )
    assert left == 1
    response = await served.client.post(
        f"/api/v1/integrations/{integration['id']}/sync", headers=ana.headers
    )
    assert response.status_code == 409
    assert "connect it again" in response.json()["error"]["message"]


async def test_synced_mail_is_private_to_its_owner(
    served: Served, providers: ProviderStandIn, ana: Caller, bruno: Caller
) -> None:
    """What Ana's integration synced is hers: Bruno, and a key acting for no user, read none
    of it, and neither sees her integration."""
    providers.add_gmail("Privado", "solo para Ana")
    integration = await served.connect(ana, providers, "gmail")
    await served.sync(integration["id"])
    emails = await served.emails(integration["id"])
    owner = next(iter(emails.values())).owner_user_id
    me = await served.client.get("/api/v1/me", headers=bruno.headers)
    bruno_id = uuid.UUID(me.json()["user_id"])
    assert bruno_id != owner
    async with served.runtime.sessionmaker() as session:
        tenant = served.admin.tenant_id or 0
        assert (await session.scalars(visible(Email, tenant, bruno_id))).all() == []
        assert (await session.scalars(visible(Email, tenant, None))).all() == []
        assert len((await session.scalars(visible(Email, tenant, owner))).all()) == 1
    path = f"/api/v1/integrations/{integration['id']}"
    for method in ("GET", "DELETE"):
        response = await served.client.request(method, path, headers=bruno.headers)
        assert response.status_code == 404, response.text
    response = await served.client.post(f"{path}/sync", headers=bruno.headers)
    assert response.status_code == 404
    carla = await served.user("carla", role="admin")
    assert (await served.client.get(path, headers=carla.headers)).status_code == 404
    for caller in (bruno, carla, served.admin):
        listed = await served.client.get("/api/v1/integrations", headers=caller.headers)
        assert listed.json()["items"] == []
    assert (await served.get(ana, integration["id"]))["status"] == "connected"


async def test_integrations_not_synced_for_the_interval_are_queued_again(
    served: Served, providers: ProviderStandIn, ana: Caller
) -> None:
    """The periodic round queues the sync of connected integrations whose last sync is older
    than the interval, and leaves fresh, queued and disconnected ones alone."""
    stale = await served.connect(ana, providers, "gmail")
    fresh = await served.connect(ana, providers, "google_calendar")
    await served.sync(stale["id"])
    await served.sync(fresh["id"])
    pending = await served.start(ana, "outlook_mail")
    async with served.runtime.sessionmaker.begin() as session:
        old = datetime.now(UTC) - timedelta(hours=2)
        await session.execute(
            update(Integration)
            .where(Integration.id == uuid.UUID(stale["id"]))
            .values(last_synced_at=old)
        )
    async with served.runtime.sessionmaker.begin() as session:
        assert await queue_due_syncs(session, older_than=timedelta(hours=1)) == 1
    async with served.runtime.sessionmaker.begin() as session:
        assert await queue_due_syncs(session, older_than=timedelta(hours=1)) == 0
    assert (await served.get(ana, stale["id"]))["sync"]["status"] == "queued"
    assert (await served.get(ana, fresh["id"]))["sync"]["status"] == "done"
    assert (await served.get(ana, pending["integration"]["id"]))["sync"]["status"] == "idle"
