"""The tool registry: global tools (platform admins) and tenant tools, which shadow globals."""

from collections.abc import Iterator
from contextlib import suppress
from typing import Any

from pydantic import ValidationError
from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from orchestrator_service.agents.models import Agent
from orchestrator_service.audit.service import Actor
from orchestrator_service.db.repository import AuditedRepository
from orchestrator_service.db.tenancy import get_scoped
from orchestrator_service.errors import DestinationApprovalRequired, InvalidInput, NotFound
from orchestrator_service.pagination import PageParams, paginate
from orchestrator_service.patterns import compile_pattern
from orchestrator_service.tenants.models import Tenant
from orchestrator_service.tools.builtins import BUILTINS
from orchestrator_service.tools.models import Tool
from orchestrator_service.tools.policy import check_enabling, check_loosening, needs_confirmation
from orchestrator_service.tools.schemas import (
    FunctionDefinition,
    FunctionTool,
    HttpToolConfig,
    ToolCreate,
    ToolUpdate,
    parameters_of,
)


class OwnedTools(AuditedRepository[Tool]):
    """The tools an owner may change: a tenant only its own, a platform admin only globals."""

    model = Tool
    resource_type = "tool"
    what = "Tool"
    audited = (
        "name",
        "type",
        "service_url",
        "is_enabled",
        "requires_confirmation",
        "security_level",
        "config",
    )
    conflicts = {"uq_tools_tenant_id_name": "A tool with this name already exists"}


def _visible(tenant_id: int | None):
    """Tools a caller sees: a tenant its own and the global ones; a platform admin the global."""
    stmt = select(Tool)
    if tenant_id is None:
        return stmt.where(Tool.tenant_id.is_(None))
    return stmt.where(or_(Tool.tenant_id == tenant_id, Tool.tenant_id.is_(None)))


def http_config(tool: Tool) -> HttpToolConfig:
    """An HTTP tool's configuration, checked; `InvalidInput` says what is wrong with it."""
    try:
        config = HttpToolConfig.model_validate(tool.config or {})
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'config'}: {e['msg']}" for e in exc.errors()
        )
        raise InvalidInput(f"Tool {tool.name!r} has an invalid config: {problems}") from None
    if not (config.url or tool.service_url):
        raise InvalidInput(f"Tool {tool.name!r} needs config.url or service_url")
    return config


# `{{credential:NAME}}` as the HTTP runner fills it (whitespace allowed inside the braces).
_CREDENTIAL_REFERENCE = compile_pattern(r"\{\{\s*credential:")
# Config fields that tune a call without changing where it goes or what it carries.
_TUNING = frozenset({"timeout_s", "max_response_bytes", "retries"})


