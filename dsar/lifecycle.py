"""The request state machine (DESIGN.md "Request lifecycle").

Each verb checks who may act and from which status, changes the request,
updates its dates, and appends an audit event in the same transaction. None
commits: the caller does, so the change and its event land together or not at all.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

import sqlalchemy as sa
from blinker import Namespace

from . import audit, deadlines
from .actors import Actor
from .errors import Conflict, IllegalTransition, InvalidInput, N_, PermissionDenied
from .extensions import db
from .models import DataRequest, RequestPause, utcnow
from .models.enums import ActorType, Outcome, StaffRole, Status
from .policy.law import CLARIFICATION_KINDS
from .policy.law import DEFAULT_CLARIFICATION_SUSPENDS

S = Status
# Sent after every transition, inside the transaction: listeners add their own rows (webhooks, …) to it.
request_changed = Namespace().signal("request-changed")
#: A request received complete (identity verified at receipt): sent by services/intake.py with ``actor``, after the
#: request, its checklist and its routing are recorded, so that upper layers start their part (the collection).
request_received = Namespace().signal("request-received")
STAFF_WRITERS = frozenset({StaffRole.ADMIN, StaffRole.DPO, StaffRole.AGENT})
SENIOR_STAFF = frozenset({StaffRole.ADMIN, StaffRole.DPO})
NON_FINAL = frozenset(s for s in Status if not s.is_final)


@dataclass(frozen=True)
class Rule:
    """Who may perform an action and from which statuses; ``target`` None keeps the status."""

    sources: frozenset[Status]
    target: Status | None
    actors: frozenset[ActorType]
    staff_roles: frozenset[StaffRole] = STAFF_WRITERS
    moves: dict = field(default_factory=dict)  # status-specific targets, overriding ``target``


def _rule(sources, target, *actors, roles=STAFF_WRITERS, moves=None) -> Rule:
    return Rule(frozenset(sources), target, frozenset(actors), frozenset(roles), moves or {})


A = ActorType
RULES: dict[str, Rule] = {
    "confirm_email": _rule({S.UNCONFIRMED}, S.AWAITING_IDENTITY, A.REQUESTER, A.SYSTEM),
    "submit_identity": _rule({S.AWAITING_IDENTITY}, S.IDENTITY_REVIEW, A.REQUESTER, A.STAFF, A.API),
    # SYSTEM: identity verified from the records held, policy identity.document_required: on_reasonable_doubt.
    "accept_identity": _rule({S.IDENTITY_REVIEW, S.AWAITING_IDENTITY}, S.OPEN, A.STAFF, A.API, A.SYSTEM),
    "refuse_identity": _rule({S.IDENTITY_REVIEW}, S.AWAITING_IDENTITY, A.STAFF, A.API),
    "assign": _rule({S.OPEN, S.IN_PROGRESS, S.AWAITING_REQUESTER}, None, A.STAFF, A.API, moves={S.OPEN: S.IN_PROGRESS}),
    "route_to_professional": _rule({S.OPEN, S.IN_PROGRESS}, S.IN_PROGRESS, A.STAFF, A.API, A.SYSTEM),
    "route_to_staff": _rule({S.IN_PROGRESS, S.OPEN}, S.OPEN, A.STAFF, A.API, A.SYSTEM, A.PROFESSIONAL),
    "acknowledge": _rule({S.IN_PROGRESS, S.AWAITING_REQUESTER}, None, A.PROFESSIONAL),
    "ask_clarification": _rule({S.OPEN, S.IN_PROGRESS}, S.AWAITING_REQUESTER, A.STAFF, A.API),
    "resume": _rule({S.AWAITING_REQUESTER}, S.IN_PROGRESS, A.REQUESTER, A.STAFF, A.API),
    "extend": _rule({S.OPEN, S.IN_PROGRESS, S.AWAITING_REQUESTER}, None, A.STAFF, A.API),
    "answer": _rule({S.OPEN, S.IN_PROGRESS}, S.ANSWERED, A.STAFF, A.API, A.PROFESSIONAL),
    "refuse": _rule(NON_FINAL - {S.ANSWERED, S.UNCONFIRMED}, S.REFUSED, A.STAFF, A.API),
    "close": _rule({S.ANSWERED}, S.CLOSED, A.STAFF, A.API, A.SYSTEM),
    "reopen": _rule({S.ANSWERED, S.CLOSED, S.REFUSED}, S.IN_PROGRESS, A.STAFF, roles=SENIOR_STAFF),
    "withdraw": _rule(NON_FINAL - {S.ANSWERED}, S.WITHDRAWN, A.REQUESTER, A.STAFF, A.API),
    "note": _rule(frozenset(Status), None, A.STAFF, A.API, A.PROFESSIONAL, A.SYSTEM),
}


@dataclass(frozen=True)
class Change:
    """What a transition did: the caller may turn it into emails or webhooks."""

    action: str
    from_status: Status
    to_status: Status
    event_id: int | None

    @property
    def status_changed(self) -> bool:
        return self.from_status != self.to_status


def allowed_actions(req: DataRequest, actor: Actor) -> list[str]:
    """The actions this actor may attempt on the request now (the back-office shows these as forms)."""
    return [name for name in RULES if _permitted(name, req, actor)[0]]


def _permitted(action: str, req: DataRequest, actor: Actor) -> tuple[bool, str | None]:
    rule = RULES[action]
    if actor.type not in rule.actors:
        return False, "actor"
    if actor.type == ActorType.STAFF and StaffRole(actor.role) not in rule.staff_roles:
        return False, "actor"
    if actor.type == ActorType.API and "staff" not in actor.scopes:
        return False, "actor"
    if Status(req.status) not in rule.sources:
        return False, "state"
    return True, None


def check_version(req: DataRequest, expected_version: int | None) -> None:
    """A form carries the version it was rendered from; a different one means someone acted meanwhile."""
    if expected_version is not None and int(expected_version) != req.version:
        raise Conflict(
            N_("This request was changed by someone else while you were looking at it. Reload the page to see the change."),
            code="stale",
        )


def transition(
    req: DataRequest,
    action: str,
    actor: Actor,
    *,
    details: dict | None = None,
    expected_version: int | None = None,
) -> Change:
    """Check and apply one action, and append its audit event. Does not commit."""
    if action not in RULES:
        raise InvalidInput(N_("Unknown action %(action)s."), code="unknown_action", action=action)
    check_version(req, expected_version)
    ok, why = _permitted(action, req, actor)
    if not ok and why == "actor":
        raise PermissionDenied(N_("You are not allowed to do this."), code="forbidden")
    if not ok:
        raise IllegalTransition(
            N_("This action (%(action)s) is not possible while the request is %(status)s."),
            action=action,
            status=req.status,
        )
    rule = RULES[action]
    before = Status(req.status)
    after = rule.moves.get(before, rule.target or before)
    req.status = after
    if after.is_final and not req.closed_at:
        req.closed_at = utcnow()
    ev = audit.record(actor, action, request=req, from_status=before, to_status=after, details=details)
    change = Change(action, before, after, ev.id if ev is not None else None)  # None: inside audit.batch
    request_changed.send(req, change=change, actor=actor)
    return change


# --- deadlines -------------------------------------------------------------------------------------------


def calendar_for(policy) -> deadlines.HolidayCalendar:
    cal = policy.deadlines.calendar
    return deadlines.HolidayCalendar(country=cal.country, subdivision=cal.subdivision)


def pauses_of(req: DataRequest, policy) -> list[deadlines.Pause]:
    """Closed pauses only: while a pause is open the stored due date is the one before it (the queue shows it paused).

    Whether each stops the clock is the policy's rule for its kind of clarification (DESIGN.md rule 4:
    identity suspends under décret n° 2019-536 art. 77; scope does not, GDPR art. 12(3)).
    """
    rules = policy.deadlines
    return [deadlines.Pause(p.started_on, p.ended_on, rules.clarification_suspends(p.kind or "scope"))
            for p in req.pauses if p.ended_on is not None]


def medical_record_ages(req: DataRequest) -> tuple[bool, bool]:
    """(some items recent or not yet established, some items over five years old), from the holder's items.

    CSP R.1111-1: until the holder has said how old the items are, the 8 days apply.
    """
    items = list(req.medical_record_items)
    old = any(i.older_than_5_years for i in items)
    recent = not items or any(not i.older_than_5_years for i in items)
    return recent, old


def recompute_deadline(req: DataRequest, policy, *, today: date | None = None) -> deadlines.Deadline | None:
    """Store the request's due dates from its clock start, pauses, extension and the medical-record rule."""
    if req.clock_started_on is None:
        req.due_date = req.one_month_due_date = req.extended_due_date = None
        return None
    rules = policy.deadlines
    recent, old = medical_record_ages(req) if req.medical_record else (True, False)
    dl = deadlines.compute_deadline(
        req.clock_started_on,
        calendar=calendar_for(policy),
        months=rules.months,
        pauses=pauses_of(req, policy),
        extended=req.extended_at is not None,
        extension_months=rules.extension_months,
        medical_record=bool(req.medical_record),
        medical_recent_items=recent,
        medical_old_items=old,
        received_at=req.received_at,
        today=today,
    )
    req.medical_info_older_than_5_years = old
    req.medical_record_old_due_date = dl.medical_record_old_due
    req.one_month_due_date = dl.due_date
    req.extended_due_date = dl.extended_due_date
    req.due_date = dl.effective_due_date
    req.earliest_release_at = dl.earliest_release_at
    req.paused_days = dl.paused_days
    return dl


