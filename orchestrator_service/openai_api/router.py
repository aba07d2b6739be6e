"""`/v1`: the tenant's agents behind the OpenAI chat-completions API, for any OpenAI client
(`base_url` = the service's `/v1`, `api_key` = an API key of the tenant)."""

import time
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends, Response
from fastapi.responses import StreamingResponse

from orchestrator_service.agents.schemas import RunRequest
from orchestrator_service.deps import (
    ActorDep,
    AgentRunnerDep,
    SessionDep,
    TenantPrincipal,
    require,
)
from orchestrator_service.openai_api import service
from orchestrator_service.openai_api.schemas import (
    ChatCompletion,
    ChatCompletionRequest,
    ModelList,
    OpenAIErrorBody,
    openai_error,
)

PREFIX = "/v1"
Runner = Annotated[TenantPrincipal, Depends(require("executions:write"))]


def _errors(*statuses: int) -> dict:
    return {
        status: {"model": OpenAIErrorBody, "description": "An error, in OpenAI's shape"}
        for status in statuses
    }


router = APIRouter(prefix=PREFIX, tags=["openai"], responses=_errors(401, 403))


@router.get("/models")
async def list_models(principal: Runner, session: SessionDep) -> ModelList:
    """The agents this key may run, as models (`agent-<id>`; `owned_by` is the agent's
    name)."""
    agents = await service.runnable_agents(
        session, tenant_id=principal.tenant_id, user_id=principal.user_id
    )
    return ModelList(data=[service.model_card(agent) for agent in agents])


@router.post(
    "/chat/completions",
    response_model=ChatCompletion,
    responses={
        200: {
            "description": "A `chat.completion`; with `stream`, `chat.completion.chunk` "
            "server-sent events, usage in the last chunk (one of its own with "
            "`stream_options.include_usage`), then `[DONE]`",
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
        },
        **_errors(400, 404, 409, 413, 422, 429, 502, 504),
    },
)
async def chat_completions(
    data: ChatCompletionRequest,
    principal: Runner,
    actor: ActorDep,
    session: SessionDep,
    runs: AgentRunnerDep,
    response: Response,
) -> ChatCompletion | StreamingResponse:
    """Run the agent `model` names on the last user message; earlier messages open the
    conversation (or `conversation_id` continues a stored one). The agent's tools run on the
    server; its prompt is the system prompt, with `metadata` as its variables."""
    agent = await service.agent_for_model(
        session, tenant_id=principal.tenant_id, user_id=principal.user_id, model=data.model
    )
    opening, text = service.conversation_of(data)
    variables = dict[str, str | int | float | bool](data.metadata or {})
    request = RunRequest(
        input=text,
        conversation_id=data.conversation_id,
        variables=variables,
        session_id=data.session_id,
    )
    execution = await runs.start(
        tenant_id=principal.tenant_id,
        agent_id=agent.id,
        request=request,
        actor=actor,
        opening=[] if data.conversation_id else opening,
        source="openai",
    )
    headers = {"X-Conversation-Id": str(execution.conversation_id)}
    if not data.stream:
        response.headers.update(headers)
        return service.completion_of(await runs.execute(execution.id), data.model)

    separate_usage = bool(data.stream_options and data.stream_options.include_usage)

    async def chunks() -> AsyncIterator[bytes]:
        completion_id, created = f"chatcmpl-{execution.id}", int(time.time())
        yield service.chunk(completion_id, created, data.model, {"role": "assistant"})
        async for event, body in runs.events(execution.id):
            if event == "delta":
                delta = {"content": body["content"]}
                yield service.chunk(completion_id, created, data.model, delta)
            elif event == "done":
                usage = service.usage(body.get("usage"))
                if separate_usage:
                    yield service.chunk(completion_id, created, data.model, {}, finish="stop")
                    yield service.chunk(completion_id, created, data.model, None, usage_=usage)
                else:
                    yield service.chunk(
                        completion_id, created, data.model, {}, finish="stop", usage_=usage
                    )
                yield service.event("[DONE]")
            elif event == "error":
                error = openai_error(502, body["code"], body["message"], body.get("details"))
                yield service.event(error)

    return StreamingResponse(chunks(), media_type="text/event-stream", headers=headers)
