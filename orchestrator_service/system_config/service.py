"""Platform settings at runtime: read through a cache every replica refreshes at most every
`ORCH_SYSTEM_CONFIG_TTL_SECONDS`, written by platform admins (validated against the known
keys, audited in the platform log).

The table is small (one row per key set), so a refresh reads it whole: one query per replica
per TTL, whatever the traffic. The replica that writes forgets its cache at once; the others
see the change within one TTL.
"""

import asyncio
import logging
import time

from sqlalchemy import delete, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from orchestrator_service.audit.service import Actor, record
from orchestrator_service.errors import InvalidInput, NotFound
from orchestrator_service.system_config.models import SystemConfig
from orchestrator_service.system_config.registry import KEYS, Key
from orchestrator_service.system_config.schemas import SettingOut

log = logging.getLogger(__name__)


class PlatformConfig:
    """The settings in force: the runtime rows over the boot-time defaults, cached."""

    def __init__(self, *, defaults: dict[str, int], ttl: float) -> None:
        self.defaults = dict(defaults)
        self._ttl = ttl
        self._values: dict[str, int] = {}
        self._loaded_at = float("-inf")
        self._lock = asyncio.Lock()

    async def value(self, session: AsyncSession, key: str) -> int:
        """The value of a known key in force now (at most one TTL old). A refresh reads
        through the caller's session: no second connection is taken while one is held."""
        if time.monotonic() - self._loaded_at >= self._ttl:
            async with self._lock:
                if time.monotonic() - self._loaded_at >= self._ttl:
                    await self._load(session)
        return self._values.get(key, self.defaults[key])

    def forget(self) -> None:
        """Read the table again at the next use (after this replica wrote to it)."""
        self._loaded_at = float("-inf")

    async def _load(self, session: AsyncSession) -> None:
        rows = (
            await session.execute(select(SystemConfig.config_key, SystemConfig.config_value))
        ).all()
        values = {}
        for key, value in rows:
            known = KEYS.get(key)
            try:
                if known is not None:
                    values[key] = known.check(value)
            except ValueError:  # written past the API (SQL): the default holds, loudly
                log.warning("system_config %s holds an invalid value; using its default", key)
        self._values, self._loaded_at = values, time.monotonic()


def _known(key: str) -> Key:
    known = KEYS.get(key)
    if known is None:
        raise NotFound(
            f"No platform setting {key!r}; the known ones are {', '.join(sorted(KEYS))}",
            details={"known": sorted(KEYS)},
        )
    return known


def _out(key: Key, row: SystemConfig | None, default: int) -> SettingOut:
    stored = None
    if row is not None:
        try:
            stored = key.check(row.config_value)
        except ValueError:
            stored = None
    return SettingOut(
        key=key.name,
        value=default if stored is None else stored,
        default=default,
        source="default" if stored is None else "runtime",
        description=key.description,
        minimum=key.minimum,
        maximum=key.maximum,
        updated_at=row.updated_at if stored is not None and row is not None else None,
    )


async def list_settings(session: AsyncSession, *, config: PlatformConfig) -> list[SettingOut]:
    """Every known setting with the value in force (read now, not from the cache)."""
    rows = {
        row.config_key: row
        for row in await session.scalars(
            select(SystemConfig).where(SystemConfig.config_key.in_(KEYS))
        )
    }
    return [_out(key, rows.get(name), config.defaults[name]) for name, key in sorted(KEYS.items())]


async def get_setting(session: AsyncSession, *, key: str, config: PlatformConfig) -> SettingOut:
    """One known setting with the value in force."""
    known = _known(key)
    row = await session.scalar(
        select(SystemConfig)
        .where(SystemConfig.config_key == key)
        .execution_options(populate_existing=True)
    )
    return _out(known, row, config.defaults[key])


async def set_setting(
    session: AsyncSession, *, key: str, value: int, actor: Actor, config: PlatformConfig
) -> SettingOut:
    """Set a known setting within its bounds (422 otherwise), audited with old and new."""
    known = _known(key)
    try:
        known.check(value)
    except ValueError as exc:
        raise InvalidInput(str(exc), details={"key": key, "value": value}) from None
    before = await get_setting(session, key=key, config=config)
    await session.execute(
        insert(SystemConfig)
        .values(
            config_key=key,
            config_value=value,
            description=known.description,
            updated_by=actor.user_id,
        )
        .on_conflict_do_update(
            index_elements=[SystemConfig.config_key],
            set_={"config_value": value, "updated_by": actor.user_id, "updated_at": func.now()},
        )
    )
    await record(
        session,
        actor,
        action="update",
        resource_type="system_config",
        resource_id=key,
        # "value" would be redacted by the audit log (it names secrets elsewhere).
        old={"setting": before.value, "source": before.source},
        new={"setting": value, "source": "runtime"},
    )
    config.forget()
    return await get_setting(session, key=key, config=config)


async def reset_setting(
    session: AsyncSession, *, key: str, actor: Actor, config: PlatformConfig
) -> SettingOut:
    """Drop a runtime value: the boot-time default holds again. Audited."""
    _known(key)
    before = await get_setting(session, key=key, config=config)
    await session.execute(delete(SystemConfig).where(SystemConfig.config_key == key))
    if before.source == "runtime":
        await record(
            session,
            actor,
            action="delete",
            resource_type="system_config",
            resource_id=key,
            old={"setting": before.value, "source": before.source},
            new={"setting": before.default, "source": "default"},
        )
    config.forget()
    return await get_setting(session, key=key, config=config)
