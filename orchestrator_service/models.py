"""Every model, so that `Base.metadata` is complete wherever the schema is needed, and the two
heal targets built from them."""

from orchestrator_service.agents.models import Agent, AgentMemory
from orchestrator_service.audit.models import AuditLog
from orchestrator_service.auth.models import ApiKey, UserSession
from orchestrator_service.business_assets.models import BusinessAsset
from orchestrator_service.channels.models import ChannelConnection, ChannelDelivery, ChannelThread
from orchestrator_service.conversations.models import ChatConversation, ChatMessage
from orchestrator_service.credentials.models import Credential, VaultDataKey, VaultState
from orchestrator_service.db.base import VECTOR_EXTENSIONS, Base, VectorBase
from orchestrator_service.db.heal.ledger import add_ledger_tables
from orchestrator_service.db.heal.targets import HealTarget, steps_of
from orchestrator_service.executions.models import Execution, ExecutionMetric, ExecutionStep
from orchestrator_service.rag.models import RagDocument
from orchestrator_service.rag.vector_models import DocumentChunk
from orchestrator_service.system_config.models import SystemConfig
from orchestrator_service.tenants.models import Tenant
from orchestrator_service.tools.models import Tool, ToolExecution
from orchestrator_service.users.models import User

add_ledger_tables(Base.metadata)
add_ledger_tables(VectorBase.metadata)

METADATA = HealTarget(
    name="metadata", metadata=Base.metadata, extensions=(), steps=steps_of("metadata")
)
VECTORS = HealTarget(
    name="vectors",
    metadata=VectorBase.metadata,
    extensions=VECTOR_EXTENSIONS,
    steps=steps_of("vectors"),
    # Supabase in production: its REST API must not reach chunks (issue 13).
    private=True,
)

__all__ = [
    "METADATA",
    "VECTORS",
    "Agent",
    "AgentMemory",
    "ApiKey",
    "AuditLog",
    "Base",
    "BusinessAsset",
    "ChannelConnection",
    "ChannelDelivery",
    "ChannelThread",
    "ChatConversation",
    "ChatMessage",
    "Credential",
    "DocumentChunk",
    "Execution",
    "ExecutionMetric",
    "ExecutionStep",
    "RagDocument",
    "SystemConfig",
    "Tenant",
    "Tool",
    "ToolExecution",
    "User",
    "UserSession",
    "VaultDataKey",
    "VaultState",
    "VectorBase",
]
