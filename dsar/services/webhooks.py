"""Outbound webhooks: signed JSON, queued in the outbox with the change that causes them.

A delivery is an outbox message (kind "webhook"): it is written in the transaction
of the change, sent after the commit, retried with back-off when the receiver
fails, and listed in the back-office delivery log.

Signature (computed at send time, so that a retry carries a fresh timestamp)::

    X-DSAR-Timestamp: <unix seconds>
    X-DSAR-Signature: v1=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>
    X-DSAR-Delivery:  <delivery id, the same on every retry: receivers dedupe on it>
    X-DSAR-Event:     <event name>

A receiver recomputes the HMAC over the raw body, compares in constant time, and
refuses a timestamp outside its tolerance window (``verify`` does all three), so a
captured delivery cannot be replayed later. Payloads carry references and
statuses, never names, emails or health data.
"""
from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import logging
import secrets
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from datetime import datetime, timezone

import sqlalchemy as sa
from flask import current_app
from sqlalchemy import event as sa_event
from sqlalchemy.orm import Session

from ..errors import InvalidInput, N_
from ..extensions import db
from ..lifecycle import Change, request_changed
from ..models import OutboxMessage, utcnow
from ..models.webhooks import WebhookEndpoint
from ..models.enums import OutboxKind
from ..security import decrypt_secret, encrypt_secret
from ..serializers import RequestSchema
from . import destinations, outbox

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-DSAR-Signature"
TIMESTAMP_HEADER = "X-DSAR-Timestamp"
DELIVERY_HEADER = "X-DSAR-Delivery"
EVENT_HEADER = "X-DSAR-Event"
SIGNATURE_VERSION = "v1"
DEFAULT_TOLERANCE = 300          # seconds a receiver accepts between our timestamp and its clock
SEND_TIMEOUT = 10                # seconds; a slow receiver is retried later, it does not hold a worker
MAX_RESPONSE_BYTES = 4096        # what is read of a receiver's answer (it is thrown away)

STATUS_CHANGED = "request.status_changed"
# Events other parts of the service emit (listed for the endpoint form; any name is accepted).
KNOWN_EVENTS = (STATUS_CHANGED, "account.deactivation_requested")

_PENDING_KEY = "dsar_pending_webhooks"