def start_clock(req: DataRequest, policy, on: date) -> None:
    """Deadline rule 1: the period starts on the day the complete request was received."""
    req.clock_started_on = on
    recompute_deadline(req, policy)


# --- the verbs -------------------------------------------------------------------------------------------


def confirm_email(req: DataRequest, actor: Actor, policy, *, identity_required: bool = True) -> Change:
    req.email_confirmed_at = utcnow()
    change = transition(req, "confirm_email", actor)
    return change


def submit_identity(req: DataRequest, actor: Actor, document_id: int) -> Change:
    return transition(req, "submit_identity", actor, details={"document_id": document_id})


def accept_identity(
    req: DataRequest, actor: Actor, policy, *, method: str, received_on: date, document_id: int | None = None,
    expected_version: int | None = None,
) -> Change:
    """Identity verified: the clock starts on the day the complete request was received (rule 1)."""
    change = transition(
        req, "accept_identity", actor, expected_version=expected_version,
        details={"method": method, "document_id": document_id, "clock_started_on": received_on.isoformat()},
    )
    req.identity_method = method
    req.identity_verified_at = utcnow()
    req.identity_verified_by = actor.label
    start_clock(req, policy, received_on)
    return change


def refuse_identity(req: DataRequest, actor: Actor, reason: str, *, document_id: int | None = None,
                    expected_version: int | None = None) -> Change:
    reason = _required(reason, "reason")
    return transition(req, "refuse_identity", actor, expected_version=expected_version,
                      details={"reason": reason, "document_id": document_id})


