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
import re
import secrets
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import BinaryIO

import sqlalchemy as sa
from flask import current_app
from flask_babel import lazy_gettext

from .. import audit, lifecycle
from ..actors import Actor
from ..deadlines import PARIS, legal_day
from ..errors import IllegalTransition, InvalidInput, N_, PermissionDenied
from ..extensions import db
from ..models import DataRequest, Document, OutboxMessage, Requester, RequestSubject, utcnow
from ..models.enums import (
    ActingFor, ActorType, Channel, DocumentKind, IdentityMethod, Relationship, RequestType, ReviewStatus, Status,
)
from ..tokens import TokenError, make_token, read_token, request_id_from_status_token
from . import documents, notifications
from .authority import authority_proof, proof_for  # noqa: F401 - proof_for: older imports (tests)

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

SUBJECT_FIELDS = {"kind", "first_name", "last_name", "email", "phone", "birth_date", "deceased"}
REQUESTER_FIELDS = {"acting_for", "relationship", "first_name", "last_name", "email", "phone", "postal_address"}
#: Identity checked at receipt (deadline rule 1: the clock starts on the day of receipt).
VERIFIED_AT_RECEIPT = {IdentityMethod.ACCOUNT, IdentityMethod.IN_PERSON, IdentityMethod.VOUCHED}
#: Relationships that only make sense for a person who has died, and the ones that end with death.
AFTER_DEATH = {Relationship.HEIR, Relationship.EXECUTOR, Relationship.COHABITANT, Relationship.PACS_PARTNER}
ADULT_AGE = 18  # parental authority ends at majority (Code civil art. 371-1, 414)

_EMAIL = re.compile(r"^[^@\s<>()\[\],;:\"\\]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?)+$")
_PHONE_CHARS = re.compile(r"^\+?[0-9 .\-()/]+$")
_LETTER = re.compile(r"[^\W\d_]")


class InvalidRequest(InvalidInput):
    """Several fields are wrong at once. ``problems`` holds one InvalidInput per problem, each with its field;
    the exception itself carries the first one, so that code expecting a single InvalidInput still works."""

    def __init__(self, problems: list[InvalidInput]):
        first = problems[0]
        super().__init__(first.message, code=first.code, field=first.field, **first.params)
        self.problems = problems

    @property
    def fields(self) -> dict[str, list[InvalidInput]]:
        out: dict[str, list[InvalidInput]] = {}
        for p in self.problems:
            out.setdefault(p.field, []).append(p)
        return out


class _Problems:
    def __init__(self):
        self.items: list[InvalidInput] = []

    def add(self, field: str, message: str, code: str = "invalid_input", **params) -> None:
        self.items.append(InvalidInput(message, code=code, field=field, **params))

    def has(self, field: str) -> bool:
        return any(p.field == field for p in self.items)

    def raise_if_any(self) -> None:
        if self.items:
            raise InvalidRequest(self.items)


def _policy():
    return current_app.extensions["dsar_policy"]


# --- cleaning the values people type ----------------------------------------------------------------------


# The error summary lists messages alone, so a required field's message names it (issue 18).
REQUIRED_MESSAGES = {
    "subject.first_name": N_("Enter the first name of the person the data is about."),
    "subject.last_name": N_("Enter the last name of the person the data is about."),
    "requester.first_name": N_("Enter your first name."),
    "requester.last_name": N_("Enter your last name."),
    "answer": N_("Write your answer to our question."),
}


def _text(value, field: str, problems: _Problems, *, required: bool, max_length: int, multiline: bool = False):
    if value is None:
        value = ""
    if not isinstance(value, str):
        problems.add(field, N_("This field must be text."), "wrong_type")
        return None
    value = unicodedata.normalize("NFC", value).strip()
    if not multiline:
        value = " ".join(value.split())
    # Control characters have no place in a name or a message (and break emails and letters).
    allowed = {"\n", "\t"} if multiline else set()
    value = "".join(ch for ch in value if ch in allowed or unicodedata.category(ch) not in ("Cc", "Cf"))
    value = value.replace("\r", "")
    if not value:
        if required:
            problems.add(field, REQUIRED_MESSAGES.get(field, N_("This field is required.")), "required")
        return None
    if len(value) > max_length:
        problems.add(field, N_("Please keep this under %(max)s characters."), "too_long", max=max_length)
        return None
    return value


