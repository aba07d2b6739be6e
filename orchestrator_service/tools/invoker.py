"""Tool invocation for agent runtimes: check, run, record in `tool_executions`, answer.

The execution row is written in transactions of its own, so a failed call is on record even
though the request that made it answers with an error; no transaction is open while a tool's
HTTP call is.
"""

import json
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from jsonschema import Draft202012Validator
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from orchestrator_service.agents.availability import ensure_active
from orchestrator_service.agents.models import Agent
from orchestrator_service.audit.service import Actor
from orchestrator_service.credentials.scrub import Scrubber
from orchestrator_service.credentials.service import SecretResolver
from orchestrator_service.db.tenancy import get_visible
from orchestrator_service.error_log.service import record as record_error
from orchestrator_service.errors import Conflict, InvalidInput, NotFound, OrchestratorError
from orchestrator_service.metrics import TOOL_INVOCATIONS
from orchestrator_service.rag.search import KnowledgeSearch
from orchestrator_service.tools.builtins import BUILTINS, AgentNetwork, ToolContext
from orchestrator_service.tools.http_runner import call_http_tool
from orchestrator_service.tools.models import Tool, ToolExecution
from orchestrator_service.tools.policy import needs_confirmation
from orchestrator_service.tools.schemas import (
    InvokeRequest,
    InvokeResult,
    parameters_of,
)
from orchestrator_service.tools.service import (
    count_use,
    http_config,
    resolve_tool,
    tool_settings,
)
from orchestrator_service.tools.ssrf import Guard


class ConfirmationRequired(Conflict):
    """The tool asks for an explicit confirmation flag."""

    code = "confirmation_required"


def _check_arguments(tool: Tool, arguments: dict) -> None:
    validator = Draft202012Validator(parameters_of(tool.function_schema))
    errors = sorted(validator.iter_errors(arguments), key=lambda e: list(e.absolute_path))
    if errors:
        raise InvalidInput(
            f"Arguments for {tool.name!r} do not match its schema: "
            + "; ".join(f"{e.json_path}: {e.message}" for e in errors[:5]),
            details=[{"path": e.json_path, "message": e.message} for e in errors],
        )


async def _enabled_tool(session: AsyncSession, tenant_id: int, agent: Agent, name: str) -> Tool:
    tool = None
    if name in (agent.enabled_tools or []):
        tool = await resolve_tool(session, tenant_id=tenant_id, name=name)
    if tool is None or not tool.is_enabled:
        raise NotFound(f"Agent {agent.id} has no enabled tool {name!r}")
    return tool


def _jsonable(value: Any) -> Any:
    """`value` as plain JSON types (what a built-in tool returns may hold dates)."""
    return json.loads(json.dumps(value, default=str))


