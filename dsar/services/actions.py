"""Staff actions on a request: one entry point for the back-office and the API.

Each action is a named function (the verbs of the domain) that validates its
parameters, applies the lifecycle transition and writes the side effects
(emails, letters, tasks) in the same transaction. ``perform`` maps the API's
action names onto them. Nothing here commits.
"""
from __future__ import annotations

from datetime import date
from typing import Sequence

import sqlalchemy as sa
from flask import current_app

from .. import lifecycle
from ..actors import Actor
from ..deadlines import legal_day
from ..errors import IllegalTransition, InvalidInput, N_, NotFound
from ..extensions import db
from ..models import DataRequest, Document, Professional, Staff, utcnow
from ..models.enums import DocumentKind, IdentityMethod, ReviewStatus, Status
from . import checklist, documents, identity, medical_record, notifications, objection
from .fulfilment import answers, recipients
from .fulfilment.recording import AnswerFile, record_answer
from .routing.routes import auto_route, route_to_professional, route_to_staff


def _policy():
    return current_app.extensions["dsar_policy"]


def _today() -> date:
    return legal_day(utcnow())


def _pending_identity_documents(req: DataRequest) -> list[Document]:
    return [d for d in req.documents if d.kind in (DocumentKind.IDENTITY, DocumentKind.AUTHORITY)
            and d.review_status == ReviewStatus.PENDING]


def verify_identity(req: DataRequest, actor: Actor, *, method: str = IdentityMethod.DOCUMENT,
                    expected_version: int | None = None, note: str | None = None):
    """Accept the identity (and authority) documents; the clock starts on the day the last one arrived."""
    try:
        method = IdentityMethod(method)
    except ValueError:
        raise InvalidInput(N_("Unknown identity check method."), code="bad_method", field="method") from None
    docs = _pending_identity_documents(req)
    if method == IdentityMethod.DOCUMENT and not docs:
        raise InvalidInput(N_("There is no document waiting for review."), code="no_document", field="method")
    now = utcnow()
    for d in docs:
        d.review_status = ReviewStatus.ACCEPTED
        d.reviewed_at = now
        d.reviewed_by = actor.label
        d.retain_until = documents.retention_end(d, _policy())  # policy art. 12: a year from the check
    # Rule 1: complete on the day the last document needed was received; in person: today.
    received_on = max((legal_day(d.uploaded_at) for d in docs), default=_today())
    change = lifecycle.accept_identity(req, actor, _policy(), method=method, received_on=received_on,
                                       document_id=docs[-1].id if docs else None, expected_version=expected_version)
    notifications.email_requester(req, "identity_accepted", {"due_date": req.due_date})
    # The checklist opened with the request (services/checklist, on lifecycle.request_changed).
    auto_route(req, actor)  # policy art. 8.2: a patient's request goes to the professional in charge
    return change


def refuse_identity(req: DataRequest, actor: Actor, *, reason: str, expected_version: int | None = None):
    """Refuse the documents with a reason; the requester is asked for a new one."""
    docs = _pending_identity_documents(req)
    change = lifecycle.refuse_identity(req, actor, reason, document_id=docs[-1].id if docs else None,
                                       expected_version=expected_version)
    now = utcnow()
    for d in docs:
        d.review_status = ReviewStatus.REFUSED
        d.reviewed_at = now
        d.reviewed_by = actor.label
        d.review_reason = reason
        d.retain_until = documents.retention_end(d, _policy())  # policy art. 12: a year from the check
    notifications.email_requester(req, "identity_refused", {"reason": reason})
    return change


def assign(req: DataRequest, actor: Actor, *, assignee_id: int | None, expected_version: int | None = None):
    staff = db.session.get(Staff, assignee_id) if assignee_id else None
    if assignee_id and staff is None:
        raise InvalidInput(N_("Unknown staff member."), code="bad_assignee", field="assignee_id")
    return lifecycle.assign(req, actor, staff, expected_version=expected_version)


def route(req: DataRequest, actor: Actor, *, professional_id: int | None = None, to_staff: bool = False,
          expected_version: int | None = None):
    """Send the request to the professional in charge (policy art. 8.2) or back to staff."""
    if to_staff:
        return route_to_staff(req, actor, reason="staff decision", expected_version=expected_version)
    pro = db.session.get(Professional, professional_id) if professional_id else None
    if pro is None:
        raise InvalidInput(N_("Choose a professional."), code="bad_professional", field="professional_id")
    return route_to_professional(req, actor, pro, expected_version=expected_version)


def ask_clarification(req: DataRequest, actor: Actor, *, question: str, kind: str = "scope",
                      expected_version: int | None = None):
    """Ask the requester a question about their identity or the scope of the request (DESIGN.md rule 4).

    The email says exactly what happens to the deadline: suspended (identity, décret n° 2019-536 art. 77),
    still running (scope, GDPR art. 12(3)), or already passed (it does not move).
    """
    change = lifecycle.ask_clarification(req, actor, question, today=_today(), policy=_policy(), kind=kind,
                                         expected_version=expected_version)
    pause = req.pauses[-1]
    notifications.email_requester(req, "clarification_asked", {
        "question": question.strip(), "effect": lifecycle.clarification_effect(req, _policy(), pause.kind, pause.started_on),
        "due_date": req.due_date, "paused_on": pause.started_on,
    })
    return change


def resume(req: DataRequest, actor: Actor, *, answer: str | None = None, expected_version: int | None = None):
    return lifecycle.resume(req, actor, _policy(), today=_today(), answer=answer, expected_version=expected_version)


def extend(req: DataRequest, actor: Actor, *, reason: str, expected_version: int | None = None):
    change = lifecycle.extend(req, actor, _policy(), reason, today=_today(), expected_version=expected_version)
    answers.after_extension(req, actor)
    return change


