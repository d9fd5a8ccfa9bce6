"""The installation's secret key, and the keyed digests made with it (public ids, pseudonyms).

Public ids (``resident_id``) and department pseudonyms are HMAC-SHA256 digests under keys derived
from one secret that lives outside the warehouse (``Settings.secrets_dir`` or the environment): so
nobody holding warehouse files can compute them from source data, while the same input gives the
same id in every run.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
from pathlib import Path

from pipelines.settings import Settings

log = logging.getLogger(__name__)

KEY_FILE = "gridsync.key"
KEY_BYTES = 32


class SecretKeyError(ValueError):
    """The secret key is missing, unreadable or too short."""


class Keyring:
    """Keys derived from the installation's secret, one per purpose."""

    def __init__(self, secret: bytes) -> None:
        if len(secret) < KEY_BYTES:
            raise SecretKeyError(f"the secret key has {len(secret)} bytes; at least {KEY_BYTES} are needed")
        self._secret = secret

    def __repr__(self) -> str:
        return "Keyring(<secret>)"

    @classmethod
    def load(cls, settings: Settings | None = None) -> Keyring:
        """The installation's keyring: ``GRIDSYNC_SECRET_KEY`` if set, else the key file.

        The key file (``<secrets_dir>/gridsync.key``) is made with a random key on first use,
        readable by its owner only.

        Args:
            settings: Where to look; the environment's settings by default.

        Returns:
            The keyring.

        Raises:
            SecretKeyError: The key given is not hex text of at least 32 bytes.
        """
        settings = settings or Settings.from_env()
        if settings.secret_key:
            try:
                return cls(bytes.fromhex(settings.secret_key))
            except ValueError:
                raise SecretKeyError("GRIDSYNC_SECRET_KEY is not hex text") from None
        return cls(bytes.fromhex(_key_file(settings.secrets_dir / KEY_FILE)))

    def key(self, purpose: str) -> bytes:
        """The key of one purpose (``resident_id``, ``department:<name>``, ...)."""
        return hmac.new(self._secret, purpose.encode(), hashlib.sha256).digest()

    def digest(self, purpose: str, text: str) -> str:
        """HMAC-SHA256 of ``text`` under the purpose's key, as hex."""
        return hmac.new(self.key(purpose), text.encode(), hashlib.sha256).hexdigest()


def _key_file(path: Path) -> str:
    """Read the key file, making it first if it does not exist (safe when two processes race)."""
    try:
        return path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text(encoding="ascii").strip()
    with os.fdopen(descriptor, "w", encoding="ascii") as handle:
        handle.write(secrets.token_hex(KEY_BYTES) + "\n")
    log.warning("made a new secret key in %s (keep it: public ids and pseudonyms derive from it)", path)
    return path.read_text(encoding="ascii").strip()


def hmac_sql(key: bytes, value_sql: str) -> str:
    """A DuckDB expression of HMAC-SHA256(key, value) as hex, for keyed digests computed in SQL.

    The key appears in the statement only (as the padded inner and outer keys), never in a table.

    Args:
        key: The key (at most 64 bytes).
        value_sql: A VARCHAR expression.

    Returns:
        The expression (64 hex characters, lower case, like ``hmac.hexdigest``).
    """
    padded = key.ljust(64, b"\0")
    inner = bytes(b ^ 0x36 for b in padded).hex()
    outer = bytes(b ^ 0x5C for b in padded).hex()
    return f"sha256(unhex('{outer}') || unhex(sha256(unhex('{inner}') || encode({value_sql}))))"
