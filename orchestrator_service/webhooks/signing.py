"""Standard Webhooks signatures (https://www.standardwebhooks.com): `whsec_` secrets, and the
`webhook-id`, `webhook-timestamp` and `webhook-signature` headers of a message."""

import base64
import hashlib
import hmac
import secrets

PREFIX = "whsec_"
SECRET_BYTES = 32


def new_secret() -> str:
    """A fresh signing secret: `whsec_` and 32 random bytes in base64."""
    return PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def signature(secret: str, message_id: str, timestamp: int, body: str) -> str:
    """The `v1,<base64 HMAC-SHA256>` signature of a message with one secret."""
    key = base64.b64decode(secret.removeprefix(PREFIX), validate=True)  # ValueError if not
    signed = f"{message_id}.{timestamp}.{body}".encode()
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def headers(secrets_: list[str], message_id: str, timestamp: int, body: str) -> dict[str, str]:
    """The three headers of a message, signed with each secret (space-separated signatures:
    during a rotation's grace period a receiver holding either secret verifies it)."""
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(signature(s, message_id, timestamp, body) for s in secrets_),
        "content-type": "application/json",
    }