def _name(value, field: str, problems: _Problems, *, required: bool = True):
    value = _text(value, field, problems, required=required, max_length=120)
    if value is not None and not _LETTER.search(value):
        problems.add(field, N_("Please enter a name."), "invalid_name")
        return None
    return value


def normalise_email(value) -> str | None:
    """The address lower-cased, or None if it does not look like one."""
    if not isinstance(value, str):
        return None
    value = value.strip().lower()
    if len(value) > 254 or not _EMAIL.match(value):
        return None
    return value


def _email(value, field: str, problems: _Problems, *, required: bool):
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            problems.add(field, N_("Please enter an email address: this is where we write to you."), "required")
        return None
    email = normalise_email(value)
    if email is None:
        problems.add(field, N_("Please enter a valid email address, such as name@example.fr."), "invalid_email")
    return email


def _phone(value, field: str, problems: _Problems):
    value = _text(value, field, problems, required=False, max_length=32)
    if value is None:
        return None
    digits = re.sub(r"\D", "", value)
    if not _PHONE_CHARS.match(value) or not 6 <= len(digits) <= 15:
        problems.add(field, N_("Please enter a valid phone number, such as +33 6 12 34 56 78."), "invalid_phone")
        return None
    return ("+" if value.startswith("+") else "") + digits


def _date(value, field: str, problems: _Problems, *, today: date):
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        value = value.date()
    if isinstance(value, str):
        text = value.strip()
        parsed = None
        for fmt in ("%Y-%m-%d", "%d/%m/%Y", "%d-%m-%Y", "%d.%m.%Y"):
            try:
                parsed = datetime.strptime(text, fmt).date()
                break
            except ValueError:
                continue
        if parsed is None:
            problems.add(field, N_("Please enter a date such as 31/01/1980."), "invalid_date")
            return None
        value = parsed
    if not isinstance(value, date):
        problems.add(field, N_("Please enter a date such as 31/01/1980."), "invalid_date")
        return None
    if value > today or value.year < 1900:
        problems.add(field, N_("This date is not possible."), "impossible_date")
        return None
    return value


def _flag(value, field: str, problems: _Problems) -> bool:
    if value in (None, "", False, 0, "0", "false", "no", "off"):
        return False
    if value in (True, 1, "1", "true", "yes", "on", "y"):
        return True
    problems.add(field, N_("This field must be yes or no."), "wrong_type")
    return False


def _unknown_keys(given: dict, known: set[str], prefix: str, problems: _Problems) -> None:
    for key in sorted(set(given) - known, key=str):
        problems.add(f"{prefix}.{key}", N_("Unknown field %(name)s."), "unknown_field", name=f"{prefix}.{key}")


