"""One domain error hierarchy, mapped to HTTP in one handler (see main.py).

OrchestratorError
├── ConfigError            bad settings or command-line input        (500 at boot, exit 2)
├── DatabaseUnreachable    a database URL cannot be reached           (503, exit 1)
├── HealError              the schema could not be healed             (503, exit 1)
├── NotFound               unknown id, or another tenant's id         (404)
├── Conflict               a uniqueness rule would break              (409)
└── InvalidInput           a value the domain refuses                 (422)
"""

from typing import Any


class OrchestratorError(Exception):
    """Base of every error the service raises on purpose."""

    status_code = 500
    code = "internal_error"

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


class HealError(OrchestratorError):
    """The boot-time schema heal failed; the service must not serve."""

    status_code = 503
    code = "heal_failed"


class Unauthorized(OrchestratorError):
    """No valid credentials; the response tells the client how to authenticate."""

    status_code = 401
    code = "unauthorized"
    headers = {"WWW-Authenticate": 'Bearer realm="orchestrator"'}


class Forbidden(OrchestratorError):
    """Authenticated, but the role or the key's scopes do not allow this."""

    status_code = 403
    code = "forbidden"


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
