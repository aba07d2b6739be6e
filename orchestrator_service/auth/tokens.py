"""Bearer tokens: `<kind>_<prefix>_<secret>`, stored only as a SHA-256 hash.

The prefix is random, unique and shown in listings; it finds the row, and the hash of the
whole token is then compared in constant time. The secret has 256 bits of entropy, so a fast
hash is enough (passwords, which have little entropy, use argon2 instead).
"""

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Literal

Kind = Literal["key", "session"]
_MARKERS: dict[Kind, str] = {"key": "orch", "session": "orchs"}


@dataclass(frozen=True)
class NewToken:
    """A freshly minted token: the plaintext (shown once), its prefix and its hash."""

    plaintext: str
    prefix: str
    hash: str


def hash_token(token: str) -> str:
    """SHA-256 of the whole token, hex."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_token(kind: Kind) -> NewToken:
    """Mint a token of this kind."""
    prefix = f"{_MARKERS[kind]}_{secrets.token_hex(6)}"
    plaintext = f"{prefix}_{secrets.token_urlsafe(32)}"
    return NewToken(plaintext=plaintext, prefix=prefix, hash=hash_token(plaintext))


def parse_token(token: str) -> tuple[Kind, str] | None:
    """The kind and prefix of a well-formed token, or None."""
    parts = token.split("_")
    if len(parts) < 3 or len(parts[1]) != 12:
        return None
    for kind, marker in _MARKERS.items():
        if parts[0] == marker:
            return kind, f"{parts[0]}_{parts[1]}"
    return None


def token_matches(token: str, stored_hash: str) -> bool:
    """Constant-time comparison of a presented token with a stored hash."""
    return hmac.compare_digest(hash_token(token), stored_hash)
