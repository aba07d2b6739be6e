"""Connecting an integration (OAuth 2.0 authorization code with PKCE and a state bound to the
user), showing it, syncing it on request and revoking it.

The callback runs in transactions of its own: the state is consumed and committed before the
token endpoint is called (a replay finds nothing, whatever the call's outcome), and the tokens
are stored after it.
"""

import hashlib
import secrets
import uuid
from datetime import UTC, datetime, timedelta

from authlib.common.security import generate_token
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from orchestrator_service.audit.service import Actor
from orchestrator_service.config import Settings
from orchestrator_service.db.personal import PersonalRepository
from orchestrator_service.errors import Conflict, Forbidden, InvalidInput
from orchestrator_service.integrations.client import (
    GrantRevoked,
    IntegrationFailed,
    OAuthClient,
    expiry,
)
from orchestrator_service.integrations.models import Integration, OAuthState
from orchestrator_service.integrations.providers import provider
from orchestrator_service.integrations.schemas import CallbackIn, IntegrationOut, SyncOut
from orchestrator_service.integrations.tokens import ACCESS, REFRESH, VERIFIER, TokenStore
from orchestrator_service.jobs.queue import enqueue_sync
from orchestrator_service.pagination import PageParams

STATE_REFUSED = (
    "This connection attempt is unknown, already used or expired (or was started by someone "
    "else): start the connection again"
)


class IntegrationRows(PersonalRepository[Integration]):
    """The integrations one user may see (their own), audited."""

    model = Integration
    resource_type = "integration"
    what = "Integration"
    audited = ("kind", "status")
    conflicts = {
        "uq_integrations_tenant_id_owner_user_id_kind": "You already have an integration of "
        "this kind"
    }

    def audit_view(self, obj: Integration) -> dict:
        """Kind, status and whose it is (never a token: tokens are not columns)."""
        return {**super().audit_view(obj), "owner_user_id": str(obj.owner_user_id)}


def out(integration: Integration) -> IntegrationOut:
    """An integration as the API shows it (never a token)."""
    return IntegrationOut(
        id=integration.id,
        kind=integration.kind,
        status=integration.status,
        status_reason=integration.status_reason,
        scopes=list(integration.scopes or []),
        token_expires_at=integration.token_expires_at,
        owner_user_id=integration.owner_user_id,
        visibility=integration.visibility,
        sync=SyncOut(
            status=integration.sync_status,
            progress=dict(integration.sync_progress or {}),
            last_error=integration.last_error,
            last_synced_at=integration.last_synced_at,
        ),
        created_at=integration.created_at,
        updated_at=integration.updated_at,
    )


def _hash(state: str) -> str:
    return hashlib.sha256(state.encode()).hexdigest()


def _acting_user(user_id: uuid.UUID | None) -> uuid.UUID:
    if user_id is None:
        raise Forbidden(
            "Integrations belong to a user: call with a user's session or a key a user created "
            "(platform and CLI keys act for no user)"
        )
    return user_id


async def list_integrations(
    session: AsyncSession, *, tenant_id: int, user_id: uuid.UUID | None, page: PageParams
) -> tuple[list[Integration], str | None]:
    """The integrations the caller may see: their own."""
    return await IntegrationRows(session, tenant_id=tenant_id, user_id=user_id).page(page)


async def get_integration(
    session: AsyncSession, *, tenant_id: int, user_id: uuid.UUID | None, integration_id: object
) -> Integration:
    """One of the caller's integrations; another user's answers 404 like a missing one."""
    return await IntegrationRows(session, tenant_id=tenant_id, user_id=user_id).get(integration_id)


