"""What a tool's `security_level` means (seed 000: `safe`, `moderate`, `dangerous`).

| level       | who may enable it on an agent            | a call needs `confirm: true` |
| ----------- | ---------------------------------------- | ---------------------------- |
| `safe`      | anyone who may change the agent          | only if `requires_confirmation` |
| `moderate`  | an admin (the tenant's admin role)       | only if `requires_confirmation` |
| `dangerous` | an admin                                 | always                       |

Only an admin lowers a tool's level or turns its `requires_confirmation` off, so a member
cannot make a tool easier to reach than an admin left it. Raising a level does not detach the
tool from the agents that have it (an admin enabled it there, or it was safe then); the
confirmation rule holds for every call from the moment the level is raised.
"""

from collections.abc import Iterable

from orchestrator_service.errors import Forbidden
from orchestrator_service.tools.models import Tool

LEVELS = ("safe", "moderate", "dangerous")
# Levels an admin must approve on an agent.
ADMIN_LEVELS = frozenset({"moderate", "dangerous"})


class ToolApprovalRequired(Forbidden):
    """Only an admin enables a `moderate` or `dangerous` tool on an agent, lowers a tool's
    security level or turns its confirmation off."""

    code = "tool_approval_required"


def rank(level: str | None) -> int:
    """The order of the levels; an unknown stored level counts as `dangerous`."""
    return LEVELS.index(level) if level in LEVELS else len(LEVELS) - 1


def needs_confirmation(tool: Tool) -> bool:
    """True when every call of the tool needs an explicit confirmation."""
    return bool(tool.requires_confirmation) or rank(tool.security_level) >= rank("dangerous")


def check_enabling(tools: Iterable[Tool], *, admin: bool) -> None:
    """Refuse a non-admin enabling tools whose level only an admin approves."""
    if admin:
        return
    guarded = sorted(t.name for t in tools if rank(t.security_level) >= rank("moderate"))
    if guarded:
        raise ToolApprovalRequired(
            f"Only an admin may enable {', '.join(repr(n) for n in guarded)} on an agent: "
            "tools of security level moderate or dangerous are approved by the tenant's "
            "admin role",
            details={"tools": guarded},
        )


def check_loosening(tool: Tool, changes: dict, *, admin: bool) -> None:
    """Refuse a non-admin lowering the tool's level or turning its confirmation off."""
    if admin:
        return
    lowered = "security_level" in changes and rank(changes["security_level"]) < rank(
        tool.security_level
    )
    unconfirmed = changes.get("requires_confirmation") is False and tool.requires_confirmation
    if lowered or unconfirmed:
        raise ToolApprovalRequired(
            f"Only an admin may lower the security level of tool {tool.name!r} or turn its "
            "requires_confirmation off",
            details={"tool": tool.name},
        )