def _age_on(birth: date, day: date) -> int:
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


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
    actor: Actor,
) -> DataRequest:
    """Receive a request; validate everything, record it, write its first email. Does not commit.

    - channel "web": the request waits, unconfirmed, until its requester confirms their address
      through the link emailed now (deleted after the policy's waiting period otherwise).
    - identity_method account / in_person / vouched: identity verified at receipt, so the request is
      complete: open, clock started on the day of receipt (deadline rule 1), "received" email, routed.
    - other channels (post, email, phone … logged by staff): the address counts as confirmed; the request
      awaits an identity document (policy art. 8.1).

    Raises InvalidRequest (all the problems at once, each with its field) or PermissionDenied.
    """
    policy = _policy()
    problems = _Problems()
    now = utcnow()

    # Who may say what: a person on the public form cannot vouch for their own identity or backdate receipt.
    staff_like = actor.is_staff_like
    try:
        channel = Channel(channel)
    except ValueError:
        problems.add("channel", N_("Unknown channel."), "unknown_channel")
        channel = None
    if identity_method is None and channel == Channel.ACCOUNT:
        identity_method = IdentityMethod.ACCOUNT  # a request made from a logged-in account (policy art. 8.1)
    method = None
    if identity_method is not None:
        try:
            method = IdentityMethod(identity_method)
        except ValueError:
            method = None
        if method not in VERIFIED_AT_RECEIPT:
            problems.add("identity_method", N_("Identity can be checked at receipt only through the account, "
                                               "in person, or by a trusted client."), "bad_identity_method")
            method = None
        elif channel == Channel.WEB:
            problems.add("identity_method", N_("A request from the public form cannot be verified at receipt."),
                         "bad_identity_method")
            method = None
        elif method == IdentityMethod.ACCOUNT and not (staff_like or actor.type == ActorType.API):
            raise PermissionDenied(N_("You are not allowed to do this."), code="forbidden", field="identity_method")
        elif method in (IdentityMethod.IN_PERSON, IdentityMethod.VOUCHED) and not staff_like:
            raise PermissionDenied(N_("You are not allowed to do this."), code="forbidden", field="identity_method")

    if received_at is None:
        received_at = now
    elif not staff_like:
        raise PermissionDenied(N_("You are not allowed to do this."), code="forbidden", field="received_at")
    elif not isinstance(received_at, datetime) or received_at.tzinfo is None:
        problems.add("received_at", N_("Give the instant of receipt with its time zone."), "naive_datetime")
        received_at = now
    elif received_at > now + timedelta(minutes=5):
        problems.add("received_at", N_("A request cannot be received in the future."), "future")
        received_at = now
    received_on = legal_day(received_at)

    try:
        type = RequestType(type)
        policy.request_type(type)
    except (ValueError, KeyError):
        problems.add("type", N_("Choose the right you want to exercise."), "unknown_type")
        type = None

    if language not in current_app.config["LANGUAGES"] or language not in policy.languages:
        problems.add("language", N_("Unknown language."), "unknown_language")
        language = policy.default_language

    # The data subject.
    if not isinstance(subject, dict):
        problems.add("subject", N_("Tell us who the request is about."), "required")
        subject = {}
    _unknown_keys(subject, SUBJECT_FIELDS, "subject", problems)
    kind = subject.get("kind")
    if not isinstance(kind, str) or kind not in policy.subject_kinds:
        problems.add("subject.kind", N_("Tell us who the person is: a patient, a professional user or a prospect."),
                     "unknown_subject_kind")
        kind = None
    s_first = _name(subject.get("first_name"), "subject.first_name", problems)
    s_last = _name(subject.get("last_name"), "subject.last_name", problems)
    s_phone = _phone(subject.get("phone"), "subject.phone", problems)
    s_birth = _date(subject.get("birth_date"), "subject.birth_date", problems, today=received_on)
    s_deceased = _flag(subject.get("deceased"), "subject.deceased", problems)

    # Who makes it: the subject, or someone acting for them.
    if requester is not None and not isinstance(requester, dict):
        problems.add("requester", N_("This field must be an object."), "wrong_type")
        requester = None
    acting_for = ActingFor.SELF
    if requester:
        _unknown_keys(requester, REQUESTER_FIELDS, "requester", problems)
        try:
            acting_for = ActingFor(requester.get("acting_for") or ActingFor.OTHER)
        except ValueError:
            problems.add("requester.acting_for", N_("Say whether you act for yourself or for someone else."),
                         "bad_acting_for")
    relationship = None
    if acting_for == ActingFor.SELF:
        stray = sorted(k for k, v in (requester or {}).items() if k != "acting_for" and v not in (None, ""))
        for key in stray:
            problems.add(f"requester.{key}", N_("Only for a request made for someone else."), "not_for_self")
        s_email = _email(subject.get("email"), "subject.email", problems, required=True)
        r_first, r_last, r_email, r_phone = s_first, s_last, s_email, s_phone
        r_address = None
        if s_deceased:
            problems.add("subject.deceased", N_("For a person who has died, make the request as their heir or as "
                                                "the person named in their directives."), "deceased_self")
    else:
        try:
            relationship = Relationship(requester.get("relationship"))
        except ValueError:
            problems.add("requester.relationship", N_("Tell us on what ground you act for this person."),
                         "bad_relationship")
        s_email = _email(subject.get("email"), "subject.email", problems, required=False)
        r_first = _name(requester.get("first_name"), "requester.first_name", problems)
        r_last = _name(requester.get("last_name"), "requester.last_name", problems)
        r_email = _email(requester.get("email"), "requester.email", problems, required=True)
        r_phone = _phone(requester.get("phone"), "requester.phone", problems)
        r_address = _text(requester.get("postal_address"), "requester.postal_address", problems, required=False,
                          max_length=500, multiline=True)
        if relationship in AFTER_DEATH:
            if subject.get("deceased") in (None, ""):
                s_deceased = True
            elif not s_deceased:
                problems.add("subject.deceased", N_("An heir or the person named in directives acts for someone "
                                                    "who has died."), "not_deceased")
        elif relationship is not None and s_deceased:
            problems.add("requester.relationship", N_("For a person who has died, act as their heir or as the person "
                                                      "named in their directives."), "deceased_needs_heir")
        if relationship == Relationship.PARENT and not problems.has("subject.birth_date"):
            if s_birth is None:
                problems.add("subject.birth_date", N_("Give the child's date of birth: parental authority ends at 18."),
                             "required")
            elif _age_on(s_birth, received_on) >= ADULT_AGE:
                problems.add("requester.relationship", N_("Parental authority ends at 18: for an adult, act as their "
                                                          "guardian or with their written mandate."), "not_a_minor")

    if type == RequestType.POST_MORTEM_DIRECTIVE and s_deceased:
        problems.add("type", N_("Directives for after death are set by the person during their lifetime."),
                     "directive_after_death")

    details = _text(details, "details", problems, required=False, max_length=5000, multiline=True)
    if type == RequestType.RECTIFICATION and details is None and not problems.has("details"):
        problems.add("details", N_("Tell us which data are wrong and what they should be."), "required")

    medical_record = _flag(medical_record, "medical_record", problems)
    if medical_record and (kind != "patient" or type != RequestType.ACCESS):
        problems.add("medical_record", N_("Only a patient's request for access can ask for the medical record."),
                     "not_medical")
        medical_record = False
    # How old each item of the record is, is a fact its holder establishes afterwards (CSP R.1111-1;
    # services/medical_record.py), not something the requester declares.

    if activities is None:
        activity_keys = [a.key for a in policy.activities_for_subject(kind)] if kind else []
    elif not isinstance(activities, list) or not activities:
        problems.add("activities", N_("Choose at least one service."), "required")
        activity_keys = []
    else:
        activity_keys = []
        for key in activities:
            act = policy.activities.get(key) if isinstance(key, str) else None
            if act is None or (kind and kind not in act.data_subjects):
                problems.add("activities", N_("Unknown service %(activity)s for this person."), "unknown_activity",
                             activity=str(key)[:40])
            elif key not in activity_keys:
                activity_keys.append(key)

    if external_account_id is not None:
        external_account_id = _text(external_account_id, "external_account_id", problems, required=False,
                                    max_length=64)
    problems.raise_if_any()

    req = DataRequest(
        type=str(type), subject_kind=kind, activities=activity_keys, channel=str(channel), language=language,
        details=details, received_at=received_at, medical_record=medical_record,
        external_account_id=external_account_id,
        status_link_salt=secrets.token_hex(16),
    )
    req.subject = RequestSubject(kind=kind, first_name=s_first, last_name=s_last, email=s_email, phone=s_phone,
                                 birth_date=s_birth, deceased=s_deceased)
    req.requester = Requester(acting_for=str(acting_for), relationship_to_subject=str(relationship) if relationship else None,
                              first_name=r_first, last_name=r_last, email=r_email, phone=r_phone, postal_address=r_address)
    if channel == Channel.WEB:
        req.status = Status.UNCONFIRMED
    elif method is not None:
        req.status = Status.OPEN
        req.email_confirmed_at = now
        req.identity_method = str(method)
        req.identity_verified_at = now
        req.identity_verified_by = actor.label
    else:
        req.status = Status.AWAITING_IDENTITY
        req.email_confirmed_at = now  # given to staff by the person themself
    db.session.add(req)
    db.session.flush()
    lifecycle.next_reference(req)
    if method is not None:
        lifecycle.start_clock(req, policy, received_on)  # deadline rule 1: the day of receipt
    audit.record(actor, "received", request=req, to_status=req.status, details={
        "channel": str(channel), "type": str(type), "subject_kind": kind, "activities": activity_keys,
        "acting_for": str(acting_for), "relationship": str(relationship) if relationship else None,
        "identity_method": str(method) if method else None, "medical_record": medical_record,
        "clock_started_on": req.clock_started_on, "due_date": req.due_date,
    })
    if channel == Channel.WEB:
        send_confirmation(req)
    else:
        notifications.email_requester(req, "request_received", _received_context(req))
    if method is not None:
        from . import checklist, routing

        checklist.open_checklist(req, actor)  # complete at receipt: its steps go on it now
        routing.auto_route(req, actor)
        # Verified at intake (account, in person): the collection starts now (issue 16), as for one that opens later.
        from ..systems.collection import start_collection

        start_collection(req, actor)
    elif req.status == Status.AWAITING_IDENTITY:
        from .identity import after_email_confirmed

        after_email_confirmed(req)  # policy on_reasonable_doubt: the records held may verify the identity
    log.info("request %s received (channel=%s, status=%s)", req.reference, req.channel, req.status)
    return req