def _template_strings(value: Any) -> Iterator[str]:
    """Every string a template renders: strings, and values inside lists and objects."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _template_strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _template_strings(item)


def _sends_credentials(shape: dict) -> bool:
    """True when an HTTP tool of this shape fills a vault credential into its request."""
    if shape["type"] != "http":
        return False
    strings = _template_strings([shape["service_url"], shape["config"]])
    return any(_CREDENTIAL_REFERENCE.search(text) for text in strings)


def _shape(fields: dict) -> dict:
    """What decides where a tool's request goes and what it carries: type, service_url and
    config (url, method, headers, body), without the tuning fields."""
    config = fields.get("config") or {}
    if isinstance(config, dict):
        # Defaults filled in, so a stored config and a patch that omits them compare equal; an
        # invalid one is compared as it is (the tool is refused when it is used).
        with suppress(ValidationError):
            config = HttpToolConfig.model_validate(config).model_dump()
        config = {k: v for k, v in config.items() if k not in _TUNING}
    return {"type": fields.get("type"), "service_url": fields.get("service_url"), "config": config}


def _check_destination(before: dict | None, after: dict, *, approver: bool, name: str) -> None:
    """Only an admin creates a tool that sends a credential, or changes where such a tool's
    request goes or what it carries; anyone with tools:write may tune or describe it."""
    if approver or not _sends_credentials(after) or (before is not None and before == after):
        return
    raise DestinationApprovalRequired(
        f"Only an admin may decide where tool {name!r} sends a credential: a tool whose URL, "
        "headers or body use {{credential:...}} is created, and its service_url or config "
        "(url, method, headers, body) changed, by an admin (the admin role and "
        "credentials:write). You may still change its description, timeouts and other fields",
        details={"tool": name},
    )


async def ensure_builtin_tools(session: AsyncSession) -> None:
    """Register the internal tools as global tools, once."""
    existing = set(
        await session.scalars(
            select(Tool.name).where(Tool.tenant_id.is_(None), Tool.name.in_(BUILTINS))
        )
    )
    for name, (_, spec) in BUILTINS.items():
        if name not in existing:
            session.add(
                Tool(tenant_id=None, name=name, type="internal", category="builtin", **spec)
            )
    await session.flush()


async def create_tool(
    session: AsyncSession, *, owner: int | None, data: ToolCreate, actor: Actor, approver: bool
) -> Tool:
    """Register a tool for the owner (a tenant, or None for a global tool); one that sends a
    credential only when the caller is an `approver` (an admin)."""
    if data.type == "internal" and data.name not in BUILTINS:
        raise InvalidInput(
            f"Internal tools are built in ({', '.join(sorted(BUILTINS))}); use type 'http'"
        )
    _check_destination(None, _shape(data.model_dump()), approver=approver, name=data.name)
    tool = Tool(tenant_id=owner, **data.model_dump(exclude_none=True))
    return await OwnedTools(session, owner=owner).create(tool, actor=actor)


async def list_tools(
    session: AsyncSession, *, owner: int | None, page: PageParams
) -> tuple[list[Tool], str | None]:
    """The tools the owner sees, newest first."""
    return await paginate(session, _visible(owner), Tool, page)


async def get_tool(session: AsyncSession, *, owner: int | None, tool_id: int) -> Tool:
    """A tool the owner sees (its own or a global one), or 404."""
    tool = await session.scalar(_visible(owner).where(Tool.id == tool_id))
    if tool is None:
        raise NotFound("Tool not found")
    return tool


async def update_tool(
    session: AsyncSession,
    *,
    owner: int | None,
    tool_id: int,
    data: ToolUpdate,
    actor: Actor,
    approver: bool,
    admin: bool,
) -> Tool:
    """Change a tool the owner owns; where a credential-sending tool's request goes is changed
    only by an `approver`, its security level lowered or its confirmation turned off only by
    an `admin` (tools/policy.py)."""
    tools = OwnedTools(session, owner=owner)
    tool = await tools.get(tool_id)
    changes = data.model_dump(exclude_unset=True)
    check_loosening(tool, changes, admin=admin)
    current = {"type": tool.type, "service_url": tool.service_url, "config": tool.config}
    _check_destination(
        _shape(current), _shape({**current, **changes}), approver=approver, name=tool.name
    )
    async with tools.changing(tool, actor=actor):
        for field, value in changes.items():
            setattr(tool, field, value)
        if tool.type == "http":
            http_config(tool)
    return tool


async def delete_tool(
    session: AsyncSession, *, owner: int | None, tool_id: int, actor: Actor
) -> None:
    """Delete a tool the owner owns."""
    tools = OwnedTools(session, owner=owner)
    await tools.delete(await tools.get(tool_id), actor=actor)


async def resolve_tool(session: AsyncSession, *, tenant_id: int, name: str) -> Tool | None:
    """The tool `name` as the tenant sees it: its own if it has one, else the global one."""
    return await session.scalar(
        _visible(tenant_id).where(Tool.name == name).order_by(Tool.tenant_id.is_(None)).limit(1)
    )


async def agent_tools(
    session: AsyncSession, *, tenant_id: int, agent_id: int
) -> list[FunctionTool]:
    """The agent's enabled tools as OpenAI function-calling definitions."""
    agent = await get_scoped(session, Agent, tenant_id, agent_id, what="Agent")
    names = list(agent.enabled_tools or [])
    chosen: dict[str, Tool] = {}
    for tool in await session.scalars(_visible(tenant_id).where(Tool.name.in_(names))):
        if tool.name not in chosen or tool.tenant_id is not None:  # the tenant's shadows
            chosen[tool.name] = tool
    return [
        FunctionTool(
            function=FunctionDefinition(
                name=tool.name,
                description=tool.description or tool.display_name or tool.name,
                parameters=parameters_of(tool.function_schema),
            ),
            prompt_injection=tool.prompt_injection,
            response_guide=tool.response_guide,
            requires_confirmation=needs_confirmation(tool),
            security_level=tool.security_level,
        )
        for tool in (chosen.get(name) for name in names)
        if tool is not None and tool.is_enabled
    ]


async def tool_settings(session: AsyncSession, *, tenant_id: int, tool_name: str) -> dict:
    """The tenant's settings for one tool: its entry of `tenants.tool_config`, or `{}`."""
    config = await session.scalar(select(Tenant.tool_config).where(Tenant.id == tenant_id))
    entry = (config or {}).get(tool_name) if isinstance(config, dict) else None
    return entry if isinstance(entry, dict) else {}


async def count_use(session: AsyncSession, tool: Tool) -> None:
    """Add one to the tool's usage count."""
    await session.execute(
        update(Tool).where(Tool.id == tool.id).values(usage_count=Tool.usage_count + 1)
    )


async def check_tools_enabling(
    session: AsyncSession,
    *,
    tenant_id: int,
    before: list[str],
    after: list[str],
    admin: bool,
) -> None:
    """Refuse a non-admin newly enabling a tool only an admin approves (tools/policy.py)."""
    added = [name for name in dict.fromkeys(after) if name not in before]
    if admin or not added:
        return
    found = [await resolve_tool(session, tenant_id=tenant_id, name=name) for name in added]
    check_enabling([tool for tool in found if tool is not None], admin=admin)