def assign(req: DataRequest, actor: Actor, staff, *, expected_version: int | None = None) -> Change:
    if staff is not None and (not staff.active or staff.role == StaffRole.AUDITOR):
        raise InvalidInput(N_("This person cannot be assigned requests."), code="bad_assignee", field="assignee")
    change = transition(
        req, "assign", actor, expected_version=expected_version,
        details={"assignee_id": staff.id if staff else None, "assignee": staff.name if staff else None},
    )
    req.assignee_id = staff.id if staff else None
    req.handler = "staff"
    return change


def clarification_effect(req: DataRequest, policy, kind: str, asked_on: date) -> str:
    """What a clarification of ``kind`` asked on ``asked_on`` does to the request's period (rule 4).

    Judged against the date that binds now (the extended one once extended): see
    ``deadlines.clarification_effect``.
    """
    suspends = policy.deadlines.clarification_suspends(kind) if policy is not None else DEFAULT_CLARIFICATION_SUSPENDS[kind]
    return deadlines.clarification_effect(asked_on, suspends=suspends, due_date=req.due_date)


def ask_clarification(req: DataRequest, actor: Actor, question: str, *, today: date, policy=None, kind: str = "scope",
                      expected_version: int | None = None) -> Change:
    """Rule 4: ask the requester a question of ``kind`` (identity or scope).

    Whether the clock stops until the answer is the policy's rule for the kind (décret n° 2019-536 art. 77:
    identity information awaited; GDPR art. 12(3): no other suspension), and a date already passed never
    moves. The effect is recorded with the question and said in the letter and the email.
    """
    question = _required(question, "question")
    if kind not in CLARIFICATION_KINDS:
        raise InvalidInput(N_("Choose what the question is about: identity or the scope of the request."),
                           code="bad_clarification_kind", field="kind")
    effect = clarification_effect(req, policy, kind, today)
    change = transition(req, "ask_clarification", actor, expected_version=expected_version,
                        details={"paused_on": today.isoformat(), "kind": kind, "effect": effect,
                                 "due_date": req.due_date.isoformat() if req.due_date else None})
    req.pauses.append(RequestPause(started_on=today, question=question, kind=kind))
    return change


