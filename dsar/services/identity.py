"""Identity verification by any means, a document only on reasonable doubt (policy ``identity.document_required``).

French law lets identity be proven by any means and allows asking for a copy of an identity document only
when there is a reasonable doubt (GDPR art. 12(6) and recital 64; décret n° 2019-536 art. 77; CNIL guidance).
With ``document_required: on_reasonable_doubt``:

- the requester's email is confirmed by the signed link (every web request);
- the details given match what the controller already holds: for a patient, a care link synced from the
  application (email, or phone, with the birth date: services/care_links.py); for a professional
  user, the directory (email and family name). Then the identity is verified ("records_match") on the day
  the complete request was received, with no document;
- otherwise staff look at the request: they accept it by other means, or record a doubt and its reason,
  and only then is a copy of an identity document asked for (the reason is kept, and sent).

A representative still proves their authority (proof_of authority is not identity). IDOMED's own rule
(policy art. 8.1: a document outside the account) stays as written: its policy is ``unless_authenticated``,
which ``Policy.configuration_gaps`` lists as a warning to the DPO.
"""
from __future__ import annotations

import unicodedata

import sqlalchemy as sa
from flask import current_app

from .. import audit, lifecycle
from ..actors import Actor
from ..deadlines import legal_day
from ..errors import IllegalTransition, InvalidInput, N_
from ..extensions import db
from ..models import DataRequest, Professional, utcnow
from ..models.enums import ActingFor, IdentityMethod, Status, SubjectKind
from . import notifications
from .care_links import matching_links
from .routing.routes import auto_route

DOUBT_MODE = "on_reasonable_doubt"
MAX_REASON = 2000


def _policy():
    return current_app.extensions["dsar_policy"]


def _norm(value: str | None) -> str:
    return unicodedata.normalize("NFKC", (value or "").strip()).casefold()


def doubt_mode() -> bool:
    return _policy().identity.document_required == DOUBT_MODE


def document_needed(req: DataRequest) -> bool:
    """Whether a copy of an identity document is asked of this requester (policy rule and recorded doubt)."""
    return _policy().identity.document_needed(authenticated=req.identity_method == IdentityMethod.ACCOUNT,
                                              doubt_recorded=req.identity_doubt is not None)


def matches_records(req: DataRequest) -> bool:
    """The person acts for themself and their details match what the controller holds (directory, care links)."""
    requester, subject = req.requester, req.subject
    if requester is None or subject is None or requester.acting_for != ActingFor.SELF:
        return False
    if _norm(requester.email) != _norm(subject.email) or not subject.email:
        return False  # the confirmed address must be the subject's own
    if req.subject_kind == SubjectKind.PATIENT:
        return bool(matching_links(req))
    if req.subject_kind == SubjectKind.PROFESSIONAL:
        pro = db.session.scalar(sa.select(Professional).where(sa.func.lower(Professional.email) == _norm(subject.email)))
        return pro is not None and _norm(pro.last_name) == _norm(subject.last_name)
    return False


def after_email_confirmed(req: DataRequest) -> bool:
    """On reasonable doubt only: verify the identity from the records when they match. True when verified."""
    if not doubt_mode() or req.status != Status.AWAITING_IDENTITY or req.identity_doubt is not None:
        return False
    if not matches_records(req):
        return False  # staff decide: other means, or a doubt and its reason
    actor = Actor.system("identity")
    received_on = legal_day(req.email_confirmed_at or utcnow())
    # The request opens: its checklist with it (services/checklist, on lifecycle.request_changed).
    lifecycle.accept_identity(req, actor, _policy(), method=IdentityMethod.RECORDS_MATCH, received_on=received_on)
    notifications.email_requester(req, "identity_accepted", {"due_date": req.due_date})
    auto_route(req, actor)
    return True


def record_doubt(req: DataRequest, actor: Actor, *, reason: str) -> None:
    """Staff have a reasonable doubt about who the requester is: say why; only now is a document asked for."""
    if not doubt_mode():
        raise IllegalTransition(N_("The policy asks for an identity document anyway: there is no doubt to record."),
                                code="not_doubt_mode")
    if req.status not in (Status.AWAITING_IDENTITY, Status.IDENTITY_REVIEW):
        raise IllegalTransition(N_("The identity is no longer being checked for this request."), code="wrong_state")
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput(N_("Say what makes you doubt the requester's identity."), code="required", field="reason")
    if len(reason) > MAX_REASON:
        raise InvalidInput(N_("At most %(max)s characters."), code="too_long", field="reason", max=MAX_REASON)
    req.identity_doubt, req.identity_doubt_at = reason, utcnow()
    audit.record(actor, "identity_doubt_recorded", request=req, details={"reason": reason, "gdpr": "art. 12(6)"})
    notifications.email_requester(req, "identity_document_requested", {"reason": reason})