class ToolRunner:
    """Runs agents' tools: checks in one transaction, calls with none open, records after."""

    def __init__(
        self,
        *,
        sessionmaker: async_sessionmaker[AsyncSession],
        secrets: SecretResolver,
        guard: Guard,
        knowledge: KnowledgeSearch,
        mailer: Any = None,
    ) -> None:
        self._mailer = mailer
        self._sessionmaker = sessionmaker
        self._secrets = secrets
        self._guard = guard
        self._knowledge = knowledge
        self._network: AgentNetwork | None = None

    def attach_network(self, network: AgentNetwork) -> None:
        """Give the built-in tools the agent network (built after this runner: it runs
        agents, whose runs call tools)."""
        self._network = network

    def scrubber(self, tenant_id: int) -> Scrubber:
        """What scrubs the tenant's (and the global) secrets from what goes back to it."""
        return self._secrets.scrubber(tenant_id)

    async def invoke(
        self,
        *,
        tenant_id: int,
        agent_id: int,
        tool_name: str,
        request: InvokeRequest,
        actor: Actor,
        user_key: str | None = None,
        shared: bool = False,
        execution_id: uuid.UUID | None = None,
    ) -> InvokeResult:
        """Run one of the agent's tools (for the run `execution_id`, if any) and record the
        execution, succeeded or failed."""
        async with self._sessionmaker.begin() as session:
            agent = await get_visible(
                session, Agent, tenant_id, actor.user_id, agent_id, what="Agent"
            )
            ensure_active(agent)
            tool = await _enabled_tool(session, tenant_id, agent, tool_name)
            if needs_confirmation(tool) and not request.confirm:
                raise ConfirmationRequired(
                    f'Tool {tool.name!r} requires confirmation: send "confirm": true to run it',
                    details={"tool": tool.name, "security_level": tool.security_level},
                )
            _check_arguments(tool, request.arguments)
            settings = await tool_settings(session, tenant_id=tenant_id, tool_name=tool.name)
            scrubber = self._secrets.scrubber(tenant_id)
            execution = ToolExecution(
                tenant_id=tenant_id,
                agent_id=agent.id,
                tool_id=tool.id,
                tool_name=tool.name,
                input_parameters=scrubber.value(request.arguments),
                status="running",
                started_at=datetime.now(UTC),
            )
            session.add(execution)
        started = time.perf_counter()
        try:
            output = await self._run(
                tenant_id,
                tool,
                agent,
                request.arguments,
                actor,
                user_key,
                shared,
                execution_id,
                settings,
            )
        except Exception as exc:
            message = exc.message if isinstance(exc, OrchestratorError) else "internal error"
            await self._finish(
                execution,
                tool,
                started,
                status="failed",
                error=scrubber.text(message),
                code=getattr(exc, "code", "internal_error"),
            )
            TOOL_INVOCATIONS.labels(tool.type, getattr(exc, "code", "internal_error")).inc()
            raise
        TOOL_INVOCATIONS.labels(tool.type, "completed").inc()
        # Scrubbed string by string: a secret the tool's service echoes back is never passed on.
        output = scrubber.value(_jsonable(output))
        duration = await self._finish(execution, tool, started, status="completed", output=output)
        return InvokeResult(
            execution_id=execution.id,
            tool=tool.name,
            status="completed",
            output=output,
            duration_ms=duration,
        )

    async def _run(
        self,
        tenant_id: int,
        tool: Tool,
        agent: Agent,
        arguments: dict,
        actor: Actor,
        request_user_key: str | None,
        shared: bool,
        execution_id: uuid.UUID | None,
        settings: dict,
    ) -> Any:
        if tool.type == "internal":
            builtin = BUILTINS.get(tool.name)
            if builtin is None:
                raise InvalidInput(f"Internal tool {tool.name!r} is not built into this service")
            async with self._sessionmaker.begin() as session:
                context = ToolContext(
                    tenant_id=tenant_id,
                    agent_id=agent.id,
                    collections=tuple(agent.knowledge_collections or ()),
                    knowledge=self._knowledge,
                    session=session,
                    user_key=request_user_key or actor.label,
                    user_id=actor.user_id,
                    actor=actor,
                    mailer=self._mailer,
                    shared=shared,
                    execution_id=execution_id,
                    network=self._network,
                    settings=settings,
                )
                return await builtin[0](arguments, context)
        config = http_config(tool)

        async def secret(name: str, destination: str) -> str:
            return await self._secrets.resolve(
                tenant_id=tenant_id,
                name=name,
                consumer=f"tool:{tool.name}",
                destination=destination,
                actor=actor,
            )

        # `tool_config` is a reserved argument name: the tenant's settings always win over
        # anything the model sends under it.
        return await call_http_tool(
            config,
            config.url or tool.service_url or "",
            {**arguments, "tool_config": settings},
            guard=self._guard,
            secret=secret,
        )

    async def _finish(
        self,
        execution: ToolExecution,
        tool: Tool,
        started: float,
        *,
        status: str,
        output: Any = None,
        error: str | None = None,
        code: str | None = None,
    ) -> int:
        duration = int((time.perf_counter() - started) * 1000)
        async with self._sessionmaker.begin() as session:
            await session.execute(
                update(ToolExecution)
                .where(ToolExecution.id == execution.id)
                .values(
                    status=status,
                    output_result=None if output is None else {"result": output},
                    error_message=error,
                    execution_time_ms=duration,
                    completed_at=datetime.now(UTC),
                )
            )
            if status == "completed":
                await count_use(session, tool)
            if error is not None:
                await record_error(
                    session,
                    tenant_id=execution.tenant_id,
                    kind="tool_call",
                    code=code,
                    message=error,
                    subject=f"tool:{tool.name}",
                    scrubber=self._secrets.scrubber(execution.tenant_id),
                )
        return duration
