"""OpenDSR (OpenGDPR 0.1.x): statuses, expected completion, response signatures and status callbacks.

The HTTP side is ``dsar/api/opendsr.py``. Here: what does not depend on Flask's
request — mapping our lifecycle onto the four OpenDSR statuses (spec §8),
signing bodies with the processor key (spec §4.2: FIPS 186-4, RSA or ECDSA with
SHA-256, base64 in ``X-OpenDSR-Signature``), and queueing the callbacks that
spec §8.5 requires on every status change, through the outbox.
"""
from __future__ import annotations

import base64
import datetime as dt
import json
import secrets
from urllib.parse import urlsplit

import sqlalchemy as sa
from flask import current_app
from sqlalchemy import event as sa_event
from sqlalchemy.orm import Session

from .. import deadlines, lifecycle
from ..extensions import db
from ..models import OutboxMessage, utcnow
from ..models.webhooks import ApiSubmission
from ..models.enums import Status
from . import outbox
from .webhooks import post_json, queue_message

API_VERSION = "0.1"
PROTOCOL = "opendsr"
REQUEST_TYPES = ("access", "portability", "erasure")
# Spec §8. A request waiting for its identity proof has not been acted on yet: pending.
STATUS_MAP = {
    Status.UNCONFIRMED: "pending",
    Status.AWAITING_IDENTITY: "pending",
    Status.IDENTITY_REVIEW: "pending",
    Status.OPEN: "pending",
    Status.IN_PROGRESS: "in_progress",
    Status.AWAITING_REQUESTER: "in_progress",
    Status.ANSWERED: "completed",
    Status.CLOSED: "completed",
    Status.REFUSED: "completed",
    Status.WITHDRAWN: "cancelled",
}
CALLBACK_TEMPLATE = outbox.OPENDSR_CALLBACK
_PENDING_KEY = "dsar_pending_opendsr_callbacks"


class NotConfigured(RuntimeError):
    """No signing key: OpenDSR responses must be signed (spec §4.2), so the endpoint stays closed."""


def request_status(req) -> str:
    return STATUS_MAP[Status(req.status)]


def rfc3339(instant: dt.datetime) -> str:
    return instant.astimezone(dt.timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def expected_completion(req, policy) -> dt.datetime:
    """The end of the due day in Paris. Before the clock starts, the one-month date counted from today."""
    due = req.due_date
    if due is None:
        today = deadlines.legal_day(utcnow())
        due = deadlines.compute_deadline(today, calendar=lifecycle.calendar_for(policy),
                                         months=policy.deadlines.months).effective_due_date
    end_of_day = dt.datetime.combine(due, dt.time(23, 59, 59), tzinfo=deadlines.PARIS)
    return end_of_day.astimezone(dt.timezone.utc)


def controller_id(submission: ApiSubmission) -> str:
    """Who the submitting controller is in our system: the public prefix of its API key."""
    key = submission.api_key
    return f"key-{key.prefix}" if key is not None else "revoked-key"


def status_body(submission: ApiSubmission, policy) -> dict:
    """Spec §8.3: the status response body."""
    req = submission.request
    return {
        "controller_id": controller_id(submission),
        "expected_completion_time": rfc3339(expected_completion(req, policy)),
        "subject_request_id": submission.client_reference,
        "request_status": request_status(req),
        "api_version": API_VERSION,
    }


# --- signing -----------------------------------------------------------------------------------------------


class Signer:
    def __init__(self, private_key, certificate_pem: bytes, domain: str):
        self.private_key = private_key
        self.certificate_pem = certificate_pem
        self.domain = domain

    def sign(self, body: bytes) -> str:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

        if isinstance(self.private_key, rsa.RSAPrivateKey):
            raw = self.private_key.sign(body, padding.PKCS1v15(), hashes.SHA256())
        elif isinstance(self.private_key, ec.EllipticCurvePrivateKey):
            raw = self.private_key.sign(body, ec.ECDSA(hashes.SHA256()))
        else:  # pragma: no cover - refused when loading
            raise NotConfigured("unsupported key type")
        return base64.b64encode(raw).decode("ascii")


def _load_signer(app) -> Signer:
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    key_path = app.config.get("DSAR_OPENDSR_SIGNING_KEY")
    cert_path = app.config.get("DSAR_OPENDSR_CERTIFICATE")
    if not key_path or not cert_path:
        raise NotConfigured("DSAR_OPENDSR_SIGNING_KEY and DSAR_OPENDSR_CERTIFICATE are not set")
    try:
        with open(key_path, "rb") as fh:
            key = load_pem_private_key(fh.read(), password=None)
        with open(cert_path, "rb") as fh:
            cert_pem = fh.read()
        cert = x509.load_pem_x509_certificate(cert_pem)
    except (OSError, ValueError) as exc:
        raise NotConfigured(f"the OpenDSR key or certificate cannot be read: {type(exc).__name__}") from exc
    if not isinstance(key, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey)):
        raise NotConfigured("the OpenDSR signing key must be RSA or ECDSA (FIPS 186-4)")
    if cert.public_key().public_numbers() != key.public_key().public_numbers():
        raise NotConfigured("the OpenDSR certificate does not match the signing key")
    return Signer(key, cert_pem, processor_domain(app))


