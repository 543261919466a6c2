"""Routing patients' requests to the professional in charge (policy art. 8.2, GDPR art. 26(3)).

"Le Patient doit exercer ses droits auprès de l'Utilisateur Professionnel le
prenant en charge" (policy art. 8.2): the Application Idomed is under joint
responsibility (art. 5), IDOMED does not read what is shared in it, and the
professional answers their patients' requests. A patient who writes to IDOMED
instead is never turned away (GDPR art. 26(3)): the request is forwarded and
keeps the clock it started with.

Matching a request to a patient (``find_professionals_for``)
------------------------------------------------------------
The request gives the subject's email, phone and birth date; a care link holds
the same contact data for one patient of one professional. A link matches when

* the emails are equal (lower-cased) — an email is what the requester confirmed
  or what their account vouches for — and the birth dates do not contradict each
  other (a parent and a child sharing one mailbox are told apart by them); or
* the phones are equal (normalised to +33…) *and* the birth dates are equal —
  a phone alone is too often shared within a family.

Only links still in force (active, not ended) of professionals still active
(contract not ended) count. Names are not matched: spellings differ, and a
wrong match would send a patient's request to someone else's doctor.

The task link
-------------
A professional has no account: they act through a link sent by email. The link
is a signed token (purpose "task") carrying the task id and a random nonce. The
database keeps the nonce's SHA-256 — forgetting it revokes the link — and, so
that reminders can carry the same link, a copy encrypted with the file keys.
The link expires ``task_link_valid_days`` after it was issued; a reminder sent
when it is about to expire carries a new one, and staff (or the professional,
from the expired page) can have a new one sent to the address on file.

Nothing here commits: the caller does, so a routing, its audit events and its
emails land together or not at all.
"""
from __future__ import annotations

from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import BinaryIO, Iterable

import sqlalchemy as sa
from flask import current_app

from .. import audit, deadlines, lifecycle
from ..actors import Actor
from ..deadlines import legal_day
from ..errors import Conflict, DomainError, IllegalTransition, InvalidInput, N_, PermissionDenied
from ..extensions import db
from ..models import CareLink, DataRequest, Professional, ProfessionalTask, TaskOpening, utcnow
from ..models.enums import ActorType, DocumentKind, Outcome, Status, SubjectKind, TaskStatus
from ..policy import PolicyLookupError, localized
from ..security import decrypt_secret, encrypt_secret
from ..tokens import TokenError, TokenExpired, make_token, new_nonce, read_token, same_hash
from . import notifications
from .directory import email_key, phone_key

LIVE_TASK_STATUSES = (TaskStatus.OPEN, TaskStatus.ACKNOWLEDGED)
PROFESSIONAL_ROUTE = "professional_in_charge"
# The signature of a task token is checked with this bound; the real expiry is the task's expires_at.
LINK_SIGNATURE_MAX_AGE = 400 * 86400
MAX_ANSWER_FILES = 10


class RoutingOutcome(StrEnum):
    ROUTED = "routed_to_professional"      # one professional in charge: routed automatically
    NEEDS_CHOICE = "needs_choice"          # several: staff choose
    NO_PROFESSIONAL = "no_professional"    # no care link matches: staff handle it
    CONTRACT_ENDED = "contract_ended"      # links match, but the professional left or the care ended: staff
    STAFF_BY_POLICY = "staff_by_policy"    # not a patient's request about the Application: staff
    SKIPPED = "skipped"                    # not open, or already with a professional


# --- errors of the task link ---------------------------------------------------------------------------------


class TaskLinkInvalid(TokenError):
    """A link that is not one of ours (tampered, truncated, made for another purpose)."""

    status_code = 400
    code = "bad_token"


class TaskLinkGone(TokenExpired):
    """A genuine link that no longer opens the task; ``reason`` says why, ``task`` is the task when known."""

    status_code = 410
    code = "task_link_gone"

    def __init__(self, reason: str, task: ProfessionalTask | None = None):
        messages = {
            "expired": N_("This link has expired."),
            "revoked": N_("This link has been withdrawn."),
            "superseded": N_("This link is no longer valid: a newer link was sent."),
        }
        super().__init__(messages[reason], code=f"task_link_{reason}")
        self.reason = reason
        self.task = task


