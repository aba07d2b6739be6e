"""AES-256-GCM envelope encryption bound to each record.

A key-encryption key (KEK, from the key provider) wraps one data key per tenant; the data key
encrypts values. Every ciphertext names its key and is bound, as associated data, to where it
belongs: a data key to its tenant, a value to its tenant, credential id, name and category.
A ciphertext copied anywhere else fails to decrypt instead of decrypting.

Value format: `orchv1.<data key id>.<base64url(nonce | ciphertext | tag)>`.
"""

import base64
import hashlib
import hmac
import logging
import os
import secrets
import uuid
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from orchestrator_service.config import Settings
from orchestrator_service.credentials.keys import NONCE_BYTES, KeyProvider, load_key_provider
from orchestrator_service.credentials.models import Credential, VaultDataKey, VaultState
from orchestrator_service.credentials.scrub import SecretMemory
from orchestrator_service.errors import VaultError
from orchestrator_service.metrics import VAULT_DECRYPTIONS

log = logging.getLogger(__name__)

FORMAT = "orchv1"
_CHECK_PLAINTEXT = b"orchestrator vault check v1"
_CHECK_CONTEXT = b"orch-vault/check/v1"


def data_key_context(tenant_id: int | None, data_key_id: uuid.UUID) -> bytes:
    """Associated data of a wrapped data key: its tenant and its own id."""
    owner = "global" if tenant_id is None else str(tenant_id)
    return f"orch-vault/dek/v1/tenant={owner}/dek={data_key_id}".encode()


def value_context(credential: Credential) -> bytes:
    """Associated data of a value: tenant, credential id, name and category."""
    owner = "global" if credential.tenant_id is None else str(credential.tenant_id)
    return (
        f"orch-vault/value/v1/tenant={owner}/credential={credential.id_uuid}"
        f"/name={credential.name}/category={credential.category}"
    ).encode()


def is_sealed(value: str) -> bool:
    """True when a stored value is in our ciphertext format (not a legacy plaintext)."""
    return value.startswith(f"{FORMAT}.")


def hint_of(secret: str) -> str | None:
    """The last 4 characters of a secret of 12 or more; nothing for shorter ones."""
    return secret[-4:] if len(secret) >= 12 else None


@dataclass(frozen=True)
class DataKey:
    """An unwrapped data key, held only for the duration of one operation."""

    id: uuid.UUID
    tenant_id: int | None
    key: bytes

    def fingerprint(self, secret: str, salt: str) -> str:
        """A keyed, salted fingerprint: tells versions apart, useless for guessing the secret
        (the salt is per credential and value, so equal values do not fingerprint alike)."""
        message = salt.encode() + b"|" + secret.encode()
        return hmac.new(self.key, message, hashlib.sha256).hexdigest()[:16]


