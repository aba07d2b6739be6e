"""Agent runs: render the prompt, retrieve knowledge, call the model, run the tools it asks
for, repeat up to a step limit, answer. Every step and metric is on record (seed 004).

Each step is written in a transaction of its own, so a run's record survives its failure and
shows how far it got; the conversation's messages are written as the run goes.
"""

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from orchestrator_service.agents import persona, providers
from orchestrator_service.agents.availability import ensure_active, ensure_runnable
from orchestrator_service.agents.llm import Completion, ModelFailed, ModelLimits
from orchestrator_service.agents.models import Agent
from orchestrator_service.agents.pause import (
    DECLINED,
    RunCancelled,
    RunPaused,
    checkpoint,
    pause_run,
    resumed,
)
from orchestrator_service.agents.prompting import system_prompt, tool_result
from orchestrator_service.agents.providers import ModelClient
from orchestrator_service.agents.recall import memory_turn
from orchestrator_service.agents.record import Emit, RunRecord, finish_run
from orchestrator_service.agents.schemas import (
    RunRequest,
    run_limits,
)
from orchestrator_service.audit.service import Actor
from orchestrator_service.catalogue import service as catalogue
from orchestrator_service.catalogue.models import AiModel
from orchestrator_service.conversations import service as conversations
from orchestrator_service.conversations.models import ChatConversation
from orchestrator_service.conversations.schemas import (
    MAX_MESSAGE_CHARS,
    ConversationCreate,
    MessageCreate,
)
from orchestrator_service.credentials.service import SecretResolver
from orchestrator_service.db.base import TENANT_WIDE
from orchestrator_service.db.tenancy import get_scoped, get_visible
from orchestrator_service.errors import Forbidden, NotFound, OrchestratorError, VaultError
from orchestrator_service.executions.models import Execution
from orchestrator_service.rag.search import KnowledgeSearch, SearchRequest
from orchestrator_service.tenants.quotas import Quotas
from orchestrator_service.tools import service as tool_service
from orchestrator_service.tools.invoker import ConfirmationRequired, ToolRunner
from orchestrator_service.tools.schemas import FunctionTool, InvokeRequest
from orchestrator_service.tools.ssrf import Guard
from orchestrator_service.usage.service import CallOf, Metering

HISTORY = 20


class RunFailed(OrchestratorError):
    """The run ended as failed; the execution record says why."""

    status_code = 502
    code = "run_failed"


class ModelCredentialUnusable(RunFailed):
    """The run cannot call its model: the key's vault credential must be entered again, or
    may not be sent to the agent's model host. The tenant's configuration, not a failure."""

    status_code = 409
    code = "model_credential_unusable"


class ModelCredentialMissing(ModelCredentialUnusable):
    """The run cannot call its model: the vault holds no credential of the name the agent's
    `config.api_key_credential` gives (default OPENAI_API_KEY)."""

    code = "model_credential_missing"


@dataclass
class _Context:
    """What a run reads before it starts talking to the model."""

    agent: Agent
    conversation: ChatConversation
    past: list[Any]
    tools: list[FunctionTool]