# --- helpers ---------------------------------------------------------------------------------------------------


def _policy():
    return current_app.extensions["dsar_policy"]


def _professional_live(pro: Professional, today: date) -> bool:
    return bool(pro.active) and (pro.contract_ended_on is None or pro.contract_ended_on > today)


def _link_live(link: CareLink, today: date) -> bool:
    return bool(link.active) and (link.ended_on is None or link.ended_on > today)


def live_tasks(req: DataRequest) -> list[ProfessionalTask]:
    """The request's tasks a professional can still act on."""
    return [t for t in req.tasks if t.status in LIVE_TASK_STATUSES and t.revoked_at is None]


def live_task(req: DataRequest) -> ProfessionalTask | None:
    tasks = live_tasks(req)
    return tasks[-1] if tasks else None


def right_name(req: DataRequest, language: str) -> str:
    """The right exercised, as the policy names it ("Droit d'accès")."""
    try:
        return localized(_policy().request_type(req.type).name, language)
    except PolicyLookupError:
        return req.type


# --- matching ---------------------------------------------------------------------------------------------------


def matching_links(req: DataRequest) -> list[CareLink]:
    """Every care link that designates the request's subject (in force or not), professionals loaded."""
    subject = req.subject
    if subject is None or req.subject_kind != SubjectKind.PATIENT:
        return []
    email, phone, born = email_key(subject.email), phone_key(subject.phone), subject.birth_date
    conditions = []
    if email:
        same_birth = sa.true() if born is None else sa.or_(CareLink.patient_birth_date.is_(None),
                                                            CareLink.patient_birth_date == born)
        conditions.append(sa.and_(CareLink.patient_email == email, same_birth))
    if phone and born is not None:
        conditions.append(sa.and_(CareLink.patient_phone == phone, CareLink.patient_birth_date == born))
    if not conditions:
        return []
    with db.session.no_autoflush:  # care links do not depend on what this transaction has not written yet
        return list(db.session.scalars(
            sa.select(CareLink).join(CareLink.professional).where(sa.or_(*conditions))
            .options(sa.orm.contains_eager(CareLink.professional)).order_by(CareLink.id)
        ).unique())


def find_professionals_for(req: DataRequest, *, today: date | None = None,
                           links: list[CareLink] | None = None) -> list[Professional]:
    """The professionals in charge of the request's subject now (see the matching rule above); ``links``: the
    request's ``matching_links`` when the caller has them already."""
    today = today or legal_day(utcnow())
    found: dict[int, Professional] = {}
    for link in matching_links(req) if links is None else links:
        if _link_live(link, today) and _professional_live(link.professional, today):
            found.setdefault(link.professional.id, link.professional)
    return sorted(found.values(), key=lambda p: (p.last_name.lower(), p.first_name.lower(), p.id))


def policy_route(req: DataRequest, policy=None) -> str:
    """What the policy's routing table says for this request: "professional_in_charge" or "staff".

    Every activity the request concerns must route to the professional (a patient
    asking about IDOMED's client file as well is IDOMED's to answer, with staff
    routing the Application part by hand if needed).
    """
    policy = policy or _policy()
    routing = policy.routing
    if not req.activities:
        return routing.default_route
    routes = []
    for activity in req.activities:
        try:
            rule = policy.route_for(activity, req.subject_kind)
        except PolicyLookupError:
            rule = None
        routes.append(rule.route_to if rule else routing.default_route)
    return PROFESSIONAL_ROUTE if all(r == PROFESSIONAL_ROUTE for r in routes) else "staff"


# --- routing -----------------------------------------------------------------------------------------------------