class Vault:
    """Seals and opens credential values of any tenant, remembering each value it sees under
    its owner so that outputs can be scrubbed of it."""

    def __init__(self, provider: KeyProvider) -> None:
        self.provider = provider
        self.memory = SecretMemory()

    def unwrap(self, row: VaultDataKey) -> DataKey:
        """Unwrap a stored data key (its context binds it to its tenant)."""
        key = self.provider.unwrap(
            row.kek_id, row.wrapped_key, context=data_key_context(row.tenant_id, row.id)
        )
        return DataKey(id=row.id, tenant_id=row.tenant_id, key=key)

    def wrap_new(self, tenant_id: int | None) -> tuple[VaultDataKey, DataKey]:
        """A fresh data key for a tenant, wrapped under the active KEK."""
        data_key_id = uuid.uuid4()
        key = AESGCM.generate_key(bit_length=256)
        kek_id, blob = self.provider.wrap(key, context=data_key_context(tenant_id, data_key_id))
        row = VaultDataKey(id=data_key_id, tenant_id=tenant_id, kek_id=kek_id, wrapped_key=blob)
        return row, DataKey(id=data_key_id, tenant_id=tenant_id, key=key)

    async def current_data_key(self, session: AsyncSession, tenant_id: int | None) -> DataKey:
        """The tenant's newest data key, created on first use."""
        stmt = select(VaultDataKey).order_by(VaultDataKey.created_at.desc()).limit(1)
        stmt = stmt.where(
            VaultDataKey.tenant_id.is_(None)
            if tenant_id is None
            else VaultDataKey.tenant_id == tenant_id
        )
        row = await session.scalar(stmt)
        if row is not None:
            return self.unwrap(row)
        row, data_key = self.wrap_new(tenant_id)
        session.add(row)
        await session.flush()
        return data_key

    def seal(
        self, credential: Credential, secret: str, data_key: DataKey, *, new_value: bool = False
    ) -> None:
        """Encrypt `secret` into the credential, with its salted fingerprint and hint. A
        `new_value` (or a row without a salt yet) gets a fresh salt; re-sealing the same value
        (rename, re-encryption) keeps it, so the fingerprint stays the same."""
        if new_value or credential.fingerprint_salt is None:
            credential.fingerprint_salt = secrets.token_hex(16)
        nonce = os.urandom(NONCE_BYTES)
        sealed = AESGCM(data_key.key).encrypt(nonce, secret.encode(), value_context(credential))
        body = base64.urlsafe_b64encode(nonce + sealed).decode()
        credential.value = f"{FORMAT}.{data_key.id}.{body}"
        credential.key_id = str(data_key.id)
        credential.fingerprint = data_key.fingerprint(secret, credential.fingerprint_salt)
        credential.hint = hint_of(secret)
        credential.status = "ok"
        self.memory.remember(credential.tenant_id, secret)

    def open(self, credential: Credential, data_key: DataKey) -> str:
        """Decrypt a credential's value; refuse clearly if it is not bound to this record."""
        try:
            marker, key_id, body = credential.value.split(".", 2)
            if marker != FORMAT or key_id != str(data_key.id):
                raise ValueError("another key")
            raw = base64.urlsafe_b64decode(body.encode())
            secret = AESGCM(data_key.key).decrypt(
                raw[:NONCE_BYTES], raw[NONCE_BYTES:], value_context(credential)
            )
        except (ValueError, InvalidTag):
            VAULT_DECRYPTIONS.labels("refused").inc()
            raise VaultError(
                f"Credential {credential.name!r} ({credential.id_uuid}) cannot be decrypted: its "
                "ciphertext is not bound to this record (copied from another credential or "
                "tenant, or tampered with)"
            ) from None
        secret_text = secret.decode()
        self.memory.remember(credential.tenant_id, secret_text)
        VAULT_DECRYPTIONS.labels("ok").inc()
        return secret_text

    async def data_key_of(self, session: AsyncSession, credential: Credential) -> DataKey:
        """The data key a credential's value names, checked to belong to the same tenant."""
        row = await session.get(VaultDataKey, uuid.UUID(credential.key_id))
        if row is None or row.tenant_id != credential.tenant_id:
            raise VaultError(
                f"Credential {credential.name!r} ({credential.id_uuid}) names a data key that "
                "is not its tenant's"
            )
        return self.unwrap(row)

    def check_value(self) -> tuple[str, bytes]:
        """A check value under the active KEK."""
        return self.provider.wrap(_CHECK_PLAINTEXT, context=_CHECK_CONTEXT)

    def verify_check_value(self, state: VaultState) -> None:
        """Refuse unless the configured keys decrypt the stored check value."""
        if self.provider.unwrap(state.kek_id, state.check_value, context=_CHECK_CONTEXT) != (
            _CHECK_PLAINTEXT
        ):
            raise VaultError(f"Vault key {state.kek_id!r} failed the startup check")


async def open_vault(settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]) -> Vault:
    """Load the keys and run the startup check; refuse to start on any mismatch."""
    async with sessionmaker.begin() as session:
        state = await session.get(VaultState, 1)
        has_keys = await session.scalar(select(VaultDataKey.id).limit(1)) is not None
        vault = Vault(load_key_provider(settings, vault_exists=state is not None or has_keys))
        if state is None:
            kek_id, blob = vault.check_value()
            await session.execute(
                insert(VaultState)
                .values(id=1, kek_id=kek_id, check_value=blob)
                .on_conflict_do_nothing(index_elements=["id"])
            )
            state = await session.get(VaultState, 1, populate_existing=True)
            if state is None:  # unreachable: the row was just inserted, or already there
                raise VaultError("Refusing to start: the vault check value could not be stored")
        try:
            vault.verify_check_value(state)
        except VaultError as exc:
            raise VaultError(f"Refusing to start: {exc.message}") from None
        # Unsalted fingerprints (rows written before salts) would let a tenant member confirm a
        # guess by storing it and comparing; they are cleared until the row's next write.
        await session.execute(
            update(Credential)
            .where(Credential.fingerprint_salt.is_(None), Credential.fingerprint.is_not(None))
            .values(fingerprint=None)
        )
        used = set(await session.scalars(select(VaultDataKey.kek_id).distinct()))
        missing = sorted(used - vault.provider.key_ids)
        if missing:
            raise VaultError(
                "Refusing to start: data keys are wrapped under vault key(s) "
                f"{', '.join(repr(m) for m in missing)}, which ORCH_VAULT_KEYS does not hold"
            )
        legacy = (
            (
                await session.execute(
                    update(Credential)
                    .where(~Credential.value.startswith(f"{FORMAT}."), Credential.status == "ok")
                    .values(status="needs_reentry")
                    .returning(Credential.name)
                )
            )
            .scalars()
            .all()
        )
    if legacy:
        log.warning(
            "%d credential(s) hold values not written by this vault and are marked "
            "needs_reentry (list them with GET /api/v1/credentials?status=needs_reentry)",
            len(legacy),
        )
    return vault