class Integrations:
    """Connects, syncs on request and revokes the integrations of users."""

    def __init__(
        self,
        *,
        sessionmaker: async_sessionmaker[AsyncSession],
        settings: Settings,
        tokens: TokenStore,
        oauth: OAuthClient,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._settings = settings
        self._tokens = tokens
        self._oauth = oauth

    def _redirect_uri(self) -> str:
        redirect = self._settings.integrations_redirect_uri
        if not redirect:
            raise InvalidInput(
                "Integrations are not set up on this service: the operator must set "
                "ORCH_INTEGRATIONS_REDIRECT_URI"
            )
        return redirect

    async def start(
        self,
        session: AsyncSession,
        *,
        tenant_id: int,
        user_id: uuid.UUID | None,
        kind: str,
        actor: Actor,
    ) -> tuple[Integration, str, datetime]:
        """Create (or take up again) the user's integration of `kind`, pending consent, and the
        authorization URL to send them to."""
        owner = _acting_user(user_id)
        spec = provider(self._settings, kind)
        if not spec.configured:
            family = spec.family.upper()
            raise InvalidInput(
                f"The {kind} integration is not set up on this service: the operator must set "
                f"ORCH_{family}_CLIENT_ID and ORCH_{family}_CLIENT_SECRET"
            )
        redirect_uri = self._redirect_uri()
        rows = IntegrationRows(session, tenant_id=tenant_id, user_id=owner)
        integration = await session.scalar(
            select(Integration)
            .where(
                Integration.tenant_id == tenant_id,
                Integration.owner_user_id == owner,
                Integration.kind == kind,
            )
            .with_for_update()
        )
        if integration is not None and integration.status == "connected":
            raise Conflict(
                f"Your {kind} integration is already connected; revoke it first to connect "
                "another account",
                details={"integration_id": str(integration.id)},
            )
        if integration is None:
            integration = await rows.create(
                Integration(id=uuid.uuid4(), tenant_id=tenant_id, owner_user_id=owner, kind=kind),
                actor=actor,
            )
        await session.execute(delete(OAuthState).where(OAuthState.integration_id == integration.id))
        state = secrets.token_urlsafe(32)
        verifier = generate_token(64)
        expires_at = datetime.now(UTC) + timedelta(
            seconds=self._settings.integration_state_ttl_seconds
        )
        session.add(
            OAuthState(
                state_hash=_hash(state),
                tenant_id=tenant_id,
                user_id=owner,
                integration_id=integration.id,
                expires_at=expires_at,
            )
        )
        await self._tokens.put(
            session,
            tenant_id=tenant_id,
            integration_id=integration.id,
            what=VERIFIER,
            value=verifier,
        )
        url = await self._oauth.authorization_url(
            spec, redirect_uri=redirect_uri, state=state, code_verifier=verifier
        )
        return integration, url, expires_at

    async def complete(
        self, *, tenant_id: int, user_id: uuid.UUID | None, data: CallbackIn, actor: Actor
    ) -> Integration:
        """Finish a connection with what the provider sent back: consume the state (it must be
        this user's, unexpired and unused), trade the code for tokens, store them in the vault
        and queue the first sync."""
        owner = _acting_user(user_id)
        if data.code is None and data.error is None:
            raise InvalidInput("The callback carries neither a `code` nor an `error`")
        async with self._sessionmaker.begin() as session:
            state = await session.scalar(
                select(OAuthState)
                .where(OAuthState.state_hash == _hash(data.state))
                .with_for_update(skip_locked=True)
            )
            if state is None or state.tenant_id != tenant_id or state.user_id != owner:
                raise InvalidInput(STATE_REFUSED)
            await session.delete(state)
            integration = await session.get(Integration, state.integration_id)
            verifier = await self._tokens.get(
                session, tenant_id=tenant_id, integration_id=state.integration_id, what=VERIFIER
            )
            expired = state.expires_at <= datetime.now(UTC)
        if expired or integration is None or verifier is None:
            raise InvalidInput(STATE_REFUSED)
        spec = provider(self._settings, integration.kind)
        if data.error is not None:
            await self._fail(integration, "The account's owner did not grant access; connect again")
            raise InvalidInput(
                "The provider reports that access was not granted; start the connection again"
            )
        assert data.code is not None  # one of the two is present, checked above
        try:
            tokens = await self._oauth.exchange(
                spec, redirect_uri=self._redirect_uri(), code=data.code, code_verifier=verifier
            )
        except GrantRevoked:
            await self._fail(
                integration, "The provider refused the authorization code; connect again"
            )
            raise InvalidInput(
                "The provider refused the authorization code (invalid, expired or already "
                "used); start the connection again"
            ) from None
        except IntegrationFailed as exc:
            await self._fail(integration, f"Connecting failed: {exc.message}; connect again")
            raise
        async with self._sessionmaker.begin() as session:
            integration = await session.get(Integration, integration.id, with_for_update=True)
            if integration is None:  # revoked meanwhile
                raise InvalidInput(STATE_REFUSED)
            for what, value in ((ACCESS, tokens.access_token), (REFRESH, tokens.refresh_token)):
                if value is not None:
                    await self._tokens.put(
                        session,
                        tenant_id=tenant_id,
                        integration_id=integration.id,
                        what=what,
                        value=value,
                    )
            await self._tokens.drop(
                session, tenant_id=tenant_id, integration_id=integration.id, what=(VERIFIER,)
            )
            rows = IntegrationRows(session, tenant_id=tenant_id, user_id=owner)
            async with rows.changing(integration, actor=actor):
                integration.status = "connected"
                integration.status_reason = None
                integration.scopes = list(tokens.scopes or spec.scopes)
                integration.token_expires_at = expiry(tokens.expires_in)
                integration.sync_status = "queued"
                integration.sync_cursor = {}
                integration.last_error = None
            await enqueue_sync(session, str(integration.id))
        return integration

    async def _fail(self, integration: Integration, reason: str) -> None:
        async with self._sessionmaker.begin() as session:
            row = await session.get(Integration, integration.id, with_for_update=True)
            if row is not None and row.status != "connected":
                row.status = "error"
                row.status_reason = reason

    async def request_sync(
        self,
        session: AsyncSession,
        *,
        tenant_id: int,
        user_id: uuid.UUID | None,
        integration_id: uuid.UUID,
    ) -> Integration:
        """Queue a sync of one of the caller's connected integrations."""
        integration = await get_integration(
            session, tenant_id=tenant_id, user_id=user_id, integration_id=integration_id
        )
        if integration.status != "connected":
            raise Conflict(
                f"This integration is {integration.status}, not connected: "
                f"{integration.status_reason or 'finish connecting it first'}"
            )
        if integration.sync_status not in ("queued", "running"):
            integration.sync_status = "queued"
        await enqueue_sync(session, str(integration.id))
        await session.flush()
        return integration

    async def revoke(
        self,
        session: AsyncSession,
        *,
        tenant_id: int,
        user_id: uuid.UUID | None,
        integration_id: uuid.UUID,
        actor: Actor,
    ) -> None:
        """Delete one of the caller's integrations and its tokens (what it synced stays)."""
        integration = await get_integration(
            session, tenant_id=tenant_id, user_id=user_id, integration_id=integration_id
        )
        await self._tokens.drop(session, tenant_id=tenant_id, integration_id=integration.id)
        await IntegrationRows(session, tenant_id=tenant_id, user_id=user_id).delete(
            integration, actor=actor
        )


async def queue_due_syncs(session: AsyncSession, *, older_than: timedelta) -> int:
    """Queue the sync of every connected integration not synced for `older_than` (nor queued
    or running now); how many were queued."""
    due = datetime.now(UTC) - older_than
    rows = await session.scalars(
        select(Integration)
        .where(
            Integration.status == "connected",
            Integration.sync_status.not_in(("queued", "running")),
            (Integration.last_synced_at.is_(None)) | (Integration.last_synced_at < due),
        )
        .with_for_update(skip_locked=True)
    )
    count = 0
    for integration in rows:
        integration.sync_status = "queued"
        await enqueue_sync(session, str(integration.id))
        count += 1
    return count
