"""Credentials: write-only CRUD, and resolution by name for tools, audited on every use."""

import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import Select, String, cast, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from orchestrator_service.audit.service import Actor, record
from orchestrator_service.credentials.models import Credential, VaultDataKey
from orchestrator_service.credentials.schemas import (
    PLACEHOLDER,
    CredentialCreate,
    CredentialStatus,
    CredentialUpdate,
)
from orchestrator_service.credentials.scrub import Scrubber
from orchestrator_service.credentials.vault import Vault
from orchestrator_service.db.repository import AuditedRepository
from orchestrator_service.errors import (
    DestinationApprovalRequired,
    Forbidden,
    InvalidInput,
    NotFound,
    OrchestratorError,
    VaultError,
)
from orchestrator_service.pagination import PageParams

# The OAuth tokens of a user's integrations (integrations/tokens.py) are sealed in this table,
# so that key rotation re-encrypts them too, but they belong to that user alone: this API
# neither lists nor touches them, and no tool can resolve them by name.
MANAGED_CATEGORY = "integration_token"


class Credentials(AuditedRepository[Credential]):
    """An owner's credentials: a tenant's, or (owner None) the global ones."""

    model = Credential
    resource_type = "credential"
    what = "Credential"
    audited = ("name", "category", "scope", "fingerprint", "allowed_hosts", "status")
    conflicts = {"uq_credentials_name_tenant_id": "A credential with this name already exists"}
    id_field = "id_uuid"

    def select(self) -> Select[Credential]:
        """The owner's credentials, without the integrations' tokens."""
        return super().select().where(Credential.category.is_distinct_from(MANAGED_CATEGORY))

    async def get(self, object_id: object) -> Credential:
        """One of the owner's credentials (never an integration's token), or `NotFound`."""
        credential = await super().get(object_id)
        if credential.category == MANAGED_CATEGORY:
            raise NotFound(f"{self.what} not found")
        return credential


def _not_managed(category: str | None) -> None:
    if category == MANAGED_CATEGORY:
        raise InvalidInput(
            f"The category {MANAGED_CATEGORY!r} is reserved for the tokens of integrations, "
            "which their integration stores"
        )


def _global_needs_hosts(owner: int | None, allowed_hosts: list[str]) -> None:
    """Every tenant can reference a global credential, so it must say where it may go."""
    if owner is None and not allowed_hosts:
        raise InvalidInput(
            "A global credential needs allowed_hosts: every tenant's tools can use it, so it "
            "may only be sent to the hosts listed"
        )


# Where a credential with no allowed_hosts may go: its category's provider, else nowhere.
# The destination of a credential used inside the service and sent nowhere (audited as such).
LOCAL = "(local)"
CATEGORY_HOSTS: dict[str, tuple[str, ...]] = {
    "openai": ("api.openai.com",),
    "anthropic": ("api.anthropic.com",),
}


def effective_hosts(category: str | None, allowed_hosts: list[str] | None) -> list[str]:
    """The hosts a credential may be sent to: its `allowed_hosts`; when that is empty, the
    provider host of a well-known category (openai, anthropic); otherwise none at all."""
    if allowed_hosts:
        return list(allowed_hosts)
    return list(CATEGORY_HOSTS.get(category or "", ()))


def host_allowed(host: str, allowed: list[str]) -> bool:
    """True when `host` matches an entry (`*.example.com` for its subdomains); an empty list
    allows nothing."""
    host = host.lower()
    return any(
        host == entry or (entry.startswith("*.") and host.endswith(entry[1:])) for entry in allowed
    )


def _covered(entry: str, hosts: list[str]) -> bool:
    """True when every host `entry` matches is already matched by one of `hosts`."""
    return any(
        entry == host or (host.startswith("*.") and entry.endswith(host[1:])) for host in hosts
    )


