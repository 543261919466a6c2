"""The request's checklist: what the policy (and the law) says must be done before an answer or a closure.

The policy's per-request-type steps (``request_types.*.steps``) become ``RequestStep`` rows when the
request opens: the third-party data check (GDPR art. 15(4)), the accuracy check (art. 16), marking the
data restricted (art. 18), stopping the processing (art. 21), the direct transmission (art. 20(2)), the
suppression list (art. 21(3)), the minor's objection (CSP L.1111-5), the deceased's objection (CSP
L.1110-4 V) … Staff or the professional tick them (or, later, the component that does the work: the
keys are the policy's and stay stable). A required step still open blocks a giving answer (granted,
partly granted) or the closure, with an error naming the step and the article it comes from.

Steps the service performs itself are not put on the checklist: a step that produces a letter (the
answer writes it), the per-recipient art. 19 notifications (their own tasks, services/fulfilment/recipients.py),
and the keys in ``DONE_BY_THE_SERVICE``.

Services take plain values and an Actor; nothing here commits.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from flask import current_app
from flask_babel import force_locale, gettext

from .. import audit, lifecycle
from ..actors import Actor
from ..deadlines import legal_day
from ..errors import IllegalTransition, InvalidInput, N_, NotFound
from ..extensions import db
from ..models import DataRequest, RequestStep, utcnow
from ..models.enums import ActingFor, Outcome, Status
from ..policy.text import localized

#: Steps the service does itself when the answer is recorded or the request closed.
DONE_BY_THE_SERVICE = frozenset({
    "deliver_copy",                 # GDPR art. 15(3): the download link the answer issues
    "plan_erasure",                 # art. 17(3): fulfilment.fix_erasure_plan, at the answer
    "deactivate_patient_account",   # policy art. 8.2: fulfilment.request_account_deactivation (blocks the closure)
    "add_to_suppression_list",      # GDPR art. 21(3): fulfilment.after_answer lists the subject (services/suppression.py)
})
#: Outcomes that give what was asked: only they need the steps done (a refusal gives nothing).
GIVING = frozenset({Outcome.GRANTED, Outcome.PARTLY_GRANTED})
#: Which steps must be done before which status.
BLOCKS = {Status.ANSWERED: ("answered",), Status.CLOSED: ("answered", "closed")}
ADULT_AGE = 18  # parental authority ends at majority (Code civil art. 371-1, 414)
MAX_NOTE = 2000


def _policy():
    return current_app.extensions["dsar_policy"]


def _language() -> str:
    """The reader's language for the step names (the page's locale), else the policy's default."""
    try:
        from flask_babel import get_locale

        locale = get_locale()
        if locale is not None:
            return locale.language
    except (ImportError, RuntimeError):
        pass
    return _policy().default_language


def subject_states(req: DataRequest, *, on: date | None = None) -> tuple[str, ...]:
    """Facts about the subject the steps depend on: "minor" (under 18 on ``on``), "deceased"."""
    subject = req.subject
    states = []
    if subject is not None and subject.birth_date is not None:
        day = on or (legal_day(req.received_at) if req.received_at else legal_day(utcnow()))
        born = subject.birth_date
        age = day.year - born.year - ((day.month, day.day) < (born.month, born.day))
        if age < ADULT_AGE:
            states.append("minor")
    if subject is not None and subject.deceased:
        states.append("deceased")
    return tuple(states)


def _relationship(req: DataRequest) -> str | None:
    requester = req.requester
    if requester is None or requester.acting_for != ActingFor.OTHER:
        return None
    return requester.relationship_to_subject


def _activity_keys(req: DataRequest) -> list[str]:
    policy = _policy()
    keys = req.activities or [a.key for a in policy.activities_for_subject(req.subject_kind)]
    return [k for k in keys if k in policy.activities and req.subject_kind in policy.activities[k].data_subjects]


