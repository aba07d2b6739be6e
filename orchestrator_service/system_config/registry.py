"""The platform settings that may change at runtime: each key with its type, bounds, meaning
and default (the boot-time setting of the same meaning). A key outside this set, or a value
outside its bounds, is refused."""

from dataclasses import dataclass
from typing import Any

from orchestrator_service.config import Settings


@dataclass(frozen=True)
class Key:
    """A known setting: an integer between `minimum` and `maximum`."""

    name: str
    description: str
    minimum: int
    maximum: int
    setting: str  # the Settings field holding its default

    def check(self, value: Any) -> int:
        """The value if it is an integer within bounds, else `ValueError` saying why."""
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{self.name} takes an integer")
        if not self.minimum <= value <= self.maximum:
            raise ValueError(f"{self.name} takes a value from {self.minimum} to {self.maximum}")
        return value


KEYS: dict[str, Key] = {
    key.name: key
    for key in (
        Key(
            "quota.runs_per_minute",
            "Agent runs one tenant may start per calendar minute (429 quota_exceeded past it)",
            1,
            1_000_000,
            "quota_runs_per_minute",
        ),
        Key(
            "quota.documents",
            "Documents one tenant may hold (429 quota_exceeded past it)",
            1,
            1_000_000_000,
            "quota_documents",
        ),
        Key(
            "quota.stored_bytes",
            "Bytes of documents one tenant may store (429 quota_exceeded past it)",
            1,
            2**53 - 1,
            "quota_stored_bytes",
        ),
    )
}


def defaults(settings: Settings) -> dict[str, int]:
    """Every key's default: the boot-time setting of the same meaning."""
    return {name: getattr(settings, key.setting) for name, key in KEYS.items()}
