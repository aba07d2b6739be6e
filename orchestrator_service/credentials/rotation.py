"""`orchestrator vault rotate`: rewrap data keys under the active key; optionally re-encrypt.

Each data key (and each tenant's re-encryption) changes in its own short transaction, so
requests keep working throughout: a reader sees either the old wrapping, still decryptable
while the old key is configured, or the new one. A run that stops midway is resumed by running
it again; rows already done are skipped.
"""

from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from orchestrator_service.credentials.models import Credential, VaultDataKey, VaultState
from orchestrator_service.credentials.schemas import RotationReport
from orchestrator_service.credentials.vault import Vault, data_key_context
from orchestrator_service.errors import VaultError

Progress = Callable[[str], None]


async def rotate(
    sessionmaker: async_sessionmaker[AsyncSession],
    vault: Vault,
    *,
    reencrypt: bool = False,
    progress: Progress = lambda _: None,
) -> RotationReport:
    """Rewrap every data key (and the check value) under the active key; with `reencrypt`,
    also give every tenant a fresh data key and re-encrypt its values under it."""
    active = vault.provider.active_key_id
    rewrapped = await _rewrap(sessionmaker, vault, progress)
    tenants = values = 0
    if reencrypt:
        tenants, values = await _reencrypt(sessionmaker, vault, progress)
    async with sessionmaker() as session:
        remaining = set(await session.scalars(select(VaultDataKey.kek_id).distinct()))
        state = await session.get(VaultState, 1)
        if state is not None:
            remaining.add(state.kek_id)
    return RotationReport(
        active_key_id=active,
        rewrapped=rewrapped,
        reencrypted_tenants=tenants,
        reencrypted_values=values,
        remaining_old_key_ids=sorted(remaining - {active}),
    )


async def _rewrap(
    sessionmaker: async_sessionmaker[AsyncSession], vault: Vault, progress: Progress
) -> int:
    active = vault.provider.active_key_id
    async with sessionmaker() as session:
        ids = list(
            await session.scalars(select(VaultDataKey.id).where(VaultDataKey.kek_id != active))
        )
    for done, data_key_id in enumerate(ids, start=1):
        async with sessionmaker.begin() as session:
            row = await session.get(VaultDataKey, data_key_id, with_for_update=True)
            if row is None or row.kek_id == active:
                continue  # Deleted meanwhile, or done by a concurrent run.
            key = vault.unwrap(row).key
            row.kek_id, row.wrapped_key = vault.provider.wrap(
                key, context=data_key_context(row.tenant_id, row.id)
            )
        progress(f"rewrapped data key {done}/{len(ids)}")
    async with sessionmaker.begin() as session:
        state = await session.get(VaultState, 1, with_for_update=True)
        if state is not None and state.kek_id != active:
            vault.verify_check_value(state)
            state.kek_id, state.check_value = vault.check_value()
            progress("rewrapped the vault check value")
    return len(ids)


async def _reencrypt(
    sessionmaker: async_sessionmaker[AsyncSession], vault: Vault, progress: Progress
) -> tuple[int, int]:
    async with sessionmaker.begin() as session:
        state = await _locked_state(session)
        if state.reencrypt_started_at is None:
            state.reencrypt_started_at = datetime.now(UTC)
        started = state.reencrypt_started_at
    async with sessionmaker() as session:
        old_keys = list(
            await session.execute(
                select(VaultDataKey.id, VaultDataKey.tenant_id).where(
                    VaultDataKey.created_at < started
                )
            )
        )
    values = 0
    for done, (old_id, tenant_id) in enumerate(old_keys, start=1):
        async with sessionmaker.begin() as session:
            old_row = await session.get(VaultDataKey, old_id, with_for_update=True)
            if old_row is None:
                continue  # Re-encrypted by an earlier, interrupted run.
            old_key = vault.unwrap(old_row)
            new_row, new_key = vault.wrap_new(tenant_id)
            session.add(new_row)
            credentials = await session.scalars(
                select(Credential).where(Credential.key_id == str(old_id)).with_for_update()
            )
            for credential in credentials:
                vault.seal(credential, vault.open(credential, old_key), new_key)
                values += 1
            await session.flush()
            await session.execute(delete(VaultDataKey).where(VaultDataKey.id == old_id))
        progress(f"re-encrypted tenant {done}/{len(old_keys)}")
    async with sessionmaker.begin() as session:
        state = await _locked_state(session)
        state.reencrypt_started_at = None
    return len(old_keys), values


async def _locked_state(session: AsyncSession) -> VaultState:
    """The vault's state row, locked; `open_vault` creates it at boot, before any rotation."""
    state = await session.get(VaultState, 1, with_for_update=True)
    if state is None:
        raise VaultError("The vault has no state row; start the service once to create it")
    return state