def processor_domain(app=None) -> str:
    app = app or current_app
    return urlsplit(app.config["PUBLIC_BASE_URL"]).hostname or "localhost"


def signer() -> Signer:
    """The processor's signer, loaded once per app; ``NotConfigured`` when there is no key."""
    app = current_app._get_current_object()
    cached = app.extensions.get("dsar_opendsr_signer")
    if cached is None:
        cached = _load_signer(app)
        app.extensions["dsar_opendsr_signer"] = cached
    return cached


def signature_headers(body: bytes) -> dict[str, str]:
    """The two headers of spec §8.3/§8.6, under the OpenDSR names and the older OpenGDPR ones."""
    s = signer()
    signature = s.sign(body)
    return {
        "X-OpenDSR-Processor-Domain": s.domain,
        "X-OpenDSR-Signature": signature,
        "X-OpenGDPR-Processor-Domain": s.domain,
        "X-OpenGDPR-Signature": signature,
    }


def dump(body: dict) -> bytes:
    return json.dumps(body, separators=(",", ":"), sort_keys=True).encode("utf-8")


# --- callbacks ---------------------------------------------------------------------------------------------


def queue_callbacks(req) -> int:
    """Spec §8.5: when the OpenDSR status of ``req`` changed, call every status_callback_url once (outbox, retried)."""
    submission = db.session.scalar(sa.select(ApiSubmission).where(ApiSubmission.request_id == req.id,
                                                                   ApiSubmission.protocol == PROTOCOL))
    if submission is None:
        return 0
    status = request_status(req)
    if status == submission.reported_status:
        return 0
    submission.reported_status = status
    if not submission.callback_urls:
        return 0
    policy = current_app.extensions["dsar_policy"]
    base = status_body(submission, policy)
    for url in submission.callback_urls:
        body = dict(base, status_callback_url=url)
        body.pop("api_version", None)
        # The callback body is fixed now; the signature is computed when it is sent.
        queue_message(template=CALLBACK_TEMPLATE, url=url, request=req, body=body,
                      delivery_id="odsr_" + secrets.token_hex(12))
    return len(submission.callback_urls)


@outbox.transport(CALLBACK_TEMPLATE)
def send_callback(msg: OutboxMessage) -> int:
    """The OpenDSR callback transport (called by ``jobs.outbox.deliver``): signed with the processor key."""
    body = (msg.body_text or "").encode("utf-8")
    return post_json(msg.recipient, body, signature_headers(body))


# --- status changes: callbacks queued in the transaction that makes them ----------------------------------


def _on_request_changed(req, change: lifecycle.Change, actor=None, **_):
    """lifecycle.request_changed: remember the request; its OpenDSR status is read just before the commit."""
    if change.status_changed:
        db.session().info.setdefault(_PENDING_KEY, {})[id(req)] = req


@sa_event.listens_for(Session, "before_commit")
def _queue_pending(session):
    for req in session.info.pop(_PENDING_KEY, {}).values():
        queue_callbacks(req)


@sa_event.listens_for(Session, "after_rollback")
def _forget_on_rollback(session):
    session.info.pop(_PENDING_KEY, None)


lifecycle.request_changed.connect(_on_request_changed, weak=False)
