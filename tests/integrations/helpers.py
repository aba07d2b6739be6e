"""Helpers of the integration tests: users of the served tenant, connecting through the
stand-in's consent, reading an integration back."""

import uuid
from dataclasses import dataclass

import httpx
from sqlalchemy import select

from orchestrator_service.bootstrap import Runtime
from orchestrator_service.calendar.models import CalendarEvent
from orchestrator_service.mail.models import Email
from tests.helpers import PASSWORD, Caller, create_user, login
from tests.integrations.standin import ProviderStandIn

API = "/api/v1/integrations"


@dataclass
class Served:
    """The booted service, a client of it, and its tenant's admin (a key of no user)."""

    runtime: Runtime
    client: httpx.AsyncClient
    admin: Caller

    async def user(self, name: str, role: str = "member") -> Caller:
        """A new user of the tenant, calling with a session of their own."""
        email = f"{name}-{uuid.uuid4().hex[:6]}@example.com"
        await create_user(self.client, self.admin.headers, email, password=PASSWORD, role=role)
        token = await login(self.client, email)
        return Caller(api_key=token, tenant_id=self.admin.tenant_id)

    async def start(self, caller: Caller, kind: str) -> dict:
        """POST /integrations: a connection under way."""
        response = await self.client.post(API, headers=caller.headers, json={"kind": kind})
        assert response.status_code == 201, response.text
        return response.json()

    async def callback(self, caller: Caller, **body: str) -> httpx.Response:
        """POST /integrations/callback."""
        return await self.client.post(f"{API}/callback", headers=caller.headers, json=body)

    async def connect(self, caller: Caller, providers: ProviderStandIn, kind: str) -> dict:
        """Start, consent at the stand-in, post the callback: the connected integration."""
        started = await self.start(caller, kind)
        code, state = providers.consent(started["authorization_url"])
        response = await self.callback(caller, code=code, state=state)
        assert response.status_code == 200, response.text
        return response.json()

    async def get(self, caller: Caller, integration_id: str) -> dict:
        """GET one integration."""
        response = await self.client.get(f"{API}/{integration_id}", headers=caller.headers)
        assert response.status_code == 200, response.text
        return response.json()

    async def emails(self, integration_id: str) -> dict[str, Email]:
        """The emails an integration synced, by provider id."""
        async with self.runtime.sessionmaker() as session:
            rows = await session.scalars(
                select(Email).where(Email.integration_id == uuid.UUID(integration_id))
            )
            return {row.external_id or "": row for row in rows}

    async def events(self, integration_id: str) -> dict[str, CalendarEvent]:
        """The events an integration synced, by provider id."""
        async with self.runtime.sessionmaker() as session:
            rows = await session.scalars(
                select(CalendarEvent).where(
                    CalendarEvent.integration_id == uuid.UUID(integration_id)
                )
            )
            return {row.external_id or "": row for row in rows}

    async def sync(self, integration_id: str) -> None:
        """Run the integration's sync job in this task, as the worker would."""
        await self.runtime.syncer.sync(uuid.UUID(integration_id))
