"""An integration's secrets (access token, refresh token, the PKCE verifier of a connection
under way), sealed by the vault in the tenant's credentials table under the category the
credentials API leaves alone: only this module reads them, only to send them to the
provider."""

import uuid
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from orchestrator_service.credentials.models import Credential
from orchestrator_service.credentials.service import MANAGED_CATEGORY
from orchestrator_service.credentials.vault import Vault

ACCESS = "access"
REFRESH = "refresh"
VERIFIER = "pkce"


def _name(integration_id: uuid.UUID, what: str) -> str:
    return f"integration:{integration_id}:{what}"


@dataclass(frozen=True)
class TokenStore:
    """Seals, opens and deletes the secrets of integrations."""

    vault: Vault

    async def put(
        self,
        session: AsyncSession,
        *,
        tenant_id: int,
        integration_id: uuid.UUID,
        what: str,
        value: str,
    ) -> None:
        """Store (or replace) one secret of an integration."""
        name = _name(integration_id, what)
        data_key = await self.vault.current_data_key(session, tenant_id)
        credential = await session.scalar(
            select(Credential).where(Credential.tenant_id == tenant_id, Credential.name == name)
        )
        fresh = credential is None
        if credential is None:
            credential = Credential(
                id_uuid=uuid.uuid4(),
                tenant_id=tenant_id,
                name=name,
                category=MANAGED_CATEGORY,
                scope="user",
                allowed_hosts=[],
            )
        self.vault.seal(credential, value, data_key, new_value=True)
        if fresh:
            session.add(credential)
        credential.hint = None  # not even the last characters of a user's token are shown
        await session.flush()

    async def get(
        self, session: AsyncSession, *, tenant_id: int, integration_id: uuid.UUID, what: str
    ) -> str | None:
        """One secret of an integration, or None when it holds none."""
        credential = await session.scalar(
            select(Credential).where(
                Credential.tenant_id == tenant_id,
                Credential.name == _name(integration_id, what),
                Credential.category == MANAGED_CATEGORY,
            )
        )
        if credential is None:
            return None
        return self.vault.open(credential, await self.vault.data_key_of(session, credential))

    async def drop(
        self,
        session: AsyncSession,
        *,
        tenant_id: int,
        integration_id: uuid.UUID,
        what: tuple[str, ...] = (ACCESS, REFRESH, VERIFIER),
    ) -> None:
        """Delete secrets of an integration (all of them by default)."""
        await session.execute(
            delete(Credential).where(
                Credential.tenant_id == tenant_id,
                Credential.category == MANAGED_CATEGORY,
                Credential.name.in_([_name(integration_id, w) for w in what]),
            )
        )
