"""Receiving requests: the public form, the API and staff all come in through ``submit_request``.

Then what the requester does through their links: confirm their email
address, send identity documents (and a representative's proof of authority),
answer a clarification, withdraw. And the two periodic clean-ups of this
journey: unconfirmed requests deleted after the policy's waiting period, and
identity copies deleted when their retention ends (policy art. 12).

Plain values and an ``Actor`` in; nothing here commits (the view, the API or the
job does, once, so that a change, its audit event and its emails land together).
"""
from __future__ import annotations

import hmac
import logging
import secrets
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import BinaryIO

import sqlalchemy as sa
from flask import current_app
from flask_babel import lazy_gettext
from sqlalchemy.orm.attributes import set_committed_value

from .. import audit, lifecycle
from ..actors import Actor
from ..deadlines import PARIS, legal_day
from ..errors import IllegalTransition, InvalidInput, N_
from ..extensions import db
from ..models import DataRequest, Document, OutboxMessage, Requester, RequestSubject, utcnow
from ..models.base import take_id
from ..models.enums import ActingFor, Channel, DocumentKind, ReviewStatus, Status
from ..tokens import TokenError, make_token, read_token, request_id_from_status_token
from ..urls import public_url
from . import checklist, documents, identity, identity_reviews, notifications
from .authority import authority_proof, proof_for  # noqa: F401 - proof_for: older imports (tests)
from .routing import routes
from .submission import InvalidRequest, Problems, Submission, check_submission, clean_text, normalise_email

__all__ = ["InvalidRequest", "normalise_email", "submit_request"]  # the first two re-exported from .submission

log = logging.getLogger(__name__)

#: The email-confirmation link is good for 48 hours; the unconfirmed request itself waits longer
#: (policy identity.delete_unconfirmed_after), and a new link can be asked for meanwhile.
CONFIRM_LINK_MAX_AGE = 48 * 3600
#: Identity documents and proofs a request may hold at once: front and back, a few pages, a replacement or two.
MAX_IDENTITY_DOCUMENTS = 10
#: A new confirmation or links email to the same request or address at most this often (mail bombing).
RESEND_INTERVAL = timedelta(minutes=10)
#: Requests listed in one "your links" email.
MAX_LINKS_PER_EMAIL = 20


def _policy():
    return current_app.extensions["dsar_policy"]


# --- receiving a request ---------------------------------------------------------------------------------


