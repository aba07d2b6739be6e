"""One domain error hierarchy, mapped to HTTP in one handler (see http.py).

Every error class of the package, with its HTTP status and the `code` of its error body.
The classes defined outside this module name their module, under orchestrator_service/;
what each means is in its docstring and in the README's error table. tests/test_errors.py
fails when a class is missing here or differs, so add a line with every new class.

OrchestratorError              500 internal_error
├── ConfigError                500 config_error
├── DatabaseUnreachable        503 database_unreachable
├── HealError                  503 heal_failed
├── Unauthorized               401 unauthorized
├── Forbidden                  403 forbidden
│   ├── DestinationApprovalRequired  403 destination_approval_required
│   ├── AgentsNotConnected     403 agents_not_connected      agent_network/messaging.py
│   ├── WrongPassword          403 wrong_password            auth/service.py
│   └── ToolApprovalRequired   403 tool_approval_required    tools/policy.py
├── VaultError                 500 vault_error
├── NotFound                   404 not_found
├── Conflict                   409 conflict
│   ├── ConfirmationRequired   409 confirmation_required     tools/invoker.py
│   ├── ConnectionInactive     409 connection_inactive       agent_network/messaging.py
│   ├── ExchangeLimit          409 exchange_limit            agent_network/messaging.py
│   ├── RunCancelled           409 run_cancelled             agents/pause.py
│   ├── ModelDisabled          409 model_disabled            catalogue/service.py
│   ├── AgentInactive          409 agent_inactive            agents/availability.py
│   └── ChannelNotAllowed      409 channel_not_allowed       agents/availability.py
├── InvalidInput               422 invalid_input
│   └── ModelUnknown           422 model_unknown             catalogue/service.py
├── TooManyRequests            429 rate_limited
│   ├── BudgetExceeded         429 budget_exceeded           usage/service.py
│   └── QuotaExceeded          429 quota_exceeded            tenants/quotas.py
├── BlockedDestination         422 destination_blocked       tools/ssrf.py
├── ToolCallFailed             502 tool_failed               tools/http_runner.py
├── ToolTimeout                504 tool_timeout              tools/http_runner.py
├── UploadTooLarge             413 upload_too_large          rag/service.py
├── ParseError                 422 unparseable_document      rag/documents.py
├── EmbeddingFailed            502 embedding_failed          rag/embedders/openai.py
├── VectorStoreError           503 vector_store_unavailable  rag/vector_store/__init__.py
├── ChannelSendFailed          502 channel_send_failed       channels/meta.py
├── SendFailed                 502 send_failed               mail/sender.py
├── IntegrationFailed          502 integration_failed        integrations/client.py
├── StorageUnavailable         503 storage_unavailable       storage/__init__.py
├── AgentAnswerFailed          502 agent_answer_failed       agent_network/messaging.py
├── McpFailed                  502 mcp_failed                agent_network/remote_mcp.py
│   └── McpTimeout             504 mcp_timeout               agent_network/remote_mcp.py
├── ModelFailed                502 model_failed              agents/llm.py
│   └── ModelTimeout           504 model_timeout             agents/llm.py
└── RunFailed                  502 run_failed                agents/runs.py
    └── ModelCredentialUnusable    409 model_credential_unusable  agents/runs.py
        └── ModelCredentialMissing 409 model_credential_missing   agents/runs.py

The `orchestrator` command prints an error's message and exits 2 on ConfigError (a usage
or configuration error), 1 on any other (see cli.py).
"""

import math
from collections.abc import Mapping
from typing import Any


class OrchestratorError(Exception):
    """Base of every error the service raises on purpose."""

    status_code = 500
    code = "internal_error"
    # For an error about a backing store: its name ("vector store"). An HTTP response then
    # says only that this store is unavailable; the message, which may name a host or quote
    # the driver, goes to the log (and to the command line), never into a response body.
    store: str | None = None
    # HTTP headers the response carries (WWW-Authenticate, Retry-After).
    headers: Mapping[str, str] | None = None

    def __init__(self, message: str, *, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class ConfigError(OrchestratorError):
    """Configuration or a database URL is malformed."""

    status_code = 500
    code = "config_error"


class DatabaseUnreachable(OrchestratorError):
    """A database could not be reached within the configured timeout."""

    status_code = 503
    code = "database_unreachable"
    store = "database"


class HealError(OrchestratorError):
    """The boot-time schema heal failed; the service must not serve."""

    status_code = 503
    code = "heal_failed"
    store = "database"


class Unauthorized(OrchestratorError):
    """No valid credentials; the response tells the client how to authenticate."""

    status_code = 401
    code = "unauthorized"
    headers = {"WWW-Authenticate": 'Bearer realm="orchestrator"'}


class Forbidden(OrchestratorError):
    """Authenticated, but the role or the key's scopes do not allow this."""

    status_code = 403
    code = "forbidden"


class DestinationApprovalRequired(Forbidden):
    """Only an admin decides where a secret may be sent: widening a credential's hosts, or
    pointing a tool or agent that sends a credential somewhere else."""

    code = "destination_approval_required"


class VaultError(OrchestratorError):
    """A key is missing or wrong, or a ciphertext is not bound to the record holding it."""

    status_code = 500
    code = "vault_error"


class NotFound(OrchestratorError):
    """The object does not exist for this tenant."""

    status_code = 404
    code = "not_found"


class Conflict(OrchestratorError):
    """The change would break a uniqueness rule."""

    status_code = 409
    code = "conflict"


class InvalidInput(OrchestratorError):
    """The input is well-formed but the domain refuses it."""

    status_code = 422
    code = "invalid_input"


class TooManyRequests(OrchestratorError):
    """Too many attempts (logins) in too short a time; `Retry-After` says when to try again."""

    status_code = 429
    code = "rate_limited"

    def __init__(self, message: str, *, retry_after: float, details: Any = None) -> None:
        seconds = max(1, math.ceil(retry_after))
        super().__init__(message, details={**(details or {}), "retry_after": seconds})
        self.retry_after = seconds
        self.headers = {"Retry-After": str(seconds)}
