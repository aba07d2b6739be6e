"""The sync job: page after page from the integration's cursor, each page stored together with
the cursor after it in one transaction (so a sync stopped anywhere resumes there, and a page
stored twice changes nothing), no transaction open while the provider is called.

Access tokens are refreshed before they expire and once more if the provider refuses one. A
refused refresh token (`invalid_grant`) ends the integration in `error` with what the user
must do; a provider asking to slow down defers the job by its Retry-After; a cursor the
provider no longer honours starts a full resync, after which what the provider no longer has
is deleted locally.
"""

import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Protocol, TypeVar

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from orchestrator_service.config import Settings
from orchestrator_service.integrations.client import (
    AccessExpired,
    ApiClient,
    Gone,
    GrantRevoked,
    IntegrationFailed,
    Limits,
    OAuthClient,
    Throttled,
    expiry,
)
from orchestrator_service.integrations.items import EventItem, MailItem, Page
from orchestrator_service.integrations.models import Integration, SyncedItem
from orchestrator_service.integrations.providers import GOOGLE, Provider, provider
from orchestrator_service.integrations.sources import SOURCES
from orchestrator_service.integrations.tokens import ACCESS, REFRESH, TokenStore
from orchestrator_service.live.publish import publish_sync_progress
from orchestrator_service.tools.ssrf import Guard

log = logging.getLogger(__name__)
T = TypeVar("T")
# Full resyncs one run may start (a provider that keeps invalidating its cursor stops there).
MAX_RESYNCS = 2


class SyncDeferred(Exception):
    """The provider asked to wait: the job goes back to the queue for `delay` seconds."""

    def __init__(self, delay: float) -> None:
        super().__init__(delay)
        self.delay = delay


class LocalStore(Protocol):
    """Where synced items become the user's own email and calendar rows."""

    async def save(
        self,
        session: AsyncSession,
        integration: Integration,
        item: MailItem | EventItem,
        local_id: uuid.UUID | None,
    ) -> uuid.UUID:
        """Create (local_id None) or update the local row of an item; its id."""
        ...

    async def remove(
        self, session: AsyncSession, integration: Integration, local_ids: list[uuid.UUID]
    ) -> None:
        """Delete local rows the provider deleted."""
        ...


@dataclass(frozen=True)
class _Snapshot:
    tenant_id: int
    kind: str
    cursor: dict
    progress: dict


def revoked_reason(spec: Provider) -> str:
    """What a person reads when the provider stopped honouring the integration's grant."""
    name = "Google" if spec.family == GOOGLE else "Microsoft"
    return (
        f"{name} no longer accepts this integration's authorization (access was revoked, "
        "the password changed, or it expired): revoke this integration and connect it again"
    )