def answer(req: DataRequest, actor: Actor, *, outcome: str, message: str, reasons: str | None = None,
           files: Sequence[AnswerFile] = (), expected_version: int | None = None):
    """Staff's (or the API's) answer, with the files that go with it: services/fulfilment/recording.record_answer."""
    return record_answer(req, actor, outcome=outcome, message=message, reasons=reasons, files=files,
                         expected_version=expected_version).change


def refuse(req: DataRequest, actor: Actor, *, reasons: str, unfounded_or_excessive: str | None = None,
           unfounded_or_excessive_grounds: str | None = None, expected_version: int | None = None):
    """Refuse the request: GDPR art. 12(4) (refusal date, late flag), art. 12(5) (unfounded or excessive, grounds)."""
    objection.require_objection_honoured(req, "refused")  # GDPR art. 21(3): never refused
    change = lifecycle.refuse(req, actor, reasons, unfounded_or_excessive=unfounded_or_excessive or None,
                              grounds=unfounded_or_excessive_grounds, expected_version=expected_version)
    answers.after_refusal(req, actor)
    return change


def set_medical_record_item(req: DataRequest, actor: Actor, *, label: str | None = None, older_than_5_years=False,
                            item_id: int | None = None, expected_version: int | None = None):
    """How old an item of the requested medical record is (CSP R.1111-1), as its holder establishes it."""
    lifecycle.check_version(req, expected_version)
    return medical_record.set_item(req, actor, label=label, older_than_5_years=older_than_5_years, item_id=item_id)


def record_identity_doubt(req: DataRequest, actor: Actor, *, reason: str, expected_version: int | None = None):
    """A reasonable doubt about the requester's identity, and why: only then is a document asked for
    (policy identity.document_required: on_reasonable_doubt; GDPR art. 12(6))."""
    lifecycle.check_version(req, expected_version)
    return identity.record_doubt(req, actor, reason=reason)


def complete_step(req: DataRequest, actor: Actor, *, step_id: int, note: str | None = None,
                  expected_version: int | None = None):
    """Tick a step of the request's checklist (policy request_types.*.steps)."""
    lifecycle.check_version(req, expected_version)
    try:
        step_id = int(step_id)
    except (TypeError, ValueError):
        raise InvalidInput(N_("Choose a step."), code="bad_step", field="step_id") from None
    return checklist.complete_step(req, actor, step_id, note=note)


def close(req: DataRequest, actor: Actor, *, expected_version: int | None = None):
    """Close an answered request, once the policy's "required before closed" steps are done.

    GDPR art. 19: each recipient has been told of the rectification, erasure or restriction (or the
    task closed as impossible, with a reason); consent withdrawn for health data: the account's
    deactivation confirmed (policy art. 8.2).
    """
    lifecycle.check_version(req, expected_version)
    pending = recipients.pending_obligations(req)
    if pending and req.outcome in ("granted", "partly_granted"):
        raise IllegalTransition(
            N_("This request cannot be closed yet: %(count)s follow-up task(s) are still open "
               "(recipients to notify, account deactivation to confirm)."),
            code="obligations_pending", count=len(pending),
        )
    checklist.require_done(req, Status.CLOSED, req.outcome)  # the checklist's "required before closed" steps
    return lifecycle.close(req, actor, expected_version=expected_version)


def reopen(req: DataRequest, actor: Actor, *, reason: str, expected_version: int | None = None):
    return lifecycle.reopen(req, actor, reason, expected_version=expected_version)


def withdraw(req: DataRequest, actor: Actor, *, expected_version: int | None = None):
    return lifecycle.withdraw(req, actor, expected_version=expected_version)


def add_note(req: DataRequest, actor: Actor, *, note: str, expected_version: int | None = None):
    return lifecycle.add_note(req, actor, note, expected_version=expected_version)


# The API's action names (POST /api/v1/requests/{reference}/actions) and the parameters each takes.
ACTIONS = {
    "verify_identity": (verify_identity, {"method", "note"}),
    "refuse_identity": (refuse_identity, {"reason"}),
    "assign": (assign, {"assignee_id"}),
    "route": (route, {"professional_id", "to_staff"}),
    "clarify": (ask_clarification, {"question", "kind"}),
    "resume": (resume, {"answer"}),
    "extend": (extend, {"reason"}),
    "answer": (answer, {"outcome", "message", "reasons"}),
    "refuse": (refuse, {"reasons", "unfounded_or_excessive", "unfounded_or_excessive_grounds"}),
    "medical_record_item": (set_medical_record_item, {"label", "older_than_5_years", "item_id"}),
    "close": (close, set()),
    "reopen": (reopen, {"reason"}),
    "withdraw": (withdraw, set()),
    "note": (add_note, {"note"}),
    "complete_step": (complete_step, {"step_id", "note"}),
    "record_identity_doubt": (record_identity_doubt, {"reason"}),
}


def perform(req: DataRequest, action: str, actor: Actor, params: dict, *, expected_version: int | None = None):
    """Run a named action with its parameters; unknown actions and parameters are errors, not ignored."""
    if action not in ACTIONS:
        raise InvalidInput(N_("Unknown action %(action)s."), code="unknown_action", field="action", action=action)
    func, allowed = ACTIONS[action]
    unknown = set(params) - allowed
    if unknown:
        raise InvalidInput(N_("Unknown field for this action: %(fields)s."), code="unknown_field",
                           field=sorted(unknown)[0], fields=", ".join(sorted(unknown)))
    return func(req, actor, expected_version=expected_version, **params)


def get_request(reference: str) -> DataRequest:
    req = db.session.scalar(sa.select(DataRequest).where(DataRequest.reference == reference))
    if req is None:
        raise NotFound(N_("No such request."))
    return req