def _check_widening(before: list[str], after: list[str], *, approver: bool) -> None:
    """Refuse a non-admin a change that lets a secret go where it could not go before."""
    wider = sorted(entry for entry in after if not _covered(entry, before))
    if wider and not approver:
        raise DestinationApprovalRequired(
            f"Only an admin may let a secret be sent somewhere new: {', '.join(wider)} "
            f"{'is' if len(wider) == 1 else 'are'} not among the hosts this credential may "
            "already go to. Ask an admin to add it (or use a key with the admin role and "
            "credentials:write); removing hosts is open to you",
            details={"hosts": wider, "allowed": sorted(before)},
        )


async def create_credential(
    session: AsyncSession,
    vault: Vault,
    *,
    owner: int | None,
    data: CredentialCreate,
    actor: Actor,
    approver: bool,
) -> Credential:
    """Encrypt and store a secret for the owner (a tenant, or None for a global one). Only an
    `approver` (an admin) may name hosts beyond the category's provider."""
    _global_needs_hosts(owner, data.allowed_hosts)
    _not_managed(data.category)
    _check_widening(
        effective_hosts(data.category, []),
        effective_hosts(data.category, data.allowed_hosts),
        approver=approver,
    )
    credential = Credential(
        id_uuid=uuid.uuid4(),
        tenant_id=owner,
        name=data.name,
        category=data.category,
        scope="global" if owner is None else "tenant",
        allowed_hosts=data.allowed_hosts,
    )
    vault.seal(
        credential,
        data.value.get_secret_value(),
        await vault.current_data_key(session, owner),
        new_value=True,
    )
    return await Credentials(session, owner=owner).create(credential, actor=actor)


async def list_credentials(
    session: AsyncSession,
    *,
    owner: int | None,
    page: PageParams,
    status: CredentialStatus | None = None,
    category: str | None = None,
) -> tuple[list[Credential], str | None]:
    """The owner's credentials (metadata only), newest first."""
    credentials = Credentials(session, owner=owner)
    stmt = credentials.select()
    if status is not None:
        stmt = stmt.where(Credential.status == status)
    if category is not None:
        stmt = stmt.where(Credential.category == category)
    return await credentials.page(page, stmt)


async def get_credential(
    session: AsyncSession, *, owner: int | None, credential_id: uuid.UUID
) -> Credential:
    """One credential of the owner, or 404."""
    return await Credentials(session, owner=owner).get(credential_id)


async def update_credential(
    session: AsyncSession,
    vault: Vault,
    *,
    owner: int | None,
    credential_id: uuid.UUID,
    data: CredentialUpdate,
    actor: Actor,
    approver: bool,
) -> Credential:
    """Change metadata and/or the secret; re-seal when the bound name or category changes, or
    when the row still has an unsalted (legacy) fingerprint. Only an `approver` (an admin)
    may widen where the secret may be sent (hosts, or a category with another provider)."""
    credentials = Credentials(session, owner=owner)
    credential = await credentials.get(credential_id)
    _not_managed(data.category)
    _check_widening(
        effective_hosts(credential.category, credential.allowed_hosts),
        effective_hosts(
            data.category or credential.category,
            credential.allowed_hosts if data.allowed_hosts is None else data.allowed_hosts,
        ),
        approver=approver,
    )
    new_secret = data.value.get_secret_value() if data.value is not None else None
    if new_secret in (PLACEHOLDER, credential.hint):
        new_secret = None
    new_value = new_secret is not None
    rebinding = (data.name not in (None, credential.name)) or (
        data.category not in (None, credential.category)
    )
    legacy = credential.fingerprint_salt is None
    if new_secret is None and (rebinding or legacy) and credential.status == "ok":
        new_secret = vault.open(credential, await vault.data_key_of(session, credential))
    async with credentials.changing(credential, actor=actor):
        if data.name is not None:
            credential.name = data.name
        if data.category is not None:
            credential.category = data.category
        if data.allowed_hosts is not None:
            _global_needs_hosts(owner, data.allowed_hosts)
            credential.allowed_hosts = data.allowed_hosts
        if new_secret is not None:
            data_key = await vault.current_data_key(session, owner)
            vault.seal(credential, new_secret, data_key, new_value=new_value)
        credential.updated_at = datetime.now(UTC)
    return credential


