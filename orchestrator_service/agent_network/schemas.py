"""Request and response bodies of /agent-connections and /agent-messages."""

import uuid
from datetime import datetime
from typing import Literal

from pydantic import Field

from orchestrator_service.schemas import Input, Output, Patch

ConnectionType = Literal["bidirectional", "one_way"]
ConnectionStatus = Literal["active", "paused", "blocked"]
AgentRef = int
MAX_AGENT_MESSAGE_CHARS = 8000


class ConnectionCreate(Input):
    """A connection between two agents of the tenant: `one_way` lets agent1 message agent2
    only; `bidirectional` lets either message the other."""

    agent1_id: AgentRef = Field(ge=1, le=2**31 - 1)
    agent2_id: AgentRef = Field(ge=1, le=2**31 - 1)
    connection_type: ConnectionType = "bidirectional"
    status: ConnectionStatus = "active"


class ConnectionUpdate(Patch):
    """Changes to a connection (its agents stay; make another connection for other agents)."""

    connection_type: ConnectionType | None = None
    status: ConnectionStatus | None = None


class ConnectionOut(Output):
    """A connection between two agents."""

    id: uuid.UUID
    agent1_id: int
    agent2_id: int
    connection_type: str
    status: str
    created_at: datetime | None
    updated_at: datetime | None


class AgentMessageOut(Output):
    """A message one agent sent another."""

    id: uuid.UUID
    conversation_id: str
    from_agent_id: int
    to_agent_id: int
    content: str
    message_type: str
    depth: int
    in_reply_to: uuid.UUID | None
    execution_id: uuid.UUID | None
    created_at: datetime | None


class McpToolOut(Output):
    """A tool of an agent's MCP server, as the server describes it."""

    name: str
    description: str
    input_schema: dict