class InvalidSignature(Exception):
    """A webhook did not carry a valid, fresh signature. ``reason`` says which check failed."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class WebhookDeliveryError(Exception):
    """The receiver did not accept the delivery; the outbox retries it with back-off."""

    def __init__(self, message: str, response_status: int | None = None):
        super().__init__(message)
        self.response_status = response_status


# --- signatures --------------------------------------------------------------------------------------------


def _bytes(body: bytes | str) -> bytes:
    return body if isinstance(body, bytes) else body.encode("utf-8")


def sign(secret: str, timestamp: int, body: bytes | str) -> str:
    """The signature header value: ``v1=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>``."""
    mac = hmac.new(secret.encode("utf-8"), f"{int(timestamp)}.".encode() + _bytes(body), hashlib.sha256)
    return f"{SIGNATURE_VERSION}={mac.hexdigest()}"


def verify(secret: str, headers: Mapping[str, str], body: bytes | str, tolerance: int = DEFAULT_TOLERANCE,
           *, now: float | None = None) -> int:
    """Check a delivery as a receiver should; return its timestamp or raise ``InvalidSignature``.

    The signature header may hold several comma-separated ``v1=`` values (a secret
    being rotated); one match is enough. A timestamp further than ``tolerance``
    seconds from ``now`` is refused even with a valid signature: that is a replay.
    """
    lowered = {k.lower(): v for k, v in headers.items()}
    raw_ts = lowered.get(TIMESTAMP_HEADER.lower())
    raw_sig = lowered.get(SIGNATURE_HEADER.lower())
    if not raw_ts or not raw_sig:
        raise InvalidSignature("missing signature or timestamp header")
    try:
        timestamp = int(raw_ts)
    except ValueError:
        raise InvalidSignature("timestamp is not an integer") from None
    now = time.time() if now is None else now
    if abs(now - timestamp) > tolerance:
        raise InvalidSignature("timestamp outside the tolerance window (replayed or delayed delivery)")
    expected = sign(secret, timestamp, body)
    candidates = [part.strip() for part in raw_sig.split(",") if part.strip().startswith(f"{SIGNATURE_VERSION}=")]
    if not any(hmac.compare_digest(expected, c) for c in candidates):
        raise InvalidSignature("signature does not match the body")
    return timestamp


def new_secret() -> str:
    """A signing secret for a new endpoint (shown once to the admin who creates it)."""
    return "whsec_" + secrets.token_urlsafe(32)


# --- endpoints ---------------------------------------------------------------------------------------------


def create_endpoint(*, url: str, events: list[str] | None, description: str | None, created_by: str
                    ) -> tuple[WebhookEndpoint, str]:
    """Register a receiver; returns it and its secret in clear (the only time it is shown)."""
    url = (url or "").strip()
    if not url.startswith(("https://", "http://")) or len(url) > 500 or any(c.isspace() for c in url):
        raise InvalidInput(N_("Enter an http:// or https:// address."), code="bad_url", field="url")
    if current_app.config["DSAR_ENV"] == "production" and not url.startswith("https://"):
        raise InvalidInput(N_("Webhooks carry request data: use an https:// address."), code="bad_url", field="url")
    destinations.check_receiver_url(url)   # loopback, private, link-local …: refused (checked again at each send)
    if db.session.scalar(sa.select(WebhookEndpoint.id).where(WebhookEndpoint.url == url)):
        raise InvalidInput(N_("This address already receives webhooks."), code="duplicate", field="url")
    events = sorted({e.strip() for e in (events or []) if e and e.strip()})
    secret = new_secret()
    endpoint = WebhookEndpoint(url=url, events=events, description=(description or "").strip()[:200] or None,
                               secret_encrypted=encrypt_secret(secret), created_by=created_by, active=True)
    db.session.add(endpoint)
    db.session.flush()
    return endpoint, secret


def rotate_secret(endpoint: WebhookEndpoint) -> str:
    """Replace the endpoint's secret; deliveries not yet sent are signed with the new one."""
    secret = new_secret()
    endpoint.secret_encrypted = encrypt_secret(secret)
    endpoint.secret_rotated_at = utcnow()
    return secret


def _receivers(event: str) -> list[str]:
    """The URLs that want ``event``: active endpoints, plus DSAR_WEBHOOK_URL (settings) when it has a secret."""
    urls = [e.url for e in db.session.scalars(sa.select(WebhookEndpoint).where(WebhookEndpoint.active.is_(True))
                                               .order_by(WebhookEndpoint.id)) if e.wants(event)]
    default_url = current_app.config.get("DSAR_WEBHOOK_URL")
    if default_url and current_app.config.get("DSAR_WEBHOOK_SECRET") and default_url not in urls:
        configured = db.session.scalar(sa.select(WebhookEndpoint.id).where(WebhookEndpoint.url == default_url))
        if configured is None:  # an endpoint row for the same URL (even inactive) takes precedence
            urls.append(default_url)
    return urls


def _secret_for(url: str) -> str:
    endpoint = db.session.scalar(sa.select(WebhookEndpoint).where(WebhookEndpoint.url == url))
    if endpoint is not None:
        if not endpoint.active:
            raise WebhookDeliveryError("endpoint disabled by an admin")
        return decrypt_secret(endpoint.secret_encrypted)
    if url == current_app.config.get("DSAR_WEBHOOK_URL") and current_app.config.get("DSAR_WEBHOOK_SECRET"):
        return current_app.config["DSAR_WEBHOOK_SECRET"]
    raise WebhookDeliveryError("no endpoint is configured for this address any more")


# --- queueing ----------------------------------------------------------------------------------------------