def auto_route(req: DataRequest, actor: Actor, *, now: datetime | None = None) -> str:
    """Apply the policy's routing when a request becomes open. Returns a RoutingOutcome value.

    One professional in charge: the request goes to them. Several: staff choose
    (event ``routing_needs_choice`` with the candidates). None, or their contract
    ended: staff handle it (event ``routing_to_staff`` says why). Anything else
    than a patient's request about the Application: staff.
    The routing is the service's decision, so it is recorded as the system's,
    with who triggered it.
    """
    now = now or utcnow()
    if req.status != Status.OPEN or live_tasks(req):
        return RoutingOutcome.SKIPPED
    policy = _policy()
    system = Actor.system("routing")
    base = {"policy": policy.article("routing") or "art. 8.2", "triggered_by": f"{actor.type}:{actor.id or '-'}"}
    if policy_route(req, policy) != PROFESSIONAL_ROUTE:
        audit.record(system, "routing_to_staff", request=req,
                     details=dict(base, reason=RoutingOutcome.STAFF_BY_POLICY.value,
                                  subject_kind=req.subject_kind, activities=list(req.activities or [])))
        return RoutingOutcome.STAFF_BY_POLICY
    today = legal_day(now)
    links = matching_links(req)  # one care-link query for the whole decision
    candidates = find_professionals_for(req, today=today, links=links)
    if len(candidates) == 1:
        route_to_professional(req, system, candidates[0], now=now, automatic=True, care_link_matched=True)
        return RoutingOutcome.ROUTED
    if len(candidates) > 1:
        audit.record(system, "routing_needs_choice", request=req,
                     details=dict(base, candidates=[p.id for p in candidates]))
        return RoutingOutcome.NEEDS_CHOICE
    outcome = RoutingOutcome.CONTRACT_ENDED if links else RoutingOutcome.NO_PROFESSIONAL
    audit.record(system, "routing_to_staff", request=req, details=dict(
        base, reason=outcome.value, ended_professional_ids=sorted({link.professional_id for link in links})))
    return outcome


def route_to_professional(req: DataRequest, actor: Actor, professional: Professional,
                          expected_version: int | None = None, *, now: datetime | None = None,
                          automatic: bool = False, care_link_matched: bool | None = None):
    """Hand the request to ``professional``: a task, its link, an email. The clock is not touched.

    Any earlier live task (another professional) is cancelled and its link revoked. ``care_link_matched``: whether
    a care link designates them, when the caller knows it already (``auto_route``); else it is looked up.
    """
    now = now or utcnow()
    today = legal_day(now)
    if req.subject_kind != SubjectKind.PATIENT:
        raise InvalidInput(N_("Only a patient's request can be sent to a professional (policy art. 8.2)."),
                           code="not_a_patient", field="professional_id")
    if not _professional_live(professional, today):
        raise InvalidInput(N_("This professional is no longer active or their contract has ended: the request stays with staff."),
                           code="professional_inactive", field="professional_id")
    current = live_tasks(req)
    if any(t.professional_id == professional.id for t in current):
        raise IllegalTransition(N_("This request is already with this professional. Send the link again instead."),
                                code="already_routed")
    matched = care_link_matched
    if matched is None:
        matched = any(link.professional_id == professional.id for link in matching_links(req))
    change = lifecycle.transition(req, "route_to_professional", actor, expected_version=expected_version, details={
        "professional_id": professional.id,
        "professional": professional.full_name,
        "care_link_matched": matched,
        "automatic": automatic,
        "clock_started_on": req.clock_started_on,
        "due_date": req.due_date,
    })
    for old in current:
        _close_task(old, actor, TaskStatus.CANCELLED, now, reason="rerouted")
    req.handler = "professional"
    task = ProfessionalTask(request=req, professional=professional, status=TaskStatus.OPEN, created_at=now,
                            expires_at=now)
    db.session.add(task)
    db.session.flush()
    _issue_link(task, now)
    audit.record(actor, "task_link_sent", request=req, details={
        "task_id": task.id, "professional_id": professional.id, "expires_at": task.expires_at, "reason": "assigned"})
    _email_professional(task, "task_assigned", now=now)
    return change


def route_to_staff(req: DataRequest, actor: Actor, *, reason: str, expected_version: int | None = None,
                   now: datetime | None = None):
    """Take the request back from professionals: live tasks are cancelled, the request is open for staff."""
    now = now or utcnow()
    reason = (reason or "").strip() or "staff decision"
    tasks = live_tasks(req)
    if Status(req.status) == Status.AWAITING_REQUESTER:
        # The clock is paused on the requester; the request stays paused, but staff now handle it.
        lifecycle.check_version(req, expected_version)
        audit.record(actor, "route_to_staff", request=req, from_status=req.status, to_status=req.status,
                     details={"reason": reason, "cancelled_task_ids": [t.id for t in tasks]})
        change = lifecycle.Change("route_to_staff", Status(req.status), Status(req.status), None)
    else:
        change = lifecycle.transition(req, "route_to_staff", actor, expected_version=expected_version,
                                      details={"reason": reason, "cancelled_task_ids": [t.id for t in tasks]})
    for task in tasks:
        _close_task(task, actor, TaskStatus.CANCELLED, now, reason=reason)
    req.handler = "staff"
    return change