async def delete_credential(
    session: AsyncSession, *, owner: int | None, credential_id: uuid.UUID, actor: Actor
) -> None:
    """Delete a credential."""
    credentials = Credentials(session, owner=owner)
    await credentials.delete(await credentials.get(credential_id), actor=actor)


class SecretResolver:
    """Resolves credentials by name for outbound calls, each in a transaction of its own."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], vault: Vault) -> None:
        self._sessionmaker = sessionmaker
        self._vault = vault

    async def resolve(
        self, *, tenant_id: int, name: str, consumer: str, destination: str | None, actor: Actor
    ) -> str:
        """The plaintext of credential `name` (the tenant's, else the global one) for a call to
        `destination`, or, with None, for use inside the service that never leaves it (a
        webhook's signing secret); every attempt, allowed or refused, is audited without the
        value.

        Its transaction commits before the caller goes out: no row lock outlives the lookup.
        """
        host = LOCAL if destination is None else (urlsplit(destination).hostname or destination)
        host = host.lower()
        async with self._sessionmaker.begin() as session:
            # One statement reads the credential and its data key together, so a concurrent
            # re-encryption cannot pair a new value with a deleted key.
            row = (
                await session.execute(
                    select(Credential, VaultDataKey)
                    .outerjoin(VaultDataKey, cast(VaultDataKey.id, String) == Credential.key_id)
                    .where(
                        Credential.name == name,
                        or_(Credential.tenant_id == tenant_id, Credential.tenant_id.is_(None)),
                        Credential.category.is_distinct_from(MANAGED_CATEGORY),
                    )
                    .order_by(Credential.tenant_id.is_(None))
                    .limit(1)
                )
            ).first()
            error = _refusal(row, name, host)
            entry = {
                "action": "use",
                "resource_type": "credential",
                "resource_id": row[0].id_uuid if row else None,
                "new": {
                    "consumer": consumer,
                    "destination_host": host,
                    "outcome": "ok" if error is None else _OUTCOMES[type(error)],
                    "name": name,
                },
                "tenant_id": tenant_id,
            }
            secret = None
            if error is None and row is not None:  # _refusal refuses a missing row
                credential, data_key_row = row
                secret = self._vault.open(credential, self._vault.unwrap(data_key_row))
                credential.last_used_at = datetime.now(UTC)
            # On record even if the call it is used for fails.
            await record(session, actor, **entry)
        if secret is None:
            raise error or NotFound(f"Credential {name!r} not found")
        return secret

    def scrubber(self, tenant_id: int) -> Scrubber:
        """Scrubs the tenant's secrets and the global ones (never another tenant's) from what
        goes back to the tenant."""
        return self._vault.memory.for_tenant(tenant_id)


_OUTCOMES: dict[type, str] = {
    NotFound: "not_found",
    VaultError: "needs_reentry",
    Forbidden: "host_not_allowed",
}


def _refusal(row: Any, name: str, host: str) -> OrchestratorError | None:
    """Why credential `name` may not be used for `host`, or None."""
    if row is None:
        return NotFound(f"Credential {name!r} not found")
    if row[0].status != "ok" or row[1] is None:
        return VaultError(f"Credential {name!r} must be entered again before it can be used")
    credential = row[0]
    if host == LOCAL:  # used inside the service, sent nowhere
        return None
    if not host_allowed(host, effective_hosts(credential.category, credential.allowed_hosts)):
        if not credential.allowed_hosts and credential.category not in CATEGORY_HOSTS:
            return Forbidden(
                f"Credential {name!r} may not be sent to {host}: it names no allowed_hosts, "
                "so it may be sent nowhere until an admin lists them"
            )
        return Forbidden(f"Credential {name!r} may not be sent to {host}")
    return None