def policy_steps(req: DataRequest):
    """The policy steps that apply to this request and that a person ticks (see the module docstring)."""
    policy = _policy()
    steps = policy.steps_for(req.type, _activity_keys(req), req.subject_kind,
                             relationship=_relationship(req), subject_states=subject_states(req))
    return [s for s in steps if s.letter is None and s.per != "recipient" and s.key not in DONE_BY_THE_SERVICE]


def open_checklist(req: DataRequest, actor: Actor) -> list[RequestStep]:
    """Put the request's steps on it, once (idempotent): when the request opens (identity verified, see
    ``_on_request_changed`` below; intake calls it for a request verified at receipt, which opens without a
    transition). A second call adds nothing and records nothing."""
    existing = {(s.step_key, s.scope) for s in req.steps}
    created = []
    for step in policy_steps(req):
        scopes = _activity_keys(req) if step.per == "activity" else [""]
        if step.per == "activity" and step.when is not None and step.when.activities:
            scopes = [k for k in scopes if k in step.when.activities]
        for scope in scopes:
            if (step.key, scope) in existing:
                continue
            row = RequestStep(request=req, step_key=step.key, scope=scope, required=step.required,
                              required_before=step.required_before,
                              source="law" if step.legal_reference and not step.gdpr else "policy")
            db.session.add(row)
            created.append(row)
    if created:
        # No flush of its own: the rows and their event go with the transaction's next flush (issue 19: a
        # submission's checklist cost a whole unit of work and one more events INSERT).
        audit.record(actor, "checklist_opened", request=req, details={
            "steps": [f"{r.step_key}@{r.scope}" if r.scope else r.step_key for r in created],
        })
    return created


@dataclass(frozen=True)
class ChecklistItem:
    """A step as a page shows it: its name and where the duty comes from, in the reader's language."""

    id: int
    key: str
    scope: str
    scope_name: str
    name: str
    why: str
    required: bool
    required_before: str
    done_at: object
    done_by: str | None
    note: str | None

    @property
    def done(self) -> bool:
        return self.done_at is not None


def _step_definition(req: DataRequest, key: str):
    try:
        rt = _policy().request_type(req.type)
    except KeyError:
        return None
    return next((s for s in rt.steps if s.key == key), None)


def _why(step, lang: str, request_type=None) -> str:
    """The article the duty comes from: the step's own, else the right's (e.g. GDPR art. 15 for an access)."""
    def gdpr(article: str) -> str:
        with force_locale(lang):
            return gettext("GDPR %(article)s", article=article)

    if step is not None and step.gdpr:
        return gdpr(step.gdpr)
    if step is not None and step.legal_reference:
        return localized(step.legal_reference, lang)
    if request_type is not None and request_type.gdpr:
        return gdpr(request_type.gdpr)
    if request_type is not None and request_type.legal_reference:
        return localized(request_type.legal_reference, lang)
    return ""


def _request_type(req: DataRequest):
    try:
        return _policy().request_type(req.type)
    except KeyError:
        return None


def items(req: DataRequest, lang: str | None = None) -> list[ChecklistItem]:
    """The request's checklist, in order, named in ``lang`` (default: the reader's)."""
    lang = lang or _language()
    policy = _policy()
    out = []
    for row in req.steps:
        step = _step_definition(req, row.step_key)
        scope_name = localized(policy.activities[row.scope].name, lang) if row.scope in policy.activities else ""
        out.append(ChecklistItem(
            id=row.id, key=row.step_key, scope=row.scope, scope_name=scope_name,
            name=localized(step.name, lang) if step else row.step_key, why=_why(step, lang, _request_type(req)),
            required=row.required, required_before=row.required_before, done_at=row.done_at,
            done_by=row.done_by, note=row.note,
        ))
    return out


def open_required(req: DataRequest, before: Status) -> list[RequestStep]:
    """The required steps still open that must be done before ``before`` (answered or closed)."""
    wanted = BLOCKS[before]
    return [s for s in req.steps if s.required and s.done_at is None and s.required_before in wanted]


