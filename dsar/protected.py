"""Values dsar keeps protected in its own database: encrypted (Fernet, the file store's keys) or keyed-hashed.

- ``encrypt_json`` / ``decrypt_json``: small values (a rectification's before/after, captured keys) sealed with
  the same rotating ``DSAR_FILE_KEYS`` as the file store (keys[0] encrypts, every key decrypts).
- ``keyed_hash``: HMAC-SHA-256 with ``DSAR_HASH_KEY``, hex. Used for the art. 21(3) suppression list (the
  marketing tools hold the same key to hash their own contacts) and for the ``hash`` mask of the systems file
  (the same input always gives the same output, so joins on a masked column keep working).
"""
from __future__ import annotations

import hashlib
import hmac
import json
import re

from flask import current_app

from .config import ConfigError
from .contacts import email_key
from .security import decrypt_secret, encrypt_secret


def encrypt_json(value) -> str:
    """A Fernet token (text) of the JSON of ``value``; a column holding one is marked ``ENCRYPTED_COLUMN``
    (``dsar rotate-keys`` re-encrypts it)."""
    return encrypt_secret(json.dumps(value, default=str, sort_keys=True))


def decrypt_json(token: str | None):
    if token is None:
        return None
    return json.loads(decrypt_secret(token))


def _hash_key() -> bytes:
    key = current_app.config.get("DSAR_HASH_KEY")
    if not key:
        raise ConfigError("DSAR_HASH_KEY is not set: the suppression list and the hash masks need it (README, Execution).")
    return key.encode()


def keyed_hash(value: str) -> str:
    """HMAC-SHA-256 of ``value`` under the dsar-held key, 64 hex characters."""
    return hmac.new(_hash_key(), value.encode("utf-8"), hashlib.sha256).hexdigest()


def normalise_email(email: str) -> str:
    """Trimmed and lower-cased (dsar.contacts.email_key): the form every party hashes (the service stores emails
    lower-cased too)."""
    return email_key(email) or ""


def normalise_phone(phone: str) -> str:
    """E.164-like: digits with a leading +; ``00`` becomes ``+`` and a French national number (0 + 9 digits) +33."""
    raw = (phone or "").strip()
    digits = re.sub(r"\D", "", raw)
    if raw.startswith("+"):
        return "+" + digits
    if digits.startswith("00"):
        return "+" + digits[2:]
    if len(digits) == 10 and digits.startswith("0"):
        return "+33" + digits[1:]
    return digits
