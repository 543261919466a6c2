"""The public form sent twice (a double click, a slow network, a reloaded POST) is one request.

Each rendering of the form carries a random one-time nonce. The request created from it keeps
SHA-256(nonce, fields) — never the nonce itself, like every secret here (tokens.py). The same nonce with the
same fields finds that request again: no second request, no second confirmation email, as the API's
``client_reference`` does for machines. The same nonce with other fields (the person went back and changed
something) is another request, not one silently dropped.
"""
from __future__ import annotations

import hashlib
import json
import re
import secrets
from collections.abc import Iterable

import sqlalchemy as sa

from ..extensions import db
from ..models import DataRequest

NONCE_FIELD = "submission"
NOT_PART_OF_THE_REQUEST = {NONCE_FIELD, "csrf_token"}
_NONCE = re.compile(r"[A-Za-z0-9_-]{16,64}")


def new_form_nonce() -> str:
    return secrets.token_urlsafe(24)


def submission_key(nonce: str | None, fields: Iterable[tuple[str, str]]) -> str | None:
    """The hash stored with the request; None without a well-formed nonce (an old page: no idempotency)."""
    if not nonce or not _NONCE.fullmatch(nonce):
        return None
    sent = sorted((k, v) for k, v in fields if k not in NOT_PART_OF_THE_REQUEST)
    digest = hashlib.sha256(json.dumps(sent, separators=(",", ":")).encode("utf-8", "surrogatepass")).hexdigest()
    return hashlib.sha256(f"{nonce}:{digest}".encode()).hexdigest()


def previous_request(key: str | None) -> DataRequest | None:
    if key is None:
        return None
    return db.session.scalar(sa.select(DataRequest).where(DataRequest.form_submission_hash == key))


def remember(req: DataRequest, key: str | None) -> None:
    req.form_submission_hash = key
