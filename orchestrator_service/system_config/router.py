"""/api/v1/system-config: platform settings changeable at runtime, platform admins only."""

from typing import Annotated

from fastapi import APIRouter, Path

from orchestrator_service.deps import ActorDep, PlatformAdmin, PlatformConfigDep, SessionDep
from orchestrator_service.pagination import Page, page_of
from orchestrator_service.system_config import service
from orchestrator_service.system_config.schemas import SettingOut, SettingUpdate

router = APIRouter(prefix="/system-config", tags=["system-config"])
ConfigKey = Annotated[str, Path(pattern=r"^[a-z0-9_.]{1,100}$")]


@router.get("")
async def list_settings(
    _: PlatformAdmin, session: SessionDep, config: PlatformConfigDep
) -> Page[SettingOut]:
    """Every platform setting: value in force, default, bounds (one page, complete)."""
    return page_of(SettingOut, await service.list_settings(session, config=config))


@router.get("/{key}")
async def get_setting(
    key: ConfigKey, _: PlatformAdmin, session: SessionDep, config: PlatformConfigDep
) -> SettingOut:
    """One platform setting."""
    return await service.get_setting(session, key=key, config=config)


@router.put("/{key}")
async def set_setting(
    key: ConfigKey,
    data: SettingUpdate,
    _: PlatformAdmin,
    actor: ActorDep,
    session: SessionDep,
    config: PlatformConfigDep,
) -> SettingOut:
    """Set a platform setting within its bounds; every replica uses it within
    `ORCH_SYSTEM_CONFIG_TTL_SECONDS`."""
    return await service.set_setting(session, key=key, value=data.value, actor=actor, config=config)


@router.delete("/{key}")
async def reset_setting(
    key: ConfigKey,
    _: PlatformAdmin,
    actor: ActorDep,
    session: SessionDep,
    config: PlatformConfigDep,
) -> SettingOut:
    """Drop the runtime value: the boot-time default holds again."""
    return await service.reset_setting(session, key=key, actor=actor, config=config)
