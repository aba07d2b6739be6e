"""Every model, so that `Base.metadata` is complete wherever the schema is needed, and the two
heal targets built from them."""

from orchestrator_service.agent_network.models import AgentConnection, AgentMessage
from orchestrator_service.agents.models import Agent, AgentMemory
from orchestrator_service.audit.models import AuditLog
from orchestrator_service.auth.models import ApiKey, UserSession
from orchestrator_service.business_assets.models import BusinessAsset
from orchestrator_service.calendar.models import CalendarEvent
from orchestrator_service.catalogue.models import AiModel, TenantModelSetting
from orchestrator_service.channels.models import ChannelConnection, ChannelDelivery, ChannelThread
from orchestrator_service.conversations.models import ChatConversation, ChatMessage
from orchestrator_service.credentials.models import Credential, VaultDataKey, VaultState
from orchestrator_service.db.base import VECTOR_EXTENSIONS, Base, VectorBase
from orchestrator_service.db.heal.ledger import add_ledger_tables
from orchestrator_service.db.heal.targets import HealTarget, steps_of
from orchestrator_service.error_log.models import ErrorLog
from orchestrator_service.executions.models import Execution, ExecutionMetric, ExecutionStep
from orchestrator_service.files.models import File
from orchestrator_service.integrations.models import Integration, OAuthState, SyncedItem
from orchestrator_service.live.models import LiveEvent
from orchestrator_service.mail.models import Email, EmailAttachment, MailAccount
from orchestrator_service.notes.models import Note
from orchestrator_service.rag.models import RagDocument
from orchestrator_service.rag.vector_models import DocumentChunk
from orchestrator_service.system_config.models import SystemConfig
from orchestrator_service.tasks.models import Task
from orchestrator_service.tenants.models import Tenant
from orchestrator_service.tools.models import Tool, ToolExecution
from orchestrator_service.usage.models import BudgetAlert, ModelCall, TenantBudget
from orchestrator_service.users.models import User
from orchestrator_service.webhooks.models import Webhook, WebhookAttempt, WebhookDelivery

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
    "AgentConnection",
    "AgentMemory",
    "AgentMessage",
    "AiModel",
    "ApiKey",
    "AuditLog",
    "Base",
    "BudgetAlert",
    "BusinessAsset",
    "CalendarEvent",
    "ChannelConnection",
    "ChannelDelivery",
    "ChannelThread",
    "ChatConversation",
    "ChatMessage",
    "Credential",
    "DocumentChunk",
    "Email",
    "EmailAttachment",
    "ErrorLog",
    "Execution",
    "ExecutionMetric",
    "ExecutionStep",
    "File",
    "Integration",
    "LiveEvent",
    "MailAccount",
    "ModelCall",
    "Note",
    "OAuthState",
    "RagDocument",
    "SyncedItem",
    "SystemConfig",
    "Task",
    "Tenant",
    "TenantBudget",
    "TenantModelSetting",
    "Tool",
    "ToolExecution",
    "User",
    "UserSession",
    "VaultDataKey",
    "VaultState",
    "VectorBase",
    "Webhook",
    "WebhookAttempt",
    "WebhookDelivery",
]
