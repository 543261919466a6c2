"""Signed, expiring tokens, salted per purpose: a token made for one purpose never opens another.

Links that must be revocable (status page, task link, download) carry a random
nonce whose SHA-256 is stored on the row; revoking means forgetting the hash.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets

from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from .errors import DomainError, N_

PURPOSES = {"confirm-email", "status", "task", "download", "password-reset",
            "task-answer-preview"}  # a professional's answer between its preview and its confirmation (issue 18)


class TokenError(DomainError):
    status_code = 400
    code = "bad_token"


class TokenExpired(TokenError):
    status_code = 410
    code = "expired_token"


def _serializer(purpose: str) -> URLSafeTimedSerializer:
    if purpose not in PURPOSES:
        raise ValueError(f"unknown token purpose {purpose!r}")
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=f"dsar.{purpose}")


def make_token(purpose: str, payload: dict) -> str:
    return _serializer(purpose).dumps(payload)


def read_token(purpose: str, token: str, *, max_age: int) -> dict:
    """The payload of a valid token; TokenExpired or TokenError otherwise (never which part was wrong)."""
    try:
        payload = _serializer(purpose).loads(token or "", max_age=max_age)
    except SignatureExpired:
        raise TokenExpired(N_("This link has expired.")) from None
    except BadSignature:
        raise TokenError(N_("This link is not valid.")) from None
    if not isinstance(payload, dict):
        raise TokenError(N_("This link is not valid."))
    return payload


def new_nonce() -> tuple[str, str]:
    """A random secret and its SHA-256 hex digest (what the database keeps)."""
    nonce = secrets.token_urlsafe(24)
    return nonce, hash_secret(nonce)


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def same_hash(secret: str, stored_hash: str | None) -> bool:
    return bool(stored_hash) and hmac.compare_digest(hash_secret(secret), stored_hash)


# --- the requester's status page ---------------------------------------------------------------------------

STATUS_LINK_MAX_AGE = 3 * 365 * 86400   # the link stays good while the request may still matter to its requester


def status_token(req) -> str:
    """The secret part of the requester's status-page link: signed, bound to the request and its current salt."""
    if not req.status_link_salt:
        req.status_link_salt = secrets.token_hex(16)
    return make_token("status", {"r": req.id, "k": req.status_link_salt})


def request_id_from_status_token(token: str) -> tuple[int, str]:
    """(request id, salt) of a status token; the caller compares the salt with the stored one."""
    payload = read_token("status", token, max_age=STATUS_LINK_MAX_AGE)
    if not isinstance(payload.get("r"), int) or not isinstance(payload.get("k"), str):
        raise TokenError(N_("This link is not valid."))
    return payload["r"], payload["k"]