def require_done(req: DataRequest, before: Status, outcome: str | None) -> None:
    """409 naming the first open required step and its article, when an answer that gives (or a closure of
    one) would skip it. A refusal or "no data" gives nothing, so nothing needs doing first."""
    try:
        if outcome is None or Outcome(outcome) not in GIVING:
            return
    except ValueError:
        return  # the lifecycle says "choose an outcome"
    pending = open_required(req, before)
    if not pending:
        return
    first = pending[0]
    lang = _language()
    step = _step_definition(req, first.step_key)
    name = localized(step.name, lang) if step else first.step_key
    if first.scope and first.scope in _policy().activities:
        name = f"{name} — {localized(_policy().activities[first.scope].name, lang)}"
    why = _why(step, lang, _request_type(req)) or "—"
    if before == Status.ANSWERED:
        message = N_("This request cannot be answered yet: the step \u201c%(step)s\u201d is still open (%(why)s). "
                     "Tick it on the checklist once it is done. Open required steps: %(count)s.")
    else:
        message = N_("This request cannot be closed yet: the step \u201c%(step)s\u201d is still open (%(why)s). "
                     "Tick it on the checklist once it is done. Open required steps: %(count)s.")
    raise IllegalTransition(message, code="step_open", step=name, why=why, count=len(pending))


def _step(req: DataRequest, step_id: int) -> RequestStep:
    row = next((s for s in req.steps if s.id == step_id), None)
    if row is None:
        raise NotFound(N_("No such step on this request."))
    return row


def complete_step(req: DataRequest, actor: Actor, step_id: int, *, note: str | None = None) -> RequestStep:
    """Tick a step (staff, the professional in charge, or the component that did the work)."""
    row = _step(req, step_id)
    if req.is_final:
        raise IllegalTransition(N_("This request is closed: its checklist can no longer change."), code="wrong_state")
    if row.done_at is not None:
        raise IllegalTransition(N_("This step is already ticked."), code="step_done")
    note = (note or "").strip() or None
    if note is not None and len(note) > MAX_NOTE:
        raise InvalidInput(N_("At most %(max)s characters."), code="too_long", field="note", max=MAX_NOTE)
    row.done_at, row.done_by, row.note = utcnow(), actor.label, note
    audit.record(actor, "step_done", request=req, details={"step": row.step_key, "scope": row.scope or None,
                                                           "step_id": row.id})
    return row


def complete_step_by_key(req: DataRequest, actor: Actor, step_key: str, *, scope: str = "",
                         note: str | None = None) -> RequestStep:
    """Tick a step by its stable key (for a component that does the work itself)."""
    row = next((s for s in req.steps if s.step_key == step_key and s.scope == scope), None)
    if row is None:
        raise NotFound(N_("No such step on this request."))
    return complete_step(req, actor, row.id, note=note)


def tick_by_the_service(req: DataRequest, actor: Actor, step_key: str, *, note: str | None = None) -> list[RequestStep]:
    """Tick every open step ``step_key`` of the request (all scopes) because a component did the work (the
    collection gathered the data, an execution erased them); nothing when the step is not on the checklist."""
    if req.is_final:
        return []
    return [complete_step(req, actor, row.id, note=note)
            for row in list(req.steps) if row.step_key == step_key and row.done_at is None]


def complete_step_for_task(task, actor: Actor, *, step_id, note: str | None = None) -> RequestStep:
    """The professional in charge ticks a step from the task page, while the task is theirs (policy art. 8.2)."""
    req = task.actionable_request()  # 409 once the request moved on or the task was taken back
    try:
        step_id = int(step_id)
    except (TypeError, ValueError):
        raise InvalidInput(N_("Choose a step."), code="bad_step", field="step_id") from None
    return complete_step(req, actor, step_id, note=note)


# --- the checklist opens with the request ------------------------------------------------------------------


def _on_request_changed(req: DataRequest, change, actor: Actor, **_):
    """lifecycle.request_changed: a request whose identity is accepted opens, and its checklist with it."""
    if change.action == "accept_identity":
        open_checklist(req, actor)


lifecycle.request_changed.connect(_on_request_changed, weak=False)