def resume(req: DataRequest, actor: Actor, policy, *, today: date, answer: str | None = None,
           expected_version: int | None = None) -> Change:
    """The requester answered (or staff resume): close the pause and move the deadline by its length."""
    open_pause = next((p for p in req.pauses if p.ended_on is None), None)
    if open_pause is not None:
        open_pause.ended_on = max(today, open_pause.started_on)
        open_pause.answer = answer
    waited = (open_pause.ended_on - open_pause.started_on).days if open_pause else 0
    before_due, before_paused = req.due_date, req.paused_days or 0
    recompute_deadline(req, policy)
    return transition(req, "resume", actor, expected_version=expected_version, details={
        "kind": open_pause.kind if open_pause else None,
        "days_waited": waited,
        # Rule 4: the days that moved the one-month date (0 for a scope question or a date already passed).
        "paused_days": (req.paused_days or 0) - before_paused,
        "due_date_before": before_due.isoformat() if before_due else None,
        "due_date": req.due_date.isoformat() if req.due_date else None,
    })


def extend(req: DataRequest, actor: Actor, policy, reason: str, *, today: date,
           expected_version: int | None = None) -> Change:
    """Rule 5 (GDPR art. 12(3)): two more months, with a reason, told before the one-month deadline."""
    reason = _required(reason, "reason")
    if req.extended_at is not None:
        raise IllegalTransition(N_("This request has already been extended."), code="already_extended")
    if req.one_month_due_date is None or not deadlines.can_extend(today, req.one_month_due_date):
        raise IllegalTransition(
            N_("The one-month deadline has passed: the extension can no longer be told to the requester in time."),
            code="extension_too_late",
        )
    change = transition(req, "extend", actor, expected_version=expected_version, details={"reason": reason})
    req.extended_at = utcnow()
    req.extension_reason = reason
    recompute_deadline(req, policy)
    return change


def validate_answer(req: DataRequest, outcome: str, message: str, reasons: str | None,
                    now: datetime) -> tuple[Outcome, str, str | None]:
    """What an answer must hold, whoever gives it: an outcome, a message, the reasons of a whole or partial
    refusal (rule 7, GDPR art. 12(4)); a medical record not before the reflection period (CSP L.1111-7).
    Returns the outcome, message and reasons as recorded."""
    try:
        outcome = Outcome(outcome)
    except ValueError:
        raise InvalidInput(N_("Choose an outcome."), code="bad_outcome", field="outcome") from None
    message = _required(message, "message")
    if outcome in (Outcome.REFUSED, Outcome.PARTLY_GRANTED):
        reasons = (reasons or "").strip()
        if not reasons:
            raise InvalidInput(N_("Give the reasons for refusing all or part of the request (GDPR art. 12(4))."),
                               code="required", field="reasons")
    if req.earliest_release_at is not None and now < req.earliest_release_at:
        raise IllegalTransition(
            N_("A medical record cannot be sent before the 48-hour reflection period has passed (CSP L.1111-7)."),
            code="reflection_period",
        )
    return outcome, message, reasons


def answer(req: DataRequest, actor: Actor, outcome: str, message: str, *, reasons: str | None = None,
           now: datetime | None = None, expected_version: int | None = None) -> Change:
    """Record the answer. A whole or partial refusal states its reasons (rule 7)."""
    now = now or utcnow()
    outcome, message, reasons = validate_answer(req, outcome, message, reasons, now)
    late = refusal_is_late(req, now) if outcome in (Outcome.REFUSED, Outcome.PARTLY_GRANTED) else False
    change = transition(req, "answer", actor, expected_version=expected_version,
                        details={"outcome": str(outcome), "reasons": reasons, "refusal_late": late})
    req.outcome = outcome
    req.answer_message = message
    req.refusal_reasons = reasons
    req.answered_at = now
    if outcome in (Outcome.REFUSED, Outcome.PARTLY_GRANTED):
        req.refused_at, req.refusal_late = now, late
    return change