def resend_task_link(task: ProfessionalTask, actor: Actor, *, now: datetime | None = None) -> ProfessionalTask:
    """Staff send a new link (the old one stops working), valid for the policy's full period."""
    now = now or utcnow()
    if not actor.is_staff_like:
        raise PermissionDenied(N_("You are not allowed to do this."), code="forbidden")
    _require_live(task)
    _issue_link(task, now)
    audit.record(actor, "task_link_sent", request=task.request, details={
        "task_id": task.id, "professional_id": task.professional_id, "expires_at": task.expires_at, "reason": "resent"})
    _email_professional(task, "task_assigned", now=now, resent=True)
    return task


def revoke_task(task: ProfessionalTask, actor: Actor, *, now: datetime | None = None):
    """Staff withdraw the task: its link stops working and the request comes back to staff."""
    now = now or utcnow()
    if not actor.is_staff_like:
        raise PermissionDenied(N_("You are not allowed to do this."), code="forbidden")
    _require_live(task)
    return route_to_staff(task.request, actor, reason="task_revoked", now=now)


def withdraw_tasks_of_professionals(professional_ids: Iterable[int], *, now: datetime | None = None) -> int:
    """Professionals who left (inactive, contract ended) keep no task: back to staff, DPO alerted. Returns how many."""
    ids = list(professional_ids)
    if not ids:
        return 0
    now = now or utcnow()
    tasks = db.session.scalars(
        sa.select(ProfessionalTask).where(ProfessionalTask.professional_id.in_(ids),
                                          ProfessionalTask.status.in_(LIVE_TASK_STATUSES),
                                          ProfessionalTask.revoked_at.is_(None))
        .order_by(ProfessionalTask.id)
    ).all()
    system = Actor.system("directory")
    for task in tasks:
        withdraw_task(task, reason="professional_inactive", now=now, actor=system)
    return len(tasks)


# --- the task link --------------------------------------------------------------------------------------------


def _issue_link(task: ProfessionalTask, now: datetime) -> None:
    nonce, digest = new_nonce()
    task.token_hash = digest
    task.link_secret = encrypt_secret(nonce)
    task.revoked_at = None
    task.expires_at = now + timedelta(days=_policy().routing.task_link_valid_days)


def task_token(task: ProfessionalTask) -> str:
    """The secret part of the task's current link."""
    if not task.link_secret:
        raise ValueError("this task has no link (revoked)")
    return make_token("task", {"t": task.id, "n": decrypt_secret(task.link_secret)})


def task_url(task: ProfessionalTask) -> str:
    from ..urls import public_url

    return public_url("tasks.task_GET", token=task_token(task))


def task_from_token(token: str, *, now: datetime | None = None) -> ProfessionalTask:
    """The task a link opens, or TaskLinkInvalid (400) / TaskLinkGone (410, with the reason)."""
    now = now or utcnow()
    try:
        payload = read_token("task", token, max_age=LINK_SIGNATURE_MAX_AGE)
    except TokenExpired:
        raise TaskLinkGone("expired") from None
    except TokenError:
        raise TaskLinkInvalid(N_("This link is not valid.")) from None
    task_id, nonce = payload.get("t"), payload.get("n")
    if not isinstance(task_id, int) or isinstance(task_id, bool) or not isinstance(nonce, str):
        raise TaskLinkInvalid(N_("This link is not valid."))
    task = db.session.get(ProfessionalTask, task_id)
    if task is None:
        raise TaskLinkInvalid(N_("This link is not valid."))
    if task.token_hash is None or task.revoked_at is not None:
        raise TaskLinkGone("revoked", task)
    # The nonce binds the token to this task's current link: a token naming another task, or an
    # earlier link of this one, does not match the stored hash.
    if not same_hash(nonce, task.token_hash):
        raise TaskLinkGone("superseded", task)
    if now >= task.expires_at:
        raise TaskLinkGone("expired", task)
    return task


