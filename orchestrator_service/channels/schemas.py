"""Request and response bodies of /channels."""

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from orchestrator_service.schemas import Input, Output

ChannelName = Literal["whatsapp", "instagram", "facebook"]
AccountId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.-]{1,100}$")]
CredentialName = Annotated[str, StringConstraints(min_length=1, max_length=255)]


class Template(Input):
    """A WhatsApp message template, sent outside the 24-hour customer-service window."""

    name: Annotated[str, StringConstraints(pattern=r"^[a-z0-9_]{1,512}$")]
    language: Annotated[str, StringConstraints(pattern=r"^[A-Za-z_]{2,10}$")] = "en_US"


class ConnectionCreate(Input):
    """A channel account of the tenant, the agent that answers it (which must list the
    channel), and the names of the vault credentials it uses."""

    channel: ChannelName
    name: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    external_account_id: AccountId = Field(
        description="WhatsApp: the phone number id; Messenger: the page id; Instagram: the "
        "Instagram account id (`entry.id` of its deliveries)."
    )
    business_account_id: AccountId | None = None
    agent_id: int = Field(ge=1, le=2**31 - 1)
    app_secret_credential: CredentialName = Field(
        description="Vault credential holding the Meta app secret (checks X-Hub-Signature-256)."
    )
    access_token_credential: CredentialName = Field(
        description="Vault credential holding the access token replies are sent with; its "
        "allowed_hosts must include the Graph API host."
    )
    verify_token_credential: CredentialName = Field(
        description="Vault credential holding the webhook verify token."
    )
    reengagement_template: Template | None = None


class ConnectionOut(Output):
    """A channel connection; `webhook_path` is the callback to give Meta."""

    id: uuid.UUID
    channel: str
    name: str
    external_account_id: str
    business_account_id: str | None
    agent_id: int
    app_secret_credential: str
    access_token_credential: str
    verify_token_credential: str
    reengagement_template: dict | None
    status: str
    webhook_path: str
    created_at: datetime | None


class WebhookAck(Output):
    """A delivery taken: how many new events it held (a retried delivery holds none)."""

    received: int
