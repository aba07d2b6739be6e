"""Who is calling: resolved once per request from the bearer token."""

import uuid
from dataclasses import dataclass, fields

ROLES = ("viewer", "member", "admin")
PLATFORM_ADMIN = "platform_admin"
RESOURCES = (
    "users",
    "api_keys",
    "audit",
    "agents",
    "tools",
    "credentials",
    "rag",
    "conversations",
    "executions",
    "business_assets",
    "integrations",
    "notes",
    "calendar",
    "mail",
    "webhooks",
)
SCOPES = frozenset(f"{r}:{a}" for r in RESOURCES for a in ("read", "write"))
_ADMIN_ONLY = frozenset({"users:write", "api_keys:read", "api_keys:write", "audit:read"})
ROLE_SCOPES = {
    "viewer": frozenset(s for s in SCOPES if s.endswith(":read")) - _ADMIN_ONLY,
    "member": SCOPES - _ADMIN_ONLY,
    "admin": SCOPES,
}


def role_rank(role: str) -> int:
    """Order of the tenant roles: viewer < member < admin."""
    return ROLES.index(role)


@dataclass(frozen=True)
class Principal:
    """The caller: tenant, user, key or session, role and the key's scopes."""

    tenant_id: int | None
    user_id: uuid.UUID | None
    key_id: uuid.UUID | None
    session_id: uuid.UUID | None
    role: str
    scopes: frozenset[str]

    @property
    def is_platform_admin(self) -> bool:
        """True for a platform-admin key (above tenants)."""
        return self.role == PLATFORM_ADMIN

    @property
    def label(self) -> str:
        """How the audit log names this caller."""
        if self.user_id is not None:
            return f"user:{self.user_id}"
        return f"key:{self.key_id}"

    @property
    def approves_destinations(self) -> bool:
        """True when the caller decides where secrets may be sent: a platform admin (for the
        global credentials and tools), or a tenant admin whose key grants `credentials:write`.
        Members, viewers and admin keys narrowed below `credentials:write` use what was
        approved and nothing more."""
        return self.is_platform_admin or (self.role == "admin" and self.allows("credentials:write"))

    def allows(self, scope: str) -> bool:
        """True when both the role and the key's scopes grant `scope`."""
        granted = ROLE_SCOPES.get(self.role, frozenset())
        return scope in granted and ("*" in self.scopes or scope in self.scopes)

    def in_tenant(self) -> "TenantPrincipal | None":
        """This principal as a `TenantPrincipal`, or None for a key above tenants."""
        if self.tenant_id is None:
            return None
        return TenantPrincipal(**{f.name: getattr(self, f.name) for f in fields(Principal)})


@dataclass(frozen=True)
class TenantPrincipal(Principal):
    """A principal acting inside a tenant: what `require(scope)` admits."""

    tenant_id: int
