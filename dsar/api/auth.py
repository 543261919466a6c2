"""API keys: ``Authorization: Bearer <key>``, scopes, last use, and the rate-limit key.

A key is looked up by its public prefix and compared by SHA-256 in constant time
(dsar/security.py). Scopes (security.API_SCOPES):

- ``submit``: create requests (the IDOMED application: requests made from an account, policy art. 8.1);
- ``read``: read requests and their status;
- ``staff``: everything the back-office does on a request, with an agent's rights, plus ``received_at``;
- ``directory``: sync professionals and patient↔professional links (policy art. 8.2).

No cookie and no session: every call carries its key.
"""
from __future__ import annotations

import functools
import hashlib
import time
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import request
from flask_babel import gettext
from werkzeug.exceptions import Forbidden, Unauthorized

from ..actors import Actor
from ..errors import N_
from ..extensions import db
from ..models import ApiKey, utcnow
from ..security import parse_api_key, same_digest
from ..web.common import client_ip, user_agent
from ..web.input_guards import refuse_hostile_json
from .errors import ErrorSchema, document_errors

LAST_USED_RESOLUTION = timedelta(minutes=1)   # last_used_at is written at most once a minute per key
#: A key found is remembered by the process this long: a revocation made elsewhere (another worker, the CLI)
#: takes effect within it, well within a minute; one made in this process, at once (see _forget_on_revoke).
KEY_CACHE_SECONDS = 30
KEY_CACHE_SIZE = 1000
_DUMMY_HASH = hashlib.sha256(b"dsar-no-such-key").hexdigest()
BEARER = 'Bearer realm="dsar"'


class ApiUnauthorized(Unauthorized):
    def __init__(self, code: str, message: str):
        super().__init__()
        self.api_code = code
        self.api_message = message
        self.data = {"headers": {"WWW-Authenticate": f'{BEARER}, error="invalid_token"' if code != "missing_key" else BEARER}}


class ApiForbidden(Forbidden):
    def __init__(self, code: str, message: str):
        super().__init__()
        self.api_code = code
        self.api_message = message
        self.data = {"headers": {"WWW-Authenticate": f'{BEARER}, error="insufficient_scope"'}}


def presented_key() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


_ENVIRON_KEY = "dsar.api_key"
_ENVIRON_ACTOR = "dsar.api_actor"


@dataclass(frozen=True)
class KnownKey:
    """What a call needs of its key, read from the table at most every KEY_CACHE_SECONDS per process."""

    id: int
    name: str
    prefix: str
    key_hash: str
    scopes: tuple[str, ...]
    revoked_at: datetime | None
    last_used_at: datetime | None


_clock = time.monotonic
_known: dict[str, tuple[float, KnownKey]] = {}   # prefix -> (when read, the key); unknown prefixes are not kept


def _lookup(prefix: str) -> KnownKey | None:
    hit = _known.get(prefix)
    if hit is not None and _clock() - hit[0] < KEY_CACHE_SECONDS:
        return hit[1]
    row = db.session.scalar(sa.select(ApiKey).where(ApiKey.prefix == prefix))
    if row is None:
        _known.pop(prefix, None)
        return None
    key = KnownKey(row.id, row.name, row.prefix, row.key_hash, tuple(row.scopes or ()), row.revoked_at,
                   row.last_used_at)
    if len(_known) >= KEY_CACHE_SIZE:
        _known.clear()
    _known[prefix] = (_clock(), key)
    return key


def forget_keys() -> None:
    """Read every key from the table again at its next use."""
    _known.clear()


@sa.event.listens_for(ApiKey.revoked_at, "set")
def _forget_on_revoke(target, value, oldvalue, initiator):
    # A key revoked through this process's session is refused at once here, not after KEY_CACHE_SECONDS.
    _known.pop(target.prefix, None)


