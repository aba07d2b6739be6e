"""The model catalogue: platform models (managed by platform keys) every tenant may use unless
it turns them off, and each tenant's own models. A run resolves its agent's model here and is
refused, before anything is queued, when the model is unknown or disabled."""

import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy import delete, or_, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from orchestrator_service.audit.service import Actor
from orchestrator_service.catalogue.models import AiModel, TenantModelSetting
from orchestrator_service.catalogue.schemas import (
    PROTOCOLS,
    ModelCreate,
    ModelOut,
    ModelUpdate,
)
from orchestrator_service.db.repository import AuditedRepository
from orchestrator_service.errors import (
    Conflict,
    DestinationApprovalRequired,
    InvalidInput,
    NotFound,
)
from orchestrator_service.pagination import PageParams, paginate

_SIX_PLACES = Decimal("0.000001")
# Fields that choose where calls go and which key they carry: an admin's decision.
DESTINATION_FIELDS = ("base_url", "api_key_credential")


class ModelUnknown(InvalidInput):
    """An agent names a model that is not in the catalogue its tenant sees."""

    code = "model_unknown"


class ModelDisabled(Conflict):
    """An agent names a catalogue model that is disabled (by the platform or its tenant)."""

    code = "model_disabled"


class Models(AuditedRepository[AiModel]):
    """Catalogue entries of one owner: a tenant's own, or (None) the platform's."""

    model = AiModel
    resource_type = "ai_model"
    what = "Model"
    audited = (
        "name",
        "provider",
        "model",
        "status",
        "input_price_per_million",
        "output_price_per_million",
        "base_url",
        "api_key_credential",
    )
    conflicts = {
        "uq_ai_models_tenant_id_provider_model": "This provider's model is already in the catalogue"
    }

    def audit_view(self, obj: AiModel) -> dict[str, Any]:
        """The audited fields, prices as text (JSON has no decimals)."""
        view = super().audit_view(obj)
        return {k: str(v) if isinstance(v, Decimal) else v for k, v in view.items()}


def _price(value: float) -> Decimal:
    return Decimal(str(value)).quantize(_SIX_PLACES)


def _values(data: ModelCreate | ModelUpdate) -> dict[str, Any]:
    values = data.model_dump(exclude_unset=True)
    for field in ("input_price_per_million", "output_price_per_million"):
        if values.get(field) is not None:
            values[field] = _price(values[field])
    return values


def _check_approver(approver: bool) -> None:
    """Catalogue entries decide where a tenant's calls go, with which key, and what they cost
    (so what its budgets count): changing them is an admin's decision."""
    if not approver:
        raise DestinationApprovalRequired(
            "Only an admin changes the tenant's model catalogue: an entry decides where model "
            "calls go, which vault key they carry and what they cost (the admin role and "
            "credentials:write)",
            details={"fields": list(DESTINATION_FIELDS)},
        )


def _check_limits(entry: AiModel) -> None:
    if entry.max_output_tokens > entry.context_window:
        raise InvalidInput(
            f"max_output_tokens ({entry.max_output_tokens}) cannot exceed context_window "
            f"({entry.context_window})",
            details={"fields": ["max_output_tokens", "context_window"]},
        )


def as_out(entry: AiModel, *, enabled: bool) -> ModelOut:
    """The API view of an entry."""
    return ModelOut.model_validate(
        {
            **{c: getattr(entry, c) for c in ModelOut.model_fields if hasattr(entry, c)},
            "scope": "platform" if entry.tenant_id is None else "tenant",
            "enabled": enabled,
        }
    )


def _visible(tenant_id: int | None):
    """The entries an owner sees: a tenant, the platform's and its own; the platform, its."""
    stmt = select(AiModel)
    if tenant_id is None:
        return stmt.where(AiModel.tenant_id.is_(None))
    return stmt.where(or_(AiModel.tenant_id == tenant_id, AiModel.tenant_id.is_(None)))


async def _turned_off(session: AsyncSession, tenant_id: int | None) -> set[uuid.UUID]:
    """The platform models a tenant has turned off."""
    if tenant_id is None:
        return set()
    rows = await session.scalars(
        select(TenantModelSetting.model_id).where(
            TenantModelSetting.tenant_id == tenant_id, TenantModelSetting.enabled.is_(False)
        )
    )
    return set(rows)


def usable(entry: AiModel, turned_off: set[uuid.UUID]) -> bool:
    """True when the entry may be used: active, and not turned off by the tenant."""
    return entry.status == "active" and entry.id not in turned_off


async def create_model(
    session: AsyncSession, *, owner: int | None, data: ModelCreate, actor: Actor, approver: bool
) -> ModelOut:
    """Add an entry: a platform model (owner None) or one of the tenant's own."""
    _check_approver(approver)
    # An omitted (or null) field takes its default; the name defaults to the model id.
    values = {k: v for k, v in _values(data).items() if v is not None}
    values.setdefault("name", data.model)
    entry = AiModel(tenant_id=owner, **values)
    _check_limits(entry)
    entry = await Models(session, owner=owner).create(entry, actor=actor)
    return as_out(entry, enabled=entry.status == "active")