def record_refused_link(err: TaskLinkGone, ip: str | None, user_agent: str | None) -> None:
    """A genuine but dead link was used: keep the trace (no personal data in it)."""
    if err.task is None:
        return
    actor = Actor(ActorType.PROFESSIONAL, str(err.task.professional_id), err.task.professional.full_name,
                  ip=ip, user_agent=user_agent)
    audit.record(actor, "task_link_refused", request=err.task.request, touch=False,
                 details={"task_id": err.task.id, "reason": err.reason})


def record_opening(task: ProfessionalTask, actor: Actor, *, now: datetime | None = None) -> TaskOpening:
    """Every opening of a task link: a TaskOpening row and an audit event (time, IP, user agent)."""
    opening = TaskOpening(task_id=task.id, opened_at=now or utcnow(), ip=actor.ip, user_agent=actor.user_agent)
    db.session.add(opening)
    audit.record(actor, "task_opened", request=task.request, touch=False, details={"task_id": task.id})
    return opening


def renew_expired_link(task: ProfessionalTask, *, ip: str | None, user_agent: str | None,
                       now: datetime | None = None) -> None:
    """From an expired link's page: a new link goes to the professional's address on file (never elsewhere)."""
    now = now or utcnow()
    _require_live(task)
    if not _professional_live(task.professional, legal_day(now)):
        raise IllegalTransition(N_("This request can no longer be handled through this link. Please contact the DPO."),
                                code="professional_inactive")
    _issue_link(task, now)
    actor = Actor(ActorType.SYSTEM, None, "task link renewal", ip=ip, user_agent=user_agent)
    audit.record(actor, "task_link_sent", request=task.request, details={
        "task_id": task.id, "professional_id": task.professional_id, "expires_at": task.expires_at,
        "reason": "renewed_from_expired_link"})
    _email_professional(task, "task_assigned", now=now, resent=True)


def _require_live(task: ProfessionalTask) -> None:
    if task.status not in LIVE_TASK_STATUSES or task.revoked_at is not None or task.request.is_final:
        raise IllegalTransition(N_("This task is closed. To involve the professional again, route the request again."),
                                code="task_closed")


def _close_task(task: ProfessionalTask, actor: Actor, status: TaskStatus, now: datetime, *, reason: str) -> None:
    task.status = status
    task.token_hash = None
    task.link_secret = None
    task.revoked_at = now
    if status == TaskStatus.DECLINED:
        task.declined_at = now
    audit.record(actor, "task_closed", request=task.request, details={
        "task_id": task.id, "professional_id": task.professional_id, "status": str(status), "reason": reason})


# --- what the professional does --------------------------------------------------------------------------------


def professional_actor(task: ProfessionalTask, *, ip: str | None = None, user_agent: str | None = None) -> Actor:
    return Actor.for_professional(task.professional, ip=ip, user_agent=user_agent)


def _actionable(task: ProfessionalTask) -> DataRequest:
    """The request, if the professional can still act on it; a clear 409 otherwise."""
    req = task.request
    if task.status == TaskStatus.ANSWERED:
        raise Conflict(N_("You have already answered this request. Nothing more is needed from you."), code="task_answered")
    if task.status not in LIVE_TASK_STATUSES or task.revoked_at is not None:
        raise Conflict(N_("This request is no longer with you. Nothing more is needed from you."), code="task_closed")
    if req.is_final or Status(req.status) == Status.ANSWERED:
        raise Conflict(N_("This request has moved on since this page was opened: it was answered, closed or taken back by IDOMED. "
                          "Nothing was recorded and nothing more is needed from you."), code="request_moved_on")
    return req


def acknowledge_task(task: ProfessionalTask, actor: Actor, *, now: datetime | None = None) -> bool:
    """The professional says they have the request in hand. False when already acknowledged."""
    req = _actionable(task)
    if task.acknowledged_at is not None:
        return False
    now = now or utcnow()
    lifecycle.transition(req, "acknowledge", actor, details={"task_id": task.id})
    task.acknowledged_at = now
    task.status = TaskStatus.ACKNOWLEDGED
    return True