class Syncer:
    """Runs the sync of one integration at a time (the queue holds one job per integration)."""

    def __init__(
        self,
        *,
        sessionmaker: async_sessionmaker[AsyncSession],
        settings: Settings,
        tokens: TokenStore,
        oauth: OAuthClient,
        guard: Guard,
        limits: Limits,
        store: LocalStore,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._settings = settings
        self._tokens = tokens
        self._oauth = oauth
        self._guard = guard
        self._limits = limits
        self._store = store

    async def sync(self, integration_id: uuid.UUID) -> None:
        """Sync one integration from its cursor to the provider's present; `SyncDeferred`
        when the provider asks to wait."""
        snapshot = await self._begin(integration_id)
        if snapshot is None:
            return
        spec = provider(self._settings, snapshot.kind)
        try:
            access = await self._access_token(integration_id, spec, force=False)
            api = ApiClient(
                guard=self._guard, limits=self._limits, provider=spec, access_token=access
            )
            try:
                await self._pages(integration_id, spec, api, snapshot)
            finally:
                await api.aclose()
        except GrantRevoked:
            await self._end(integration_id, "failed", revoked_reason(spec), revoked=True)
        except Throttled as throttled:
            await self._end(
                integration_id, "throttled", f"The provider asked to wait {throttled.delay:.0f} s"
            )
            raise SyncDeferred(throttled.delay) from None
        except IntegrationFailed as exc:
            await self._end(integration_id, "failed", exc.message)
        except (TypeError, ValueError, KeyError, AttributeError, IndexError):
            log.exception("integration %s: an answer the sync could not read", integration_id)
            await self._end(
                integration_id, "failed", "The provider answered something the sync could not read"
            )

    async def _begin(self, integration_id: uuid.UUID) -> _Snapshot | None:
        async with self._sessionmaker.begin() as session:
            integration = await session.get(Integration, integration_id, with_for_update=True)
            if integration is None or integration.status != "connected":
                return None  # revoked, or waiting for the user: nothing to do
            integration.sync_status = "running"
            return _Snapshot(
                tenant_id=integration.tenant_id,
                kind=integration.kind,
                cursor=dict(integration.sync_cursor or {}),
                progress=dict(integration.sync_progress or {}),
            )

    async def _pages(
        self, integration_id: uuid.UUID, spec: Provider, api: ApiClient, snapshot: _Snapshot
    ) -> None:
        source = SOURCES[snapshot.kind]
        cursor, resyncs = snapshot.cursor, 0
        cursor.setdefault("generation", 0)
        cursor.pop("seen_pages", None)  # loop detection is per run
        while True:
            if cursor.get("pages", 0) >= self._settings.integration_max_pages:
                raise IntegrationFailed(
                    f"The sync read {self._settings.integration_max_pages} pages without "
                    "reaching the end (ORCH_INTEGRATION_MAX_PAGES); it stopped there"
                )
            try:
                page = await self._call(integration_id, spec, api, partial(source, api, cursor))
            except Gone:
                resyncs += 1
                if resyncs > MAX_RESYNCS:
                    raise IntegrationFailed(
                        "The provider kept invalidating the sync position; the sync stopped"
                    ) from None
                cursor = {"generation": cursor["generation"] + 1, "resyncs": resyncs}
                continue
            cursor["pages"] = cursor.get("pages", 0) + 1
            if not await self._store_page(integration_id, page, resynced=resyncs):
                return  # revoked meanwhile
            if page.done:
                return

    async def _call(
        self,
        integration_id: uuid.UUID,
        spec: Provider,
        api: ApiClient,
        call: Callable[[], Awaitable[T]],
    ) -> T:
        """Run a provider call; on a refused access token refresh it once and call again."""
        try:
            return await call()
        except AccessExpired:
            api.access_token = await self._access_token(integration_id, spec, force=True)
        try:
            return await call()
        except AccessExpired:
            raise IntegrationFailed(
                "The provider refused a freshly refreshed access token"
            ) from None

    async def _store_page(self, integration_id: uuid.UUID, page: Page, *, resynced: int) -> bool:
        """Store one page and the cursor after it; False when the integration is gone."""
        cursor = {k: v for k, v in page.cursor.items() if k != "seen_pages"}
        generation = cursor["generation"]
        async with self._sessionmaker.begin() as session:
            integration = await session.get(Integration, integration_id, with_for_update=True)
            if integration is None or integration.status != "connected":
                return False
            progress = dict(integration.sync_progress or {})
            for item in page.items:
                await self._save(session, integration, item, generation)
            removed = await self._remove(session, integration, page.removed)
            if page.done and page.full:
                removed += await self._sweep(session, integration, generation)
            progress["stored"] = progress.get("stored", 0) + len(page.items)
            progress["deleted"] = progress.get("deleted", 0) + removed
            progress["pages"] = progress.get("pages", 0) + 1
            progress["full_resyncs"] = progress.get("full_resyncs", 0) + (
                1 if resynced and page.done else 0
            )
            if page.done:
                cursor["pages"] = 0
                integration.sync_status = "done"
                integration.last_synced_at = datetime.now(UTC)
                integration.last_error = None
            integration.sync_cursor = cursor
            integration.sync_progress = progress
            await _announce(session, integration, progress)
        return True

    async def _save(
        self,
        session: AsyncSession,
        integration: Integration,
        item: MailItem | EventItem,
        generation: int,
    ) -> None:
        known = await session.scalar(
            select(SyncedItem).where(
                SyncedItem.integration_id == integration.id,
                SyncedItem.external_id == item.external_id,
            )
        )
        local_id = await self._store.save(
            session, integration, item, known.local_id if known is not None else None
        )
        await session.execute(
            insert(SyncedItem)
            .values(
                integration_id=integration.id,
                external_id=item.external_id,
                local_id=local_id,
                generation=generation,
            )
            .on_conflict_do_update(
                index_elements=["integration_id", "external_id"],
                set_={"local_id": local_id, "generation": generation},
            )
        )

    async def _remove(
        self, session: AsyncSession, integration: Integration, external_ids: list[str]
    ) -> int:
        if not external_ids:
            return 0
        gone = (
            await session.scalars(
                delete(SyncedItem)
                .where(
                    SyncedItem.integration_id == integration.id,
                    SyncedItem.external_id.in_(external_ids),
                )
                .returning(SyncedItem.local_id)
            )
        ).all()
        await self._store.remove(session, integration, list(gone))
        return len(gone)

    async def _sweep(self, session: AsyncSession, integration: Integration, generation: int) -> int:
        """After a full listing: delete what it did not see again."""
        gone = (
            await session.scalars(
                delete(SyncedItem)
                .where(
                    SyncedItem.integration_id == integration.id,
                    SyncedItem.generation < generation,
                )
                .returning(SyncedItem.local_id)
            )
        ).all()
        await self._store.remove(session, integration, list(gone))
        return len(gone)

    async def _access_token(self, integration_id: uuid.UUID, spec: Provider, *, force: bool) -> str:
        """The integration's access token, refreshed first when it expires within the margin
        (or when `force`d)."""
        margin = timedelta(seconds=self._settings.integration_refresh_margin_seconds)
        async with self._sessionmaker.begin() as session:
            integration = await session.get(Integration, integration_id)
            if integration is None:
                raise IntegrationFailed("The integration was revoked during its sync")
            tenant_id = integration.tenant_id
            expires = integration.token_expires_at
            access = await self._tokens.get(
                session, tenant_id=tenant_id, integration_id=integration_id, what=ACCESS
            )
            fresh = expires is None or expires - margin > datetime.now(UTC)
            if access is not None and fresh and not force:
                return access
            refresh = await self._tokens.get(
                session, tenant_id=tenant_id, integration_id=integration_id, what=REFRESH
            )
        if refresh is None:
            raise GrantRevoked()
        tokens = await self._oauth.refresh(spec, refresh)
        async with self._sessionmaker.begin() as session:
            integration = await session.get(Integration, integration_id, with_for_update=True)
            if integration is None:
                raise IntegrationFailed("The integration was revoked during its sync")
            await self._tokens.put(
                session,
                tenant_id=tenant_id,
                integration_id=integration_id,
                what=ACCESS,
                value=tokens.access_token,
            )
            if tokens.refresh_token is not None and tokens.refresh_token != refresh:
                await self._tokens.put(
                    session,
                    tenant_id=tenant_id,
                    integration_id=integration_id,
                    what=REFRESH,
                    value=tokens.refresh_token,
                )
            integration.token_expires_at = expiry(tokens.expires_in)
        return tokens.access_token

    async def _end(
        self, integration_id: uuid.UUID, status: str, error: str, *, revoked: bool = False
    ) -> None:
        async with self._sessionmaker.begin() as session:
            integration = await session.get(Integration, integration_id, with_for_update=True)
            if integration is None:
                return
            integration.sync_status = status
            integration.last_error = error
            await _announce(session, integration, dict(integration.sync_progress or {}))
            if revoked:
                integration.status = "error"
                integration.status_reason = error
                await self._tokens.drop(
                    session,
                    tenant_id=integration.tenant_id,
                    integration_id=integration_id,
                    what=(ACCESS, REFRESH),
                )
        log.warning("integration %s sync %s: %s", integration_id, status, error)


async def _announce(session: AsyncSession, integration: Integration, progress: dict) -> None:
    """Push the sync's state to the integration's owner over live updates (on commit)."""
    if integration.owner_user_id is None:
        return
    await publish_sync_progress(
        session,
        tenant_id=integration.tenant_id,
        user_id=integration.owner_user_id,
        integration_id=integration.id,
        data={
            "kind": integration.kind,
            "status": integration.sync_status,
            "last_error": integration.last_error,
            "progress": progress,
        },
    )