async def list_models(
    session: AsyncSession,
    *,
    tenant_id: int | None,
    page: PageParams,
    provider: str | None = None,
    enabled: bool | None = None,
) -> tuple[list[ModelOut], str | None]:
    """The catalogue as the caller sees it, newest first; `enabled` filters by usability."""
    stmt = _visible(tenant_id)
    if provider is not None:
        stmt = stmt.where(AiModel.provider == provider)
    off = await _turned_off(session, tenant_id)
    if enabled is not None:
        usable_now = AiModel.status == "active"
        if off:
            usable_now = usable_now & AiModel.id.not_in(off)
        stmt = stmt.where(usable_now if enabled else ~usable_now)
    rows, cursor = await paginate(session, stmt, AiModel, page)
    return [as_out(r, enabled=usable(r, off)) for r in rows], cursor


async def _get_visible(
    session: AsyncSession, tenant_id: int | None, model_id: uuid.UUID
) -> AiModel:
    entry = await session.scalar(_visible(tenant_id).where(AiModel.id == model_id))
    if entry is None:
        raise NotFound("Model not found")
    return entry


async def get_model(
    session: AsyncSession, *, tenant_id: int | None, model_id: uuid.UUID
) -> ModelOut:
    """One entry the caller sees, or 404."""
    entry = await _get_visible(session, tenant_id, model_id)
    return as_out(entry, enabled=usable(entry, await _turned_off(session, tenant_id)))


async def update_model(
    session: AsyncSession,
    *,
    owner: int | None,
    model_id: uuid.UUID,
    data: ModelUpdate,
    actor: Actor,
    approver: bool,
) -> ModelOut:
    """Change an entry the caller owns (a tenant cannot change a platform model: 404)."""
    models = Models(session, owner=owner)
    entry = await models.get(model_id)
    _check_approver(approver)
    values = _values(data)
    async with models.changing(entry, actor=actor):
        for field, value in values.items():
            setattr(entry, field, value)
        _check_limits(entry)
    return as_out(entry, enabled=usable(entry, await _turned_off(session, owner)))


async def delete_model(
    session: AsyncSession, *, owner: int | None, model_id: uuid.UUID, actor: Actor, approver: bool
) -> None:
    """Remove an entry the caller owns; agents naming it can no longer run."""
    models = Models(session, owner=owner)
    entry = await models.get(model_id)
    _check_approver(approver)
    await models.delete(entry, actor=actor)


async def set_enabled(
    session: AsyncSession,
    *,
    tenant_id: int,
    model_id: uuid.UUID,
    enabled: bool,
    actor: Actor,
    approver: bool,
) -> ModelOut:
    """Turn a model on or off for the tenant: a platform model by the tenant's own setting,
    one of the tenant's own by its status."""
    entry = await _get_visible(session, tenant_id, model_id)
    _check_approver(approver)
    if entry.tenant_id is not None:
        if entry.status == "deprecated" and enabled:
            raise Conflict("This model is deprecated; set its status to active to use it")
        models = Models(session, owner=tenant_id)
        async with models.changing(entry, actor=actor):
            entry.status = "active" if enabled else "disabled"
        return as_out(entry, enabled=enabled)
    if enabled:
        await session.execute(
            delete(TenantModelSetting).where(
                TenantModelSetting.tenant_id == tenant_id, TenantModelSetting.model_id == entry.id
            )
        )
    else:
        await session.execute(
            insert(TenantModelSetting)
            .values(tenant_id=tenant_id, model_id=entry.id, enabled=False)
            .on_conflict_do_update(
                index_elements=["tenant_id", "model_id"], set_={"enabled": False}
            )
        )
    await actor.record_change(
        session,
        action="enable" if enabled else "disable",
        resource_type="ai_model",
        resource_id=entry.id,
        new={"enabled": enabled},
        tenant_id=tenant_id,
    )
    return as_out(entry, enabled=usable(entry, await _turned_off(session, tenant_id)))


async def resolve(
    session: AsyncSession, *, tenant_id: int, provider: str | None, model: str | None
) -> AiModel:
    """The catalogue entry an agent's (provider, model) names: the tenant's own before the
    platform's, one of the agent's provider before another's. `ModelUnknown` when none is
    named, `ModelDisabled` when it may not be used now."""
    if not model:
        raise ModelUnknown("The agent names no model; set its model_version to a catalogue model")
    rows = list(await session.scalars(_visible(tenant_id).where(AiModel.model == model)))
    if not rows:
        raise ModelUnknown(
            f"The model {model!r} is not in the catalogue: add it (POST /api/v1/models) or "
            "point the agent at one GET /api/v1/models lists",
            details={"model": model, "provider": provider},
        )
    rows.sort(key=lambda r: (r.tenant_id is None, r.provider != provider))
    entry = rows[0]
    if entry.model_type != "chat":
        raise ModelUnknown(
            f"The model {model!r} is an {entry.model_type} model; an agent needs a chat model",
            details={"model": model, "model_type": entry.model_type},
        )
    if not usable(entry, await _turned_off(session, tenant_id)):
        raise ModelDisabled(
            f"The model {model!r} ({entry.provider}) is disabled for this tenant (status "
            f"{entry.status}); enable it (POST /api/v1/models/{entry.id}/enable) or choose "
            "another",
            details={"model": model, "model_id": str(entry.id), "status": entry.status},
        )
    if entry.provider not in PROTOCOLS:  # kept by the schema; a row edited by hand
        raise ModelUnknown(f"The model {model!r} names an unknown provider {entry.provider!r}")
    return entry
