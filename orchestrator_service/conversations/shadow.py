"""Shadow RAG (seed 003): a finished conversation becomes a document in the tenant's
"Shadow RAG" collection, when its agent has `config.shadow_rag` on."""

import io

from sqlalchemy.ext.asyncio import AsyncSession

from orchestrator_service.agents.models import Agent
from orchestrator_service.audit.service import Actor
from orchestrator_service.conversations.models import ChatConversation
from orchestrator_service.conversations.service import history
from orchestrator_service.db.base import TENANT_WIDE
from orchestrator_service.rag import service as rag_service
from orchestrator_service.storage import ObjectStore
from orchestrator_service.tenants.quotas import Quotas

COLLECTION = "Shadow RAG"
MAX_MESSAGES = 10_000


async def file_in_shadow_rag(
    session: AsyncSession,
    files: ObjectStore,
    conversation: ChatConversation,
    *,
    max_bytes: int,
    quotas: Quotas,
    actor: Actor,
) -> str | None:
    """Queue the conversation's transcript for ingestion; the document id, or None if the
    agent does not keep a Shadow RAG (or there is nothing to keep, or no tenant to keep it).
    A private conversation is never filed: the collection is the whole tenant's."""
    if conversation.agent_id is None or conversation.tenant_id is None:
        return None
    if conversation.visibility != TENANT_WIDE:
        return None
    agent = await session.get(Agent, conversation.agent_id)
    if agent is None or not (agent.config or {}).get("shadow_rag"):
        return None
    lines = [
        f"{message.role}: {message.content}"
        for message in await history(session, conversation, MAX_MESSAGES)
        if message.role in ("user", "assistant") and message.content.strip()
    ]
    if not lines:
        return None
    document, _ = await rag_service.upload(
        session,
        files,
        max_bytes=max_bytes,
        quotas=quotas,
        tenant_id=conversation.tenant_id,
        filename=f"conversation-{conversation.id}.txt",
        source=io.BytesIO("\n\n".join(lines).encode()),
        collection=COLLECTION,
        metadata={"conversation_id": str(conversation.id), "agent_id": agent.id},
        replace=False,
        actor=actor,
    )
    return document.id
