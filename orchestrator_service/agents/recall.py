"""What a run is told it remembers: the agent's memories about the run's user (or, for a run
acting for no user, the conversation's contact), as one system message. A user's private facts
reach only runs in a conversation private to them: what the model says lands in the
conversation, and a tenant-wide one is read by the whole tenant."""

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from orchestrator_service.agents.memory import (
    Subject,
    memory_message,
    memory_refusal,
    prompt_memories,
)
from orchestrator_service.agents.models import Agent
from orchestrator_service.agents.record import RunRecord
from orchestrator_service.conversations.models import ChatConversation
from orchestrator_service.db.base import TENANT_WIDE


async def memory_turn(
    sessionmaker: async_sessionmaker[AsyncSession],
    run: RunRecord,
    agent: Agent,
    conversation: ChatConversation,
) -> list[dict[str, Any]]:
    """The system message of what the agent remembers (none when its memory is off or it
    knows nothing). When it knows something, a `memory` step records the facts' ids, never
    their values: the execution log is read by more people than the facts' owner."""
    if memory_refusal(agent) is not None:
        return []
    user_id = run.execution.user_id
    subject = Subject.of(user_id, conversation.display_name or str(conversation.id))
    async with sessionmaker.begin() as session:
        facts = await prompt_memories(
            session,
            agent=agent,
            subject=subject,
            shared=conversation.visibility == TENANT_WIDE,
        )
    if not facts:
        return []

    async def used() -> dict[str, list[str]]:
        return {"memories": [fact["id"] for fact in facts]}

    about = "user" if user_id is not None else "contact"
    await run.step("memory", "recall_memories", used, record_input={"about": about})
    return [{"role": "system", "content": memory_message(facts)}]