def _iso(instant: datetime) -> str:
    return instant.astimezone(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def queue_message(*, template: str, url: str, body: dict, delivery_id: str, request=None) -> OutboxMessage:
    """Write one delivery to the outbox; it is sent after the commit by ``jobs.outbox.deliver``."""
    return outbox.queue(
        kind=OutboxKind.WEBHOOK,
        template=template[:64],
        recipient=url,
        body_text=json.dumps(body, ensure_ascii=False, separators=(",", ":"), sort_keys=True),
        request=request,
        message_id=delivery_id,
    )


def queue_webhook(event: str, payload: dict, request=None, *, receivers: list[str] | None = None) -> list[OutboxMessage]:
    """Queue ``event`` for every receiver that wants it (``receivers``, when the caller looked them up already).
    ``payload`` holds references, never personal data."""
    messages = []
    for url in _receivers(event) if receivers is None else receivers:
        delivery_id = "whd_" + secrets.token_hex(12)
        body = {"id": delivery_id, "event": event, "created_at": _iso(utcnow()), "data": payload}
        messages.append(queue_message(template=event, url=url, body=body, delivery_id=delivery_id, request=request))
    return messages


def request_payload(req) -> dict:
    """The request as the API shows it (the same resource as GET /api/v1/requests/{reference})."""
    return RequestSchema().dump(req)


# --- status changes: queued in the transaction that makes them ------------------------------------------------


def _on_request_changed(req, change: Change, actor=None, **_):
    """lifecycle.request_changed: remember the change; the payload is built just before the commit.

    The signal fires inside ``transition`` before the verb finishes (the clock is
    started, the outcome written after it), so the resource is serialised at
    commit time, when it holds the whole change.
    """
    if not change.status_changed:
        return
    db.session().info.setdefault(_PENDING_KEY, []).append((req, change))


@sa_event.listens_for(Session, "before_commit")
def _queue_pending(session):
    pending = session.info.pop(_PENDING_KEY, None)
    if not pending:
        return
    # The receivers are read once per commit, and no resource is serialised when nobody listens (issue 19: building
    # the payload was 8 % of a routed patient's submission).
    receivers = _receivers(STATUS_CHANGED)
    if not receivers:
        return
    for req, change in pending:
        queue_webhook(STATUS_CHANGED, {
            "request": request_payload(req),
            "change": {"action": change.action, "from_status": str(change.from_status),
                       "to_status": str(change.to_status)},
        }, request=req, receivers=receivers)


@sa_event.listens_for(Session, "after_rollback")
def _forget_on_rollback(session):
    session.info.pop(_PENDING_KEY, None)


request_changed.connect(_on_request_changed, weak=False)


# --- sending -----------------------------------------------------------------------------------------------


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect is an answer, not an invitation: the body and signature stay with the configured URL
    (and a redirect to an internal address is never followed)."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


# No proxy (the address checked must be the one connected to), no redirect, internal addresses refused.
_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect,
                                      destinations.CheckedHTTPHandler, destinations.CheckedHTTPSHandler)

# What the delivery log says of a failure: a category, never the network error itself (its class and text
# told an admin session which internal ports were open, closed or filtered).
UNREACHABLE = "receiver unreachable"
REFUSED_ADDRESS = "receiver address refused: not a public internet address"


def post_json(url: str, body: bytes, headers: dict[str, str]) -> int:
    """POST ``body``; return the HTTP status; raise ``WebhookDeliveryError`` unless it is 2xx."""
    if not url.startswith(("https://", "http://")):
        raise WebhookDeliveryError("unsupported URL scheme")
    req = urllib.request.Request(url, data=body, method="POST", headers={
        "Content-Type": "application/json", "User-Agent": "dsar-webhooks/1", **headers})
    try:
        with _opener.open(req, timeout=SEND_TIMEOUT) as res:
            res.read(MAX_RESPONSE_BYTES)
            status = res.status
    except urllib.error.HTTPError as exc:
        exc.close()
        raise WebhookDeliveryError(f"receiver answered HTTP {exc.code}", response_status=exc.code) from None
    except destinations.RefusedDestination:
        raise WebhookDeliveryError(REFUSED_ADDRESS) from None
    except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError):
        # Refused, reset, timed out, TLS, a malformed answer: one category, whatever the cause.
        raise WebhookDeliveryError(UNREACHABLE) from None
    if not 200 <= status < 300:
        raise WebhookDeliveryError(f"receiver answered HTTP {status}", response_status=status)
    return status


@outbox.transport(OutboxKind.WEBHOOK)
def send_webhook(msg: OutboxMessage) -> int:
    """The webhook transport (called by ``jobs.outbox.deliver``); raises so that the outbox retries."""
    body = (msg.body_text or "").encode("utf-8")
    secret = _secret_for(msg.recipient)
    timestamp = int(time.time())
    return post_json(msg.recipient, body, {
        EVENT_HEADER: msg.template,
        DELIVERY_HEADER: msg.message_id,
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: sign(secret, timestamp, body),
    })