def submit_request(
    *,
    type: str,
    subject: dict,
    requester: dict | None,
    channel: str,
    language: str = "fr",
    details: str | None = None,
    activities: list[str] | None = None,
    received_at: datetime | None = None,
    identity_method: str | None = None,
    medical_record: bool = False,
    external_account_id: str | None = None,
    form_submission_hash: str | None = None,
    actor: Actor,
) -> DataRequest:
    """Receive a request; validate everything, record it, write its first email. Does not commit.

    - channel "web": the request waits, unconfirmed, until its requester confirms their address
      through the link emailed now (deleted after the policy's waiting period otherwise).
    - identity_method account / in_person / vouched: identity verified at receipt, so the request is
      complete: open, clock started on the day of receipt (deadline rule 1), "received" email, routed.
    - other channels (post, email, phone … logged by staff): the address counts as confirmed; the request
      awaits an identity document (policy art. 8.1).

    The request row is written once: its id is taken first, so that its reference, its clock and its due
    dates are set before the INSERT (issue 19).

    ``form_submission_hash``: the public form's one-time key (services/form_submissions.py), unique: the same
    form sent twice fails the INSERT (IntegrityError), and the caller answers with the first request.

    Raises InvalidRequest (all the problems at once, each with its field) or PermissionDenied.
    """
    now = utcnow()
    sub = check_submission(
        type=type, subject=subject, requester=requester, channel=channel, language=language, details=details,
        activities=activities, received_at=received_at, identity_method=identity_method,
        medical_record=medical_record, external_account_id=external_account_id, actor=actor, now=now)
    # The submission's events (received, checklist, routing, collection …) go in one INSERT after the request's
    # (issue 19): an ORM object each cost the unit of work more than the row itself.
    with audit.batch():
        req = _new_request(sub, actor, now, form_submission_hash)
        audit.record(actor, "received", request=req, to_status=req.status, new_stream=True, details={
            "channel": str(sub.channel), "type": str(sub.type), "subject_kind": sub.subject["kind"],
            "activities": sub.activities, "acting_for": str(sub.requester["acting_for"]),
            "relationship": str(sub.requester["relationship"]) if sub.requester["relationship"] else None,
            "identity_method": str(sub.method) if sub.method else None, "medical_record": sub.medical_record,
            "clock_started_on": req.clock_started_on, "due_date": req.due_date,
        })
        if sub.channel == Channel.WEB:
            send_confirmation(req)
        else:
            notifications.email_requester(req, "request_received", _received_context(req))
        if sub.method is not None:
            checklist.open_checklist(req, actor)  # complete at receipt: its steps go on it now
            routes.auto_route(req, actor)
            # Verified at intake (account, in person): what listens starts now, as for a request that opens later
            # (the collection of issue 16, dsar/systems/collection.py).
            lifecycle.request_received.send(req, actor=actor)
        elif req.status == Status.AWAITING_IDENTITY:
            identity.after_email_confirmed(req)  # policy on_reasonable_doubt: the records held may verify the identity
    log.info("request %s received (channel=%s, status=%s)", req.reference, req.channel, req.status)
    return req


#: The collections a new request starts with, empty: nothing to load for a request that has just been made.
_EMPTY_COLLECTIONS = ("pauses", "medical_record_items", "tasks", "documents", "steps")


def _new_request(sub: Submission, actor: Actor, now: datetime, form_submission_hash: str | None) -> DataRequest:
    """The request, its subject and its requester, written complete (reference, clock, due dates): one INSERT each."""
    s, r = sub.subject, sub.requester
    req = DataRequest(
        id=take_id(db.session, DataRequest),
        type=str(sub.type), subject_kind=s["kind"], activities=sub.activities, channel=str(sub.channel),
        language=sub.language, details=sub.details, received_at=sub.received_at.astimezone(timezone.utc), medical_record=sub.medical_record,
        external_account_id=sub.external_account_id, status_link_salt=secrets.token_hex(16),
        form_submission_hash=form_submission_hash,
    )
    for name in _EMPTY_COLLECTIONS:
        set_committed_value(req, name, [])
    req.subject = RequestSubject(kind=s["kind"], first_name=s["first_name"], last_name=s["last_name"],
                                 email=s["email"], phone=s["phone"], birth_date=s["birth_date"], deceased=s["deceased"])
    req.requester = Requester(acting_for=str(r["acting_for"]),
                              relationship_to_subject=str(r["relationship"]) if r["relationship"] else None,
                              first_name=r["first_name"], last_name=r["last_name"], email=r["email"],
                              phone=r["phone"], postal_address=r["postal_address"])
    if sub.channel == Channel.WEB:
        req.status = Status.UNCONFIRMED
    elif sub.method is not None:
        req.status = Status.OPEN
        req.email_confirmed_at = now
        req.identity_method = str(sub.method)
        req.identity_verified_at = now
        req.identity_verified_by = actor.label
    else:
        req.status = Status.AWAITING_IDENTITY
        req.email_confirmed_at = now  # given to staff by the person themself
    db.session.add(req)
    lifecycle.next_reference(req)  # flushes first only where no id could be taken (SQLite)
    if sub.method is not None:
        lifecycle.start_clock(req, _policy(), sub.received_on)  # deadline rule 1: the day of receipt
    # No flush: the request is INSERTed, whole, by the transaction's one flush, before what refers to it: its emails,
    # steps and task relate to it, which orders the unit of work; its events are rows inserted after that flush
    # (``audit.batch`` in submit_request; issue 19).
    return req


