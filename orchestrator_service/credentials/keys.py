"""Key-encryption keys (KEKs): a Protocol, and the local provider fed by `ORCH_VAULT_KEYS`.

`ORCH_VAULT_KEYS` is `id:base64key[,id:base64key...]`; each key is 32 random bytes (AES-256);
the first is active (wraps new data keys), the others only unwrap until `vault rotate` is done.
A KMS-backed provider can implement the same Protocol later.
"""

import base64
import binascii
import logging
import os
import secrets
import string
from pathlib import Path
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from orchestrator_service.config import Settings
from orchestrator_service.errors import ConfigError, VaultError

log = logging.getLogger(__name__)

_KEY_ID_CHARS = frozenset(string.ascii_letters + string.digits + "_.-")
DEV_KEY_FILE = "vault-dev.key"
NONCE_BYTES = 12


class KeyProvider(Protocol):
    """Wraps and unwraps data keys with key-encryption keys it never reveals."""

    @property
    def active_key_id(self) -> str:
        """The id of the key new data keys are wrapped with."""
        ...

    @property
    def key_ids(self) -> frozenset[str]:
        """Every key id this provider can unwrap with."""
        ...

    def wrap(self, data_key: bytes, *, context: bytes) -> tuple[str, bytes]:
        """Encrypt a data key under the active KEK, bound to `context`; return (kek id, blob)."""
        ...

    def unwrap(self, key_id: str, blob: bytes, *, context: bytes) -> bytes:
        """Decrypt a data key wrapped by `wrap`; raise `VaultError` if it does not verify."""
        ...


class LocalKeyProvider:
    """KEKs held in process memory, from configuration or the development key file."""

    def __init__(self, keys: dict[str, bytes]) -> None:
        if not keys:
            raise ConfigError("The vault needs at least one key")
        self._keys = keys
        self._active = next(iter(keys))

    @property
    def active_key_id(self) -> str:
        """The first configured key."""
        return self._active

    @property
    def key_ids(self) -> frozenset[str]:
        """All configured key ids."""
        return frozenset(self._keys)

    def wrap(self, data_key: bytes, *, context: bytes) -> tuple[str, bytes]:
        """AES-256-GCM under the active KEK, `context` as associated data."""
        nonce = os.urandom(NONCE_BYTES)
        return self._active, nonce + AESGCM(self._keys[self._active]).encrypt(
            nonce, data_key, context
        )

    def unwrap(self, key_id: str, blob: bytes, *, context: bytes) -> bytes:
        """Decrypt with the KEK named by `key_id`."""
        key = self._keys.get(key_id)
        if key is None:
            raise VaultError(
                f"Vault key {key_id!r} is not configured in ORCH_VAULT_KEYS; add it back until "
                "`orchestrator vault rotate` has rewrapped everything under the active key"
            )
        try:
            return AESGCM(key).decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], context)
        except InvalidTag:
            raise VaultError(
                f"Vault key {key_id!r} does not decrypt data wrapped under that id: wrong key, "
                "or data moved from another record"
            ) from None


def _key_id(key_id: str) -> bool:
    """Whether a key id is 1 to 32 of [A-Za-z0-9_.-]."""
    return 0 < len(key_id) <= 32 and all(char in _KEY_ID_CHARS for char in key_id)


def parse_vault_keys(raw: str) -> dict[str, bytes]:
    """Parse `id:base64key[,...]`; refuse naming the entry that is wrong (never its value)."""
    keys: dict[str, bytes] = {}
    for position, entry in enumerate(raw.split(","), start=1):
        key_id, sep, encoded = entry.strip().partition(":")
        where = f"ORCH_VAULT_KEYS entry {position}"
        if not sep or not _key_id(key_id):
            raise ConfigError(
                f"{where} must look like id:base64key with an id of letters, digits, '_', '.' "
                "or '-' (at most 32)"
            )
        try:
            key = base64.b64decode(encoded.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise ConfigError(f"{where} (id {key_id!r}) is not valid base64") from None
        if len(key) != 32:
            raise ConfigError(
                f"{where} (id {key_id!r}) decodes to {len(key)} bytes; AES-256 needs 32"
            )
        if key_id in keys:
            raise ConfigError(f"{where} repeats the key id {key_id!r}")
        keys[key_id] = key
    return keys


def generate_key_entry(key_id: str) -> str:
    """A fresh `id:base64key` entry for ORCH_VAULT_KEYS."""
    return f"{key_id}:{base64.b64encode(secrets.token_bytes(32)).decode()}"


def load_key_provider(settings: Settings, *, vault_exists: bool) -> LocalKeyProvider:
    """Keys from ORCH_VAULT_KEYS; in development without them, the data dir's dev key file,
    created (mode 0600) only when no vault exists yet."""
    if settings.vault_keys is not None:
        return LocalKeyProvider(parse_vault_keys(settings.vault_keys.get_secret_value()))
    if settings.env == "production":
        raise ConfigError(
            "ORCH_ENV=production needs ORCH_VAULT_KEYS (id:base64key[,...]); refusing to start "
            "with a generated development key"
        )
    path = Path(settings.data_dir) / DEV_KEY_FILE
    if path.exists():
        return LocalKeyProvider(parse_vault_keys(path.read_text().strip()))
    if vault_exists:
        raise VaultError(
            f"The vault holds data but no key is configured and {path} does not exist; set "
            "ORCH_VAULT_KEYS to the key it was written with. A new key is never generated for "
            "an existing vault."
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(generate_key_entry("dev1") + "\n")
    log.warning(
        "No ORCH_VAULT_KEYS: generated a development vault key in %s (mode 0600). Set "
        "ORCH_VAULT_KEYS in any real deployment; ORCH_ENV=production refuses to start without.",
        path,
    )
    return LocalKeyProvider(parse_vault_keys(path.read_text().strip()))