def authenticate() -> KnownKey:
    """The key of this call, or 401 (missing, malformed, unknown, wrong or revoked key).

    Remembered on the request itself (its WSGI environ), never beyond it.
    """
    if _ENVIRON_KEY in request.environ:
        return request.environ[_ENVIRON_KEY]
    secret = presented_key()
    if secret is None:
        raise ApiUnauthorized("missing_key", gettext(N_("An API key is needed: send it as Authorization: Bearer <key>.")))
    parsed = parse_api_key(secret)
    key = None
    if parsed is not None:
        prefix, digest = parsed
        key = _lookup(prefix)
    # Compare even when nothing matched, so that timing does not tell which prefixes exist.
    matches = same_digest(key.key_hash if key is not None else _DUMMY_HASH, parsed[1] if parsed else "0" * 64)
    if key is None or not matches:
        raise ApiUnauthorized("invalid_key", gettext(N_("This API key is not valid.")))
    if key.revoked_at is not None:
        raise ApiUnauthorized("revoked_key", gettext(N_("This API key has been revoked.")))
    key = _record_use(key)
    request.environ[_ENVIRON_KEY] = key
    request.environ[_ENVIRON_ACTOR] = Actor.for_api_key(key, client_ip(), user_agent())
    return key


def _record_use(key: KnownKey) -> KnownKey:
    """Write last_used_at at most once a minute: a busy client must not turn every read into a write."""
    now = utcnow()
    if key.last_used_at is not None and now - key.last_used_at < LAST_USED_RESOLUTION:
        return key
    db.session.execute(
        sa.update(ApiKey)
        .where(ApiKey.id == key.id,
               sa.or_(ApiKey.last_used_at.is_(None), ApiKey.last_used_at < now - LAST_USED_RESOLUTION))
        .values(last_used_at=now)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    key = replace(key, last_used_at=now)
    if key.prefix in _known:
        _known[key.prefix] = (_known[key.prefix][0], key)
    return key


def presents_valid_key() -> bool:
    """Whether this call carries a key that authenticates: such a call is never counted as a failure nor
    slowed by the failure limit, whatever the other calls from its address did."""
    try:
        authenticate()
    except ApiUnauthorized:
        return False
    return True


def has_scope(*scopes: str) -> bool:
    key = request.environ.get(_ENVIRON_KEY)
    return key is not None and bool(set(scopes) & set(key.scopes or ()))


def require_scope(*scopes: str) -> None:
    """403 unless the key holds one of ``scopes``."""
    authenticate()
    if not has_scope(*scopes):
        raise ApiForbidden("insufficient_scope", gettext(N_("This API key lacks the scope needed here: %(scopes)s."))
                           % {"scopes": " or ".join(scopes)})


def actor() -> Actor:
    authenticate()
    return request.environ[_ENVIRON_ACTOR]


def secured(bp, *scopes: str, body: bool = False, error_schema=None):
    """Decorate a view (just under ``@bp.route``): key and scope checked before the body is even parsed.

    Documents the bearer scheme, the scopes, and the answers every such call may get: 401, 403, 429, and for a
    JSON body 400 (not JSON, nested too deeply, a number too large) and 413 (too large).
    """
    def decorator(view):
        statuses = [401, 403, 429] + ([400, 413] if body else [])
        view = document_errors(bp, *statuses, schema=error_schema or ErrorSchema)(view)
        view = bp.doc(security=[{"bearerAuth": []}], **{"x-scopes": list(scopes)})(view)

        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            require_scope(*scopes)
            # 400 for 3,000-level nesting or a 5,000-digit number, before webargs or the view parses it.
            refuse_hostile_json()
            return view(*args, **kwargs)

        return wrapper

    return decorator


def rate_limit_key() -> str:
    """Per key (its hash: a wrong key never counts against a real one); per client address without a key."""
    secret = presented_key()
    parsed = parse_api_key(secret) if secret else None
    if parsed is not None:
        return "api-key:" + parsed[1]
    return "api-ip:" + (request.remote_addr or "unknown")