def _received_context(req: DataRequest) -> dict:
    # The status and due date as they are at receipt: the email is rendered later, by its delivery job (issue 19).
    return {"missing_documents": missing_documents(req), "proof": authority_proof(req), "status": req.status,
            "due_date": req.due_date}


# --- email confirmation ----------------------------------------------------------------------------------


def confirmation_token(req: DataRequest) -> str:
    """A signed link token for "confirm-email", bound to the request and its link salt (not to the address:
    no personal data travels in a URL)."""
    return make_token("confirm-email", {"r": req.id, "k": req.status_link_salt})


def send_confirmation(req: DataRequest) -> OutboxMessage:
    url = public_url("public.confirm_GET", token=confirmation_token(req))
    return notifications.queue_email(req.requester.email, "confirm_email", req.language or "fr", {
        "reference": req.reference, "confirm_url": url, "hours": CONFIRM_LINK_MAX_AGE // 3600,
        "delete_after": _policy().identity.delete_unconfirmed_after.describe(req.language or "fr"), "request": req,
    }, request=req)


def _request_from_payload(payload: dict) -> DataRequest:
    request_id, salt = payload.get("r"), payload.get("k")
    if not isinstance(request_id, int) or not isinstance(salt, str):
        raise TokenError(N_("This link is not valid."))
    req = db.session.get(DataRequest, request_id)
    # One message whatever was wrong: a link never tells whether a request exists.
    if req is None or not req.status_link_salt or not hmac.compare_digest(salt, req.status_link_salt):
        raise TokenError(N_("This link is not valid."))
    return req


def request_for_confirmation_token(token: str) -> DataRequest:
    return _request_from_payload(read_token("confirm-email", token, max_age=CONFIRM_LINK_MAX_AGE))


@dataclass(frozen=True)
class Confirmation:
    request: DataRequest
    already_confirmed: bool


def confirm_email(token: str, *, ip: str | None = None, user_agent: str | None = None) -> Confirmation:
    """Confirm the requester's address from the emailed link. A second click changes nothing and says so."""
    req = request_for_confirmation_token(token)
    if req.status != Status.UNCONFIRMED or req.email_confirmed_at is not None:
        return Confirmation(req, True)
    actor = Actor.for_requester(req, ip=ip, user_agent=user_agent)
    lifecycle.confirm_email(req, actor, _policy())
    notifications.email_requester(req, "request_received", _received_context(req))
    identity.after_email_confirmed(req)  # policy on_reasonable_doubt: the records held may verify the identity
    return Confirmation(req, False)


# --- the requester's status page -------------------------------------------------------------------------


def request_for_status_token(token: str) -> DataRequest:
    """The request a status link opens; TokenError (never "no such request") otherwise."""
    request_id, salt = request_id_from_status_token(token)
    return _request_from_payload({"r": request_id, "k": salt})


def required_document_kinds(req: DataRequest) -> list[str]:
    """An identity document when the policy asks for one (art. 8.1: outside an account; on_reasonable_doubt: once
    staff record a doubt, services/identity.py); a representative also proves their authority."""
    kinds = [DocumentKind.IDENTITY] if identity.document_needed(req) else []
    if req.requester is not None and req.requester.acting_for == ActingFor.OTHER:
        kinds.append(DocumentKind.AUTHORITY)
    return [str(k) for k in kinds]


def missing_documents(req: DataRequest) -> list[str]:
    """Kinds still needed: none waiting for review or accepted."""
    if req.status not in (Status.UNCONFIRMED, Status.AWAITING_IDENTITY):
        return []
    have = {d.kind for d in req.documents
            if d.review_status in (ReviewStatus.PENDING, ReviewStatus.ACCEPTED) and d.purged_at is None}
    return [k for k in required_document_kinds(req) if k not in have]


def can_upload(req: DataRequest) -> bool:
    return req.status in (Status.AWAITING_IDENTITY, Status.IDENTITY_REVIEW)