#: GDPR art. 12(5): the two grounds on which a controller may refuse to act (or charge a reasonable fee).
UNFOUNDED_OR_EXCESSIVE = ("manifestly_unfounded", "excessive")


def refusal_is_late(req: DataRequest, when: datetime) -> bool:
    """GDPR art. 12(4): the reasons for not acting are due "at the latest within one month of receipt".

    Late when given after the one-month date (the pauses that count included: ``one_month_due_date``), even
    when the request was extended: the extension of art. 12(3) never gives a refusal more time. A request
    whose clock has not started (identity unverified) has no date yet.
    """
    return req.one_month_due_date is not None and deadlines.legal_day(when) > req.one_month_due_date


def refuse(req: DataRequest, actor: Actor, reasons: str, *, unfounded_or_excessive: str | None = None,
           grounds: str | None = None, expected_version: int | None = None) -> Change:
    """Refuse the whole request (rule 7: reasons, CNIL complaint and judicial remedy go in the letter).

    GDPR art. 12(4): the refusal date is kept and a refusal after the one-month date is flagged.
    GDPR art. 12(5): a refusal because the request is manifestly unfounded or excessive records which, with
    the grounds that demonstrate it (the controller bears the burden of proof).
    """
    reasons = _required(reasons, "reasons")
    if unfounded_or_excessive is not None and unfounded_or_excessive not in UNFOUNDED_OR_EXCESSIVE:
        raise InvalidInput(N_("Choose manifestly unfounded or excessive."), code="bad_art_12_5",
                           field="unfounded_or_excessive")
    if unfounded_or_excessive is not None:
        grounds = _required(grounds, "unfounded_or_excessive_grounds")
    now = utcnow()
    late = refusal_is_late(req, now)
    change = transition(req, "refuse", actor, expected_version=expected_version, details={
        "reasons": reasons, "refusal_late": late, "unfounded_or_excessive": unfounded_or_excessive,
        "grounds": grounds if unfounded_or_excessive else None,
    })
    req.outcome = Outcome.REFUSED
    req.refusal_reasons = reasons
    req.answered_at = req.refused_at = now
    req.refusal_late = late
    if unfounded_or_excessive is not None:
        req.unfounded_or_excessive = unfounded_or_excessive
        req.unfounded_or_excessive_grounds = grounds
        req.unfounded_or_excessive_by = actor.label
    return change


def close(req: DataRequest, actor: Actor, *, expected_version: int | None = None) -> Change:
    return transition(req, "close", actor, expected_version=expected_version)


def reopen(req: DataRequest, actor: Actor, reason: str, *, expected_version: int | None = None) -> Change:
    reason = _required(reason, "reason")
    change = transition(req, "reopen", actor, expected_version=expected_version, details={"reason": reason})
    req.closed_at = None
    return change


def withdraw(req: DataRequest, actor: Actor, *, expected_version: int | None = None) -> Change:
    return transition(req, "withdraw", actor, expected_version=expected_version)


def add_note(req: DataRequest, actor: Actor, text: str, *, expected_version: int | None = None) -> Change:
    text = _required(text, "note")
    return transition(req, "note", actor, expected_version=expected_version, details={"note": text})


def _required(value: str | None, field_name: str) -> str:
    value = (value or "").strip()
    if not value:
        raise InvalidInput(N_("This field is required."), code="required", field=field_name)
    return value


def next_reference(req: DataRequest) -> str:
    """Give a new request its human reference, DSAR-<year>-<number>, once it has an id."""
    if req.id is None:
        db.session.flush()
    year = (req.received_at or utcnow()).astimezone(deadlines.PARIS).year
    req.reference = f"DSAR-{year}-{req.id:06d}"
    return req.reference


def lock_request(reference: str) -> DataRequest | None:
    """Load a request for update (PostgreSQL row lock; SQLite serialises writers anyway)."""
    return db.session.execute(
        sa.select(DataRequest).where(DataRequest.reference == reference).with_for_update()
    ).scalar_one_or_none()