def answer_task(task: ProfessionalTask, actor: Actor, *, outcome: str, message: str, reasons: str | None,
                files: list[tuple[BinaryIO, str | None, str | None]] = (), now: datetime | None = None):
    """The professional's answer: files stored (checked like identity documents), then the answer recorded.

    Everything is checked before anything is written; a file refused half-way
    rolls the whole answer back (and its stored files with it).
    """
    from . import actions, documents

    req = _actionable(task)
    now = now or utcnow()
    if Status(req.status) not in (Status.OPEN, Status.IN_PROGRESS):
        raise Conflict(N_("IDOMED is waiting for the requester's clarification: the answer can be given once they reply."),
                       code="awaiting_requester")
    try:
        outcome = Outcome(outcome)
    except ValueError:
        raise InvalidInput(N_("Choose an outcome."), code="bad_outcome", field="outcome") from None
    if not (message or "").strip():
        raise InvalidInput(N_("This field is required."), code="required", field="message")
    if outcome in (Outcome.REFUSED, Outcome.PARTLY_GRANTED) and not (reasons or "").strip():
        raise InvalidInput(N_("Give the reasons for refusing all or part of the request (GDPR art. 12(4))."),
                           code="required", field="reasons")
    if req.earliest_release_at is not None and now < req.earliest_release_at:
        raise IllegalTransition(
            N_("A medical record cannot be sent before the 48-hour reflection period has passed (CSP L.1111-7)."),
            code="reflection_period")
    if len(files) > MAX_ANSWER_FILES:
        raise InvalidInput(N_("At most %(count)s files can be sent with an answer."), code="too_many_files",
                           field="files", count=MAX_ANSWER_FILES)
    actions.check_answer_allowed(req, str(outcome))  # art. 21(3), the checklist: before any file is stored
    policy = _policy()
    stored = []
    for stream, filename, declared_type in files:
        try:
            doc = documents.store_document(req, DocumentKind.ANSWER, stream, filename=filename,
                                           declared_type=declared_type, actor=actor, policy=policy)
        except DomainError as err:
            err.field = "files"
            raise
        stored.append(doc.id)
    change = actions.answer(req, actor, outcome=str(outcome), message=message, reasons=reasons)
    task.status = TaskStatus.ANSWERED
    task.answered_at = now
    task.acknowledged_at = task.acknowledged_at or now
    task.message = message.strip()
    audit.record(actor, "task_answered", request=req, details={"task_id": task.id, "document_ids": stored})
    return change


def request_extension(task: ProfessionalTask, actor: Actor, *, reason: str, now: datetime | None = None) -> None:
    """The professional asks for the two-month extension (GDPR art. 12(3)); staff decide."""
    req = _actionable(task)
    now = now or utcnow()
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput(N_("Say why more time is needed: the requester will be told the reason."),
                           code="required", field="reason")
    if req.extended_at is not None:
        raise IllegalTransition(N_("This request has already been extended."), code="already_extended")
    if task.extension_requested_at is not None:
        raise IllegalTransition(N_("You have already asked for an extension; the DPO will decide."),
                                code="extension_already_requested")
    if req.one_month_due_date is None or not deadlines.can_extend(legal_day(now), req.one_month_due_date):
        raise IllegalTransition(
            N_("The one-month deadline has passed: the extension can no longer be told to the requester in time."),
            code="extension_too_late")
    task.extension_requested_at = now
    task.extension_reason = reason
    audit.record(actor, "extension_requested", request=req, details={"task_id": task.id, "reason": reason})
    _email_dpo(task, "task_extension_requested", now=now)


def decline_task(task: ProfessionalTask, actor: Actor, *, comment: str | None = None,
                 now: datetime | None = None):
    """"Not my patient": the link is revoked, the request goes back to staff, the DPO is alerted."""
    req = _actionable(task)
    now = now or utcnow()
    comment = (comment or "").strip() or None
    _close_task(task, actor, TaskStatus.DECLINED, now, reason="not_my_patient")
    audit.record(actor, "task_declined", request=req, details={"task_id": task.id, "comment": comment})
    change = route_to_staff(req, actor, reason="not_my_patient", now=now)
    _email_dpo(task, "task_declined", reason="not_my_patient", now=now)
    return change