def can_withdraw(req: DataRequest) -> bool:
    return "withdraw" in lifecycle.allowed_actions(req, Actor.for_requester(req))


def add_identity_document(req: DataRequest, kind: str, stream: BinaryIO, filename: str | None,
                          declared_type: str | None, actor: Actor) -> Document:
    """Store an identity document or proof of authority; once every needed one is in, it goes to review.

    409 when no document is expected now (unconfirmed, verified, final …); 4xx from dsar.files for a
    refused file, and then nothing is stored.
    """
    policy = _policy()
    if kind not in (DocumentKind.IDENTITY, DocumentKind.AUTHORITY):
        raise InvalidInput(N_("Choose which document you are sending."), code="bad_kind", field="kind")
    if kind == DocumentKind.AUTHORITY and kind not in required_document_kinds(req):
        raise InvalidInput(N_("A proof of authority is needed only when you act for someone else."),
                           code="bad_kind", field="kind")
    if req.status == Status.UNCONFIRMED:
        raise IllegalTransition(N_("Please confirm your email address first, with the link we sent you."),
                                code="unconfirmed")
    if not can_upload(req):
        raise IllegalTransition(N_("No document is expected for this request now."), code="no_document_expected")
    held = [d for d in req.documents if d.kind in documents.IDENTITY_KINDS and d.purged_at is None]
    if len(held) >= MAX_IDENTITY_DOCUMENTS:
        raise IllegalTransition(N_("This request already holds %(count)s documents, the most it can. "
                                   "Please wait for our check."), code="too_many_documents", count=len(held))
    doc = documents.store_document(req, kind, stream, filename=filename, declared_type=declared_type,
                                   actor=actor, policy=policy, refuse_hashes=frozenset(d.sha256 for d in held))
    if req.status == Status.AWAITING_IDENTITY and not missing_documents(req):
        lifecycle.submit_identity(req, actor, doc.id)
    if req.status == Status.IDENTITY_REVIEW:
        identity_reviews.notify_document_arrived(req, doc)   # issue 18: no one was told a document had arrived
    return doc


def withdraw(req: DataRequest, actor: Actor, *, expected_version: int | None = None):
    """The requester withdraws: final, and the staff stop working on it."""
    change = lifecycle.withdraw(req, actor, expected_version=expected_version)
    notifications.email_requester(req, "request_withdrawn")
    return change


def answer_clarification(req: DataRequest, actor: Actor, answer: str, *, expected_version: int | None = None):
    """The requester answers the question asked: the pause ends and the deadline moves by its length (rule 4)."""
    problems = Problems()
    answer = clean_text(answer, "answer", problems, required=True, max_length=5000, multiline=True)
    problems.raise_if_any()
    if req.status != Status.AWAITING_REQUESTER:
        raise IllegalTransition(N_("No question is waiting for your answer."), code="no_question")
    change = lifecycle.resume(req, actor, _policy(), today=legal_day(utcnow()), answer=answer,
                              expected_version=expected_version)
    # Rendered in the DPO's language when the email is written (lazy strings).
    notifications.email_dpo("notice", {
        "title": lazy_gettext("A requester answered a clarification"),
        "paragraphs": [lazy_gettext("Request %(reference)s: the requester answered the question asked; "
                                    "the clock runs again.", reference=req.reference)],
        "link": None,
    })
    return change


def open_question(req: DataRequest):
    return next((p for p in reversed(req.pauses) if p.ended_on is None), None)


# --- lost links ------------------------------------------------------------------------------------------


def _recently_sent(template: str, *, request_id: int | None = None, recipient: str | None = None) -> bool:
    query = sa.select(OutboxMessage.id).where(OutboxMessage.template == template,
                                              OutboxMessage.created_at > utcnow() - RESEND_INTERVAL)
    if request_id is not None:
        query = query.where(OutboxMessage.request_id == request_id)
    if recipient is not None:
        query = query.where(OutboxMessage.recipient == recipient)
    return db.session.execute(query.limit(1)).first() is not None