def _received_context(req: DataRequest) -> dict:
    return {"missing_documents": missing_documents(req), "proof": authority_proof(req)}


# --- email confirmation ----------------------------------------------------------------------------------


def confirmation_token(req: DataRequest) -> str:
    """A signed link token for "confirm-email", bound to the request and its link salt (not to the address:
    no personal data travels in a URL)."""
    return make_token("confirm-email", {"r": req.id, "k": req.status_link_salt})


def send_confirmation(req: DataRequest) -> OutboxMessage:
    from ..urls import public_url

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
    from .identity import after_email_confirmed

    after_email_confirmed(req)  # policy on_reasonable_doubt: the records held may verify the identity
    return Confirmation(req, False)


# --- the requester's status page -------------------------------------------------------------------------


def request_for_status_token(token: str) -> DataRequest:
    """The request a status link opens; TokenError (never "no such request") otherwise."""
    request_id, salt = request_id_from_status_token(token)
    return _request_from_payload({"r": request_id, "k": salt})


def required_document_kinds(req: DataRequest) -> list[str]:
    """An identity document when the policy asks for one (art. 8.1: outside an account; on_reasonable_doubt: once
    staff record a doubt, services/identity.py); a representative also proves their authority."""
    from .identity import document_needed

    kinds = [DocumentKind.IDENTITY] if document_needed(req) else []
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
        from .identity_reviews import notify_document_arrived

        notify_document_arrived(req, doc)   # issue 18: no one was told a document had arrived
    return doc


def withdraw(req: DataRequest, actor: Actor, *, expected_version: int | None = None):
    """The requester withdraws: final, and the staff stop working on it."""
    change = lifecycle.withdraw(req, actor, expected_version=expected_version)
    notifications.email_requester(req, "request_withdrawn")
    return change


def answer_clarification(req: DataRequest, actor: Actor, answer: str, *, expected_version: int | None = None):
    """The requester answers the question asked: the pause ends and the deadline moves by its length (rule 4)."""
    problems = _Problems()
    answer = _text(answer, "answer", problems, required=True, max_length=5000, multiline=True)
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
