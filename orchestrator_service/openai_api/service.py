"""Agents as OpenAI models: which agents a key may run, how a request's messages become a
conversation and a run, and the completion and chunk objects of its answer."""

import json
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from orchestrator_service.agents.models import Agent
from orchestrator_service.conversations.schemas import MAX_MESSAGE_CHARS, MessageCreate
from orchestrator_service.db.tenancy import visible
from orchestrator_service.errors import InvalidInput, NotFound
from orchestrator_service.executions.models import Execution
from orchestrator_service.openai_api.schemas import (
    AssistantMessage,
    ChatCompletion,
    ChatCompletionRequest,
    Choice,
    ModelCard,
    Usage,
)

MODEL_PREFIX = "agent-"
# How many earlier messages of a request open its conversation (the runner reads no more).
OPENING_LIMIT = 40


def model_id(agent: Agent) -> str:
    """The model name of an agent: `agent-<id>`."""
    return f"{MODEL_PREFIX}{agent.id}"


def _epoch(moment: datetime | None) -> int:
    return int(moment.timestamp()) if moment is not None else 0


def model_card(agent: Agent) -> ModelCard:
    """An agent as an OpenAI `model`."""
    return ModelCard(id=model_id(agent), created=_epoch(agent.created_at), owned_by=agent.name)


async def runnable_agents(
    session: AsyncSession, *, tenant_id: int, user_id: uuid.UUID | None
) -> list[Agent]:
    """The active agents the user sees (the tenant's and their own private ones) that answer
    on the `api` channel, by id."""
    stmt = (
        visible(Agent, tenant_id, user_id)
        .where(Agent.is_active.is_not(False), Agent.channels.contains(["api"]))
        .order_by(Agent.id)
    )
    return list((await session.scalars(stmt)).all())


async def agent_for_model(
    session: AsyncSession, *, tenant_id: int, user_id: uuid.UUID | None, model: str
) -> Agent:
    """The agent a request's `model` names (`agent-<id>`, or a name only one active agent the
    user sees carries, else only one inactive one); `NotFound` otherwise, the same for another
    tenant's or another user's private agent. An inactive agent is found so that its run is
    refused with 409 `agent_inactive`, saying why, instead of a 404."""
    stmt = visible(Agent, tenant_id, user_id)
    number = model.removeprefix(MODEL_PREFIX)
    if model.startswith(MODEL_PREFIX) and number.isdigit() and int(number) < 2**31:
        found = list((await session.scalars(stmt.where(Agent.id == int(number)))).all())
    else:
        named = stmt.where(Agent.name == model).order_by(Agent.is_active.is_(False)).limit(3)
        candidates = list((await session.scalars(named)).all())
        active = [a for a in candidates if a.is_active is not False]
        found = active or candidates
        if len(found) > 1:
            raise InvalidInput(
                f"More than one agent is named {model!r}: name it by id (GET /v1/models)",
                details={"param": "model"},
            )
    if not found:
        raise NotFound(
            f"The model {model!r} is not an agent this key may run (GET /v1/models lists them)",
            details={"param": "model"},
        )
    return found[0]


def conversation_of(request: ChatCompletionRequest) -> tuple[list[MessageCreate], str]:
    """The messages that open a new conversation, and the user's input (the last message).

    System and developer messages are not kept: the agent's own prompt is the system prompt.
    Tool results and tool calls are refused, since the agent's tools run on the server."""
    *earlier, last = request.messages
    if last.role != "user" or not last.text().strip():
        raise InvalidInput(
            "The last message must be the user's, with text", details={"param": "messages"}
        )
    opening: list[MessageCreate] = []
    for index, message in enumerate(earlier):
        where = {"param": f"messages.{index}"}
        if message.role in ("tool", "function") or message.tool_calls:
            raise InvalidInput(
                "Tool calls and tool results cannot be sent: the agent's tools run on the server",
                details=where,
            )
        if message.role in ("user", "assistant"):
            text = message.text()
            if len(text) > MAX_MESSAGE_CHARS:
                raise InvalidInput(
                    f"A message may hold {MAX_MESSAGE_CHARS} characters", details=where
                )
            opening.append(MessageCreate(role=message.role, content=text))
    return opening[-OPENING_LIMIT:], last.text()


def usage_of(execution: Execution) -> Usage:
    """The token usage a finished run recorded."""
    recorded = (execution.meta or {}).get("usage") or {}
    return usage(recorded)


def usage(recorded: dict[str, Any] | None) -> Usage:
    """A usage object from the recorded split."""
    prompt = int((recorded or {}).get("prompt_tokens", 0))
    completion = int((recorded or {}).get("completion_tokens", 0))
    return Usage(
        prompt_tokens=prompt, completion_tokens=completion, total_tokens=prompt + completion
    )


def completion_of(execution: Execution, model: str) -> ChatCompletion:
    """The `chat.completion` of a finished run."""
    return ChatCompletion(
        id=f"chatcmpl-{execution.id}",
        created=_epoch(execution.created_at),
        model=model,
        choices=[Choice(message=AssistantMessage(content=execution.output_response or ""))],
        usage=usage_of(execution),
    )


def chunk(
    completion_id: str,
    created: int,
    model: str,
    delta: dict | None,
    *,
    finish: str | None = None,
    usage_: Usage | None = None,
) -> bytes:
    """One `chat.completion.chunk` as a server-sent event (no choice when `delta` is None)."""
    body: dict[str, Any] = {
        "id": completion_id,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "choices": [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    if usage_ is not None:
        body["usage"] = usage_.model_dump()
    return f"data: {json.dumps(body)}\n\n".encode()


def event(body: Any) -> bytes:
    """A server-sent event carrying a JSON body (an error) or `[DONE]`."""
    return f"data: {body if isinstance(body, str) else json.dumps(body)}\n\n".encode()