def resend_links(email: str, language: str) -> None:
    """Email the links of the requests made from this address: a new confirmation link for those still
    unconfirmed, the status links of the others. Returns nothing on purpose: the page says the same thing
    whether or not the address is known."""
    email = normalise_email(email)
    if email is None:
        return
    reqs = db.session.scalars(
        sa.select(DataRequest).join(Requester).where(Requester.email == email)
        .order_by(DataRequest.received_at.desc()).limit(MAX_LINKS_PER_EMAIL)
    ).all()
    confirmed = []
    for req in reqs:
        if req.status == Status.UNCONFIRMED:
            if not _recently_sent("confirm_email", request_id=req.id):
                send_confirmation(req)
        else:
            confirmed.append(req)
    if confirmed and not _recently_sent("request_links", recipient=email):
        links = [{"reference": r.reference, "type": r.type, "status": r.status, "url": notifications.status_url(r)}
                 for r in confirmed]
        notifications.queue_email(email, "request_links", language, {"links": links})


# --- periodic clean-ups ----------------------------------------------------------------------------------


def _start_of(day: date) -> datetime:
    return datetime.combine(day, time(0), PARIS).astimezone(timezone.utc)


def purge_unconfirmed(today: date, *, limit: int = 200, actor: Actor | None = None) -> int:
    """Delete the requests never confirmed within the policy's waiting period (identity.delete_unconfirmed_after).

    Their documents leave the store, their emails the outbox, and their audit stream goes whole
    (``audit.purge_stream``, the only sanctioned deletion); the system stream keeps the fact. Does not commit.
    """
    policy = _policy()
    actor = actor or Actor.system("purge")
    wait = policy.identity.delete_unconfirmed_after
    candidates = db.session.scalars(
        sa.select(DataRequest).where(DataRequest.status == Status.UNCONFIRMED,
                                     DataRequest.email_confirmed_at.is_(None),
                                     DataRequest.received_at < _start_of(today))
        .order_by(DataRequest.id).limit(limit)
    ).all()
    purged = 0
    for req in candidates:
        if wait.after(legal_day(req.received_at)) >= today:
            continue
        store = documents.file_store()
        for doc in req.documents:
            if doc.storage_name:
                store.delete(doc.storage_name)
        db.session.execute(sa.delete(OutboxMessage).where(OutboxMessage.request_id == req.id))
        audit.purge_stream(audit.stream_for(req), actor,
                           reason=f"request {req.reference} never confirmed; deleted after {wait.describe('en')} "
                                  f"(policy identity.delete_unconfirmed_after)")
        db.session.delete(req)
        purged += 1
    db.session.flush()
    return purged


def purge_identity_copies(today: date, *, limit: int = 500, actor: Actor | None = None) -> int:
    """Delete identity copies whose retention has ended (policy art. 12: 1 year), keeping each Document row:
    "document checked: date, method, by whom" stays on record. Does not commit."""
    policy = _policy()
    actor = actor or Actor.system("purge")
    # retain_until is set at upload from the upload day; the real end counts from the review, which is later,
    # so every copy due now has a provisional date already past (or none, for rows written elsewhere).
    candidates = db.session.scalars(
        sa.select(Document).where(Document.kind.in_([str(k) for k in documents.IDENTITY_KINDS]),
                                  Document.purged_at.is_(None),
                                  sa.or_(Document.retain_until < today, Document.retain_until.is_(None)))
        .order_by(Document.id).limit(limit)
    ).all()
    purged = 0
    for doc in candidates:
        end = documents.retention_end(doc, policy)
        if end >= today:
            doc.retain_until = end
            continue
        documents.purge_copy(doc, actor, policy, reason=f"retention ended on {end.isoformat()} "
                                                        f"(policy identity.copy_retention, art. 12)")
        purged += 1
    db.session.flush()
    return purged