class AgentRunner:
    """Runs agents: prompt, retrieval, model calls and tool calls, every step on record."""

    def __init__(
        self,
        *,
        sessionmaker: async_sessionmaker[AsyncSession],
        secrets: SecretResolver,
        guard: Guard,
        tools: ToolRunner,
        knowledge: KnowledgeSearch,
        model_limits: ModelLimits,
        quotas: Quotas,
        usage: Metering,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._secrets = secrets
        self._guard = guard
        self._tools = tools
        self._knowledge = knowledge
        self._model_limits = model_limits
        self._quotas = quotas
        self._usage = usage

    async def start(
        self,
        *,
        tenant_id: int,
        agent_id: int,
        request: RunRequest,
        actor: Actor,
        opening: Sequence[MessageCreate] = (),
        source: str = "web",
    ) -> Execution:
        """Check the agent and conversation, count the run against the tenant's runs per
        minute (`QuotaExceeded`), and record it as queued. A new conversation (from `source`)
        starts with the `opening` messages, written in the same transaction."""
        async with self._sessionmaker.begin() as session:
            agent = await get_visible(
                session, Agent, tenant_id, actor.user_id, agent_id, what="Agent"
            )
            ensure_runnable(agent, source=source)
            await self._quotas.count_run(session, tenant_id=tenant_id)
            # An unknown or disabled model (4xx) and a spent budget (429) refuse the run here.
            await catalogue.resolve(
                session,
                tenant_id=tenant_id,
                provider=agent.model_provider,
                model=agent.model_version,
            )
            await self._usage.admit(session, tenant_id=tenant_id)
            if request.conversation_id is not None:
                conversation = await conversations.get_conversation(
                    session,
                    tenant_id=tenant_id,
                    user_id=actor.user_id,
                    conversation_id=request.conversation_id,
                )
            else:
                conversation = await conversations.create_conversation(
                    session,
                    tenant_id=tenant_id,
                    data=ConversationCreate(
                        channel="web",
                        channel_source=source,
                        agent_id=agent.id,
                        visibility=request.visibility,
                    ),
                    actor=actor,
                )
                for message in opening:
                    await conversations.add_message(
                        session, conversation=conversation, data=message
                    )
            execution = Execution(
                tenant_id=tenant_id,
                agent_id=agent.id,
                user_id=actor.user_id,
                conversation_id=conversation.id,
                session_id=request.session_id or conversation.id,
                status="queued",
                input_prompt=request.input,
                model_name=agent.model_version,
                created_by=actor.user_id,
                meta={"variables": request.variables, "actor": actor.label},
            )
            session.add(execution)
        return execution

    async def execute(
        self, execution_id: uuid.UUID, *, stream: bool = False, emit: Emit | None = None
    ) -> Execution:
        """Run a queued execution to its end; the finished record, or `RunFailed` (recorded)."""

        async def quiet(_: str, __: dict) -> None:
            return None

        async with self._sessionmaker.begin() as session:
            execution = await session.get(Execution, execution_id, with_for_update=True)
            if execution is None or execution.status != "queued":
                raise RunFailed("This run is not waiting to start")
            execution.status = "running"
            execution.started_at = datetime.now(UTC)
        actor = Actor(
            tenant_id=execution.tenant_id,
            user_id=execution.user_id,
            key_id=None,
            label=(execution.meta or {}).get("actor", "agent-run"),
        )
        scrubber = self._secrets.scrubber(execution.tenant_id)
        run = RunRecord(self._sessionmaker, execution, actor, emit or quiet, scrubber)
        started = time.perf_counter()
        try:
            answer = await self._loop(run, stream=stream)
        except RunPaused as paused:  # until a user confirms or rejects the tool call
            await pause_run(run, paused, turns=run.turns)
            return run.execution
        except RunCancelled as exc:
            await finish_run(run, started, status="cancelled", error=exc)
            return run.execution
        except ModelCredentialUnusable as exc:  # the tenant's to fix: a 4xx saying what
            await finish_run(run, started, status="failed", error=exc)
            exc.details = {**(exc.details or {}), "execution_id": str(execution.id)}
            raise
        except OrchestratorError as exc:
            await finish_run(run, started, status="failed", error=exc)
            raise RunFailed(
                f"The run failed: {scrubber.text(exc.message)}",
                details={"execution_id": str(execution.id), "reason": exc.code},
            ) from None
        await finish_run(run, started, status="completed", output=answer)
        return run.execution

    async def stream(self, execution_id: uuid.UUID) -> AsyncIterator[bytes]:
        """Server-sent events of a run: `delta` text, `tool` calls, then `done` or `error`."""
        async for event, data in self.events(execution_id):
            yield f"event: {event}\ndata: {json.dumps(data)}\n\n".encode()

    async def events(self, execution_id: uuid.UUID) -> AsyncIterator[tuple[str, dict]]:
        """The (event, data) pairs of a run as it goes: `delta` text, `tool` calls, then
        `done` (with the output and token usage) or `error`."""
        queue: asyncio.Queue[tuple[str, dict] | None] = asyncio.Queue()

        async def emit(event: str, data: dict) -> None:
            await queue.put((event, data))

        async def go() -> None:
            try:
                execution = await self.execute(execution_id, stream=True, emit=emit)
                await emit(
                    "done",
                    {
                        "execution_id": str(execution.id),
                        "conversation_id": str(execution.conversation_id),
                        "output": execution.output_response,
                        "status": execution.status,
                        "usage": (execution.meta or {}).get("usage"),
                    },
                )
            except OrchestratorError as exc:
                await emit(
                    "error", {"code": exc.code, "message": exc.message, "details": exc.details}
                )
            finally:
                await queue.put(None)

        task = asyncio.create_task(go())
        try:
            while (item := await queue.get()) is not None:
                yield item
        finally:
            await task

    async def _loop(self, run: RunRecord, *, stream: bool) -> str:
        """Call the model and the tools it asks for until it answers or the step limit."""
        context = await self._context(run.execution)
        agent, conversation = context.agent, context.conversation
        limit, deadline = run_limits(agent.config)
        resume = resumed(run)
        messages = resume.messages if resume else await self._opening_messages(run, context)
        client, entry = await self._model_client(run, agent, deadline)
        options = {"temperature": agent.temperature, "max_tokens": agent.max_tokens}
        definitions = [
            {"type": "function", "function": t.function.model_dump()} for t in context.tools
        ]
        known = {t.function.name for t in context.tools}
        try:
            if resume is not None:
                await self._calls(run, context, resume.calls, messages, known, resume.decision)
            while run.turns < limit:
                await checkpoint(run)
                run.turns += 1
                completion = await run.step(
                    "llm",
                    "chat_completion",
                    lambda: self._usage.measure(
                        CallOf.of(run.execution),
                        entry,
                        _call(client, run, messages, definitions, options, stream),
                        streamed=stream,
                    ),
                    record_input={"messages": len(messages), "tools": sorted(known)},
                )
                run.tokens_in += completion.tokens_in
                run.tokens_out += completion.tokens_out
                if not completion.tool_calls:
                    answer = completion.content or ""
                    await self._store_message(
                        run,
                        conversation,
                        MessageCreate(
                            role="assistant", content=answer, tokens_used=completion.tokens_out
                        ),
                    )
                    return answer
                await self._tool_turn(run, context, completion, messages, known)
        finally:
            await client.aclose()
        raise ModelFailed(f"The model kept calling tools past the step limit ({limit})")

    async def _context(self, execution: Execution) -> _Context:
        async with self._sessionmaker.begin() as session:
            agent = await get_scoped(
                session, Agent, execution.tenant_id, execution.agent_id, what="Agent"
            )
            ensure_active(agent)  # switched off while the run waited in the queue
            conversation = await session.get(ChatConversation, execution.conversation_id)
            if conversation is None:
                raise RunFailed("The run's conversation no longer exists")
            past = await conversations.history(session, conversation, HISTORY)
            # A window that starts mid-exchange (a tool result without its call) is refused by
            # chat-completions APIs: start it at a user message.
            while past and past[0].role != "user":
                past.pop(0)
            tools = await tool_service.agent_tools(
                session, tenant_id=execution.tenant_id, agent_id=agent.id
            )
        return _Context(agent=agent, conversation=conversation, past=past, tools=tools)

    async def _opening_messages(self, run: RunRecord, context: _Context) -> list[dict]:
        """System prompt, retrieved knowledge, history and the user's input (now stored)."""
        agent, execution = context.agent, run.execution
        user_input = execution.input_prompt
        if user_input is None:  # start() records every run with its input
            raise RunFailed("This run has no input")
        variables = (execution.meta or {}).get("variables", {})

        async def prompt() -> dict:
            text, missing = persona.system_prompt(agent, variables)
            text = system_prompt(
                template_type=agent.template_type,
                agent_name=agent.name,
                rendered=text,
                tools=context.tools,
            )
            return {"prompt": text, "missing": missing}

        system = await run.step("prompt", "render_system_prompt", prompt, record_input=variables)
        messages = [{"role": "system", "content": system["prompt"]}]
        messages += await memory_turn(self._sessionmaker, run, context.agent, context.conversation)
        if agent.knowledge_collections and self._knowledge.vector_store is not None:
            knowledge = await run.step(
                "retrieval",
                "search_knowledge",
                lambda: self._retrieve(execution.tenant_id, agent, user_input),
                record_input={"query": user_input},
            )
            if knowledge:
                found = "\n\n".join(f"[{k['filename']}] {k['content']}" for k in knowledge)
                messages.append({"role": "system", "content": f"Relevant knowledge:\n{found}"})
        messages += [_as_model_message(m) for m in context.past]
        messages.append({"role": "user", "content": user_input})
        await self._store_message(
            run, context.conversation, MessageCreate(role="user", content=user_input)
        )
        return messages

    async def _model_client(
        self, run: RunRecord, agent: Agent, deadline: float
    ) -> tuple[ModelClient, AiModel]:
        """A client speaking the protocol of the agent's catalogue model, holding its key from
        the vault, and the catalogue entry; a missing or unusable key is
        `ModelCredentialMissing` / `ModelCredentialUnusable`, naming what to configure."""
        async with self._sessionmaker.begin() as session:
            entry = await catalogue.resolve(
                session,
                tenant_id=run.execution.tenant_id,
                provider=agent.model_provider,
                model=agent.model_version,
            )
        config = agent.config or {}
        target = providers.target_of(entry, config)
        base_url = target.base_url
        name = (
            config.get("api_key_credential")
            or entry.api_key_credential
            or providers.default_credential(entry.provider)
        )
        try:
            api_key = await self._secrets.resolve(
                tenant_id=run.execution.tenant_id,
                name=name,
                consumer=f"agent:{agent.id}",
                destination=base_url,
                actor=run.actor,
            )
        except (NotFound, VaultError, Forbidden) as exc:
            raise _unusable_key(exc, agent, name, base_url) from None
        client = providers.open_client(
            target, api_key=api_key, guard=self._guard, deadline=deadline, limits=self._model_limits
        )
        return client, entry

    async def _tool_turn(
        self,
        run: RunRecord,
        context: _Context,
        completion: Completion,
        messages: list[dict],
        known: set[str],
    ) -> None:
        """Record the model's tool calls, run each, and give the results back to it."""
        messages.append(
            {
                "role": "assistant",
                "content": completion.content,
                "tool_calls": completion.tool_calls,
            }
        )
        await self._store_message(
            run,
            context.conversation,
            MessageCreate(
                role="assistant",
                content=completion.content or "",
                tool_calls=completion.tool_calls,
                tokens_used=completion.tokens_out,
            ),
        )
        await self._calls(run, context, completion.tool_calls, messages, known)

    async def _calls(
        self,
        run: RunRecord,
        context: _Context,
        calls: list[dict],
        messages: list[dict],
        known: set[str],
        decision: str | None = None,
    ) -> None:
        """Run tool calls in order, each result (with its tool's response guide) given back to
        the model; a call needing confirmation pauses the run there (`decision` is the
        user's, for the first call)."""
        for index, call in enumerate(calls):
            await checkpoint(run)
            try:
                output = await self._tool(run, context, call, known, None if index else decision)
            except ConfirmationRequired:
                raise RunPaused(calls[index:], messages) from None
            name = (call.get("function") or {}).get("name", "")
            result = json.dumps(tool_result(context.tools, name, output))
            if len(result) > MAX_MESSAGE_CHARS:
                result = json.dumps(
                    {
                        "error": f"the tool's answer ({len(result)} characters) is longer than "
                        f"a message may be ({MAX_MESSAGE_CHARS})"
                    }
                )
            messages.append({"role": "tool", "tool_call_id": call.get("id", ""), "content": result})
            await self._store_message(
                run,
                context.conversation,
                MessageCreate(role="tool", content=result, tool_call_id=call.get("id")),
            )

    async def _tool(
        self,
        run: RunRecord,
        context: _Context,
        call: dict,
        known: set[str],
        decision: str | None = None,
    ) -> Any:
        """Run one tool call; an unknown tool fails the run, a tool error goes back to the
        model, a tool needing confirmation raises `ConfirmationRequired` unless `decision`
        confirmed it (a rejection tells the model the user declined)."""
        function = call.get("function") or {}
        name = function.get("name", "")
        if name not in known:
            raise ModelFailed(f"The model asked for a tool this agent does not have: {name!r}")
        try:
            arguments = json.loads(function.get("arguments") or "{}")
        except ValueError:
            return {"error": "the arguments were not valid JSON"}
        run.tool_calls += 1
        await run.emit("tool", {"name": name})
        agent, conversation = context.agent, context.conversation

        async def invoke() -> Any:
            if decision == "rejected":
                return DECLINED
            try:
                result = await self._tools.invoke(
                    tenant_id=run.execution.tenant_id,
                    agent_id=agent.id,
                    tool_name=name,
                    request=InvokeRequest(arguments=arguments, confirm=decision == "confirmed"),
                    actor=run.actor,
                    user_key=conversation.display_name or str(conversation.id),
                    shared=conversation.visibility == TENANT_WIDE,
                    execution_id=run.execution.id,
                )
            except ConfirmationRequired:
                raise
            except OrchestratorError as exc:  # told to the model, which may recover
                return {"error": run.scrubber.text(exc.message)}
            return result.output

        return await run.step("tool", name, invoke, record_input=arguments)

    async def _retrieve(self, tenant_id: int, agent: Agent, query: str) -> list[dict]:
        results = await self._knowledge.search(
            tenant_id=tenant_id,
            request=SearchRequest(query=query[:4000], top_k=4, mode="hybrid"),
            allowed_collections=list(agent.knowledge_collections),
        )
        return [
            r.model_dump(mode="json", include={"filename", "content", "score"}) for r in results
        ]

    async def _store_message(
        self, run: RunRecord, conversation: ChatConversation, data: MessageCreate
    ) -> None:
        scrubbed = data.model_copy(
            update={
                "content": run.scrubber.value(data.content),
                "tool_calls": run.scrubber.value(data.tool_calls),
            }
        )
        async with self._sessionmaker.begin() as session:
            await conversations.add_message(session, conversation=conversation, data=scrubbed)


def _unusable_key(
    exc: OrchestratorError, agent: Agent, name: str, base_url: str
) -> ModelCredentialUnusable:
    """Why the agent's model key cannot be used, and what to configure."""
    host = urlsplit(base_url).hostname or base_url
    where = f"Agent {agent.id} calls its model at {host} with the vault credential {name!r}"
    if isinstance(exc, NotFound):
        return ModelCredentialMissing(
            f"{where}, which does not exist: store it (POST /api/v1/credentials; category "
            "openai for api.openai.com, otherwise with allowed_hosts set by an admin) or point "
            "config.api_key_credential at one that exists",
            details={"credential": name},
        )
    if isinstance(exc, Forbidden):
        return ModelCredentialUnusable(
            f"{where}, which may not be sent there: an admin must add {host} to the "
            "credential's allowed_hosts (or point the agent at a host it allows)",
            details={"credential": name, "reason": "host_not_allowed", "host": host},
        )
    return ModelCredentialUnusable(
        f"{where}, which cannot be decrypted: enter its value again "
        "(PATCH /api/v1/credentials/{id})",
        details={"credential": name, "reason": "needs_reentry"},
    )


async def _call(
    client: ModelClient,
    run: RunRecord,
    messages: list[dict],
    tools: list[dict],
    options: dict,
    stream: bool,
) -> Completion:
    """One model call; what the model said is scrubbed before anything records, stores or
    streams it (a careless model API may echo the key it was sent)."""
    if not stream:
        completion = await client.complete(messages, tools, **options)
    else:
        completion, deltas = None, run.scrubber.stream()
        async for part in client.stream(messages, tools, **options):
            if isinstance(part, Completion):
                completion = part
            elif text := deltas.feed(part):
                await run.emit("delta", {"content": text})
        if text := deltas.flush():
            await run.emit("delta", {"content": text})
        if completion is None:  # stream() ends with the Completion unless it raises
            raise ModelFailed("The model stream ended without its completion")
    completion.content = run.scrubber.value(completion.content)
    completion.tool_calls = run.scrubber.value(completion.tool_calls)
    if len(completion.content or "") > MAX_MESSAGE_CHARS:
        raise ModelFailed(
            f"The model API at {client.host} answered with more text than a message may hold "
            f"({MAX_MESSAGE_CHARS} characters)"
        )
    return completion


def _as_model_message(message: Any) -> dict:
    item: dict = {"role": message.role, "content": message.content}
    if message.tool_calls:
        item["tool_calls"] = message.tool_calls
    if message.tool_call_id:
        item["tool_call_id"] = message.tool_call_id
    return item
