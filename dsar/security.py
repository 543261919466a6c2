"""Passwords (Argon2id), secrets encrypted with the file keys, and API keys."""
from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from flask import current_app

_hasher = PasswordHasher()  # Argon2id, memory-hard, library defaults (RFC 9106 second recommendation)

API_SCOPES = ("submit", "read", "staff", "directory", "suppression")
KEY_PREFIX = "dsar_"


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)


# Burned on unknown logins, so that timing does not reveal which emails have accounts.
DUMMY_HASH = _hasher.hash(secrets.token_hex(8))


#: ``mapped_column(..., info=ENCRYPTED_COLUMN)`` marks a column holding encrypt_secret() tokens: `dsar rotate-keys`
#: re-encrypts every column so marked (dsar/keyrotation.py). New encrypted columns must carry it.
ENCRYPTED_COLUMN = {"encrypted_with_file_keys": True}


def _fernet() -> MultiFernet:
    return MultiFernet([Fernet(k) for k in current_app.config["DSAR_FILE_KEYS"]])


def encrypt_secret(value: str) -> str:
    return _fernet().encrypt(value.encode()).decode()


def decrypt_secret(token: str) -> str:
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise ValueError("secret cannot be decrypted with the configured keys") from exc


@dataclass(frozen=True)
class NewApiKey:
    prefix: str
    secret: str          # the whole key, shown once
    key_hash: str


def generate_api_key() -> NewApiKey:
    prefix = secrets.token_hex(6)
    secret = f"{KEY_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    return NewApiKey(prefix, secret, hashlib.sha256(secret.encode()).hexdigest())


def parse_api_key(secret: str) -> tuple[str, str] | None:
    """(prefix, sha256) of a presented key, or None when it is not shaped like one of ours."""
    if not secret.startswith(KEY_PREFIX):
        return None
    rest = secret[len(KEY_PREFIX):]
    prefix, sep, tail = rest.partition("_")
    if not sep or len(prefix) != 12 or not tail:
        return None
    return prefix, hashlib.sha256(secret.encode()).hexdigest()


def same_digest(a: str, b: str) -> bool:
    return hmac.compare_digest(a, b)