def ask_for_help(task: ProfessionalTask, actor: Actor, *, question: str, now: datetime | None = None) -> None:
    """The professional asks the DPO for help; the question stays in the audit trail, the email only points to it."""
    req = _actionable(task)
    now = now or utcnow()
    question = (question or "").strip()
    if not question:
        raise InvalidInput(N_("Write your question."), code="required", field="question")
    task.help_requested_at = now
    audit.record(actor, "help_requested", request=req, details={"task_id": task.id, "question": question})
    _email_dpo(task, "task_help_requested", now=now)


# --- emails ------------------------------------------------------------------------------------------------------


def email_context(task: ProfessionalTask, language: str, *, now: datetime) -> dict:
    """What an email about a task may say: reference, right, dates, link. Nothing of the patient or their health."""
    req = task.request
    today = legal_day(now)
    return {
        "reference": req.reference,
        "right": right_name(req, language),
        "due_date": req.due_date,
        "days_left": deadlines.days_left(today, req.due_date) if req.due_date else None,
        "professional_name": task.professional.full_name,
        "expires_at": task.expires_at,
        "task_created_on": legal_day(task.created_at),
    }


def _email_professional(task: ProfessionalTask, template: str, *, now: datetime, resent: bool = False):
    language = task.professional.language if task.professional.language in ("fr", "en") else "fr"
    ctx = email_context(task, language, now=now)
    ctx.update(link=task_url(task), resent=resent, reminder_count=task.reminder_count)
    return notifications.queue_email(task.professional.email, template, language, ctx, request=task.request)


def _backoffice_url(req: DataRequest) -> str:
    """The request's page in the back-office (a reference in a URL opens nothing without signing in)."""
    from werkzeug.routing import BuildError

    from ..urls import public_url

    try:
        return public_url("backoffice.request_GET", reference=req.reference)
    except BuildError:
        return current_app.config["PUBLIC_BASE_URL"] + "/backoffice/"


def _email_dpo(task: ProfessionalTask, template: str, *, now: datetime, reason: str | None = None):
    ctx = email_context(task, "fr", now=now)
    ctx.update(reason=reason, backoffice_url=_backoffice_url(task.request),
               reminder_count=task.reminder_count, acknowledged=task.acknowledged_at is not None)
    return notifications.email_dpo(template, ctx)


def email_reminder(task: ProfessionalTask, *, now: datetime):
    return _email_professional(task, "task_reminder", now=now)


def email_escalation(task: ProfessionalTask, reason: str, *, now: datetime):
    return _email_dpo(task, "task_escalation", reason=reason, now=now)


def ensure_link_lasts(task: ProfessionalTask, *, until: datetime, now: datetime) -> bool:
    """Before a reminder: a link that would expire before ``until`` is replaced. True when renewed."""
    if task.link_secret and task.expires_at > until:
        return False
    _issue_link(task, now)
    audit.record(Actor.system("reminders"), "task_link_sent", request=task.request, touch=False, details={
        "task_id": task.id, "professional_id": task.professional_id, "expires_at": task.expires_at,
        "reason": "renewed_with_reminder"})
    return True


def withdraw_task(task: ProfessionalTask, *, reason: str, now: datetime, actor: Actor | None = None) -> None:
    """A professional who left (inactive, contract ended) keeps no task: back to staff, DPO alerted."""
    system = actor or Actor.system("reminders")
    if Status(task.request.status) not in (Status.OPEN, Status.IN_PROGRESS, Status.AWAITING_REQUESTER):
        _close_task(task, system, TaskStatus.CANCELLED, now, reason="request_closed")
        return
    route_to_staff(task.request, system, reason=reason, now=now)
    _email_dpo(task, "task_declined", reason=reason, now=now)


# --- keeping tasks in step with the request ----------------------------------------------------------------------


def _on_request_changed(req: DataRequest, change, actor: Actor, **_):
    """A request that staff took over, answered or closed keeps no live task: the link stops working."""
    if change.action in ("route_to_professional", "route_to_staff", "acknowledge", "note"):
        return
    handing_over = change.action == "assign"        # lifecycle.assign gives the request to staff
    finished = change.to_status.is_final or (change.to_status == Status.ANSWERED and actor.type != ActorType.PROFESSIONAL)
    if not (handing_over or finished):
        return
    now = utcnow()
    for task in live_tasks(req):
        _close_task(task, actor, TaskStatus.CANCELLED, now, reason=f"request_{change.action}")


lifecycle.request_changed.connect(_on_request_changed)
