"""What the professional does with a task: acknowledge, answer, ask for more time or for help, decline.

Each action first checks that the task is still theirs and the request still
waiting for them (``ProfessionalTask.actionable_request``: a clear 409
otherwise). The answer itself is the one "record an answer" use case
(services/fulfilment/recording.py) that staff and the API go through too. Nothing here commits.
"""
from __future__ import annotations

from datetime import datetime
from typing import Sequence

from ... import audit, deadlines, lifecycle
from ...actors import Actor
from ...deadlines import legal_day
from ...errors import Conflict, IllegalTransition, InvalidInput, N_
from ...models import ProfessionalTask, utcnow
from ...models.enums import Status, TaskStatus
from ..fulfilment.recording import MAX_ANSWER_FILES, AnswerFile, record_answer  # noqa: F401 - MAX_ANSWER_FILES: the task page shows it
from .routes import close_task, route_to_staff
from .task_emails import email_dpo


def professional_actor(task: ProfessionalTask, *, ip: str | None = None, user_agent: str | None = None) -> Actor:
    return Actor.for_professional(task.professional, ip=ip, user_agent=user_agent)


def acknowledge_task(task: ProfessionalTask, actor: Actor, *, now: datetime | None = None) -> bool:
    """The professional says they have the request in hand. False when already acknowledged."""
    req = task.actionable_request()
    if task.acknowledged_at is not None:
        return False
    now = now or utcnow()
    lifecycle.transition(req, "acknowledge", actor, details={"task_id": task.id})
    task.acknowledged_at = now
    task.status = TaskStatus.ACKNOWLEDGED
    return True


def answer_task(task: ProfessionalTask, actor: Actor, *, outcome: str, message: str, reasons: str | None,
                files: Sequence[AnswerFile] = (), now: datetime | None = None):
    """The professional's answer, with its files: services/fulfilment/recording.record_answer, as staff's; then the task is done.

    Everything is checked before anything is written; a file refused half-way
    rolls the whole answer back (and its stored files with it).
    """
    req = task.actionable_request()
    now = now or utcnow()
    if Status(req.status) not in (Status.OPEN, Status.IN_PROGRESS):
        raise Conflict(N_("IDOMED is waiting for the requester's clarification: the answer can be given once they reply."),
                       code="awaiting_requester")
    recorded = record_answer(req, actor, outcome=outcome, message=message, reasons=reasons, files=files, now=now)
    task.status = TaskStatus.ANSWERED
    task.answered_at = now
    task.acknowledged_at = task.acknowledged_at or now
    task.message = message.strip()
    audit.record(actor, "task_answered", request=req, details={"task_id": task.id, "document_ids": recorded.document_ids})
    return recorded.change


def request_extension(task: ProfessionalTask, actor: Actor, *, reason: str, now: datetime | None = None) -> None:
    """The professional asks for the two-month extension (GDPR art. 12(3)); staff decide."""
    req = task.actionable_request()
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
    email_dpo(task, "task_extension_requested", now=now)


def decline_task(task: ProfessionalTask, actor: Actor, *, comment: str | None = None,
                 now: datetime | None = None):
    """"Not my patient": the link is revoked, the request goes back to staff, the DPO is alerted."""
    req = task.actionable_request()
    now = now or utcnow()
    comment = (comment or "").strip() or None
    close_task(task, actor, TaskStatus.DECLINED, now, reason="not_my_patient")
    audit.record(actor, "task_declined", request=req, details={"task_id": task.id, "comment": comment})
    change = route_to_staff(req, actor, reason="not_my_patient", now=now)
    email_dpo(task, "task_declined", reason="not_my_patient", now=now)
    return change


def ask_for_help(task: ProfessionalTask, actor: Actor, *, question: str, now: datetime | None = None) -> None:
    """The professional asks the DPO for help; the question stays in the audit trail, the email only points to it."""
    req = task.actionable_request()
    now = now or utcnow()
    question = (question or "").strip()
    if not question:
        raise InvalidInput(N_("Write your question."), code="required", field="question")
    task.help_requested_at = now
    audit.record(actor, "help_requested", request=req, details={"task_id": task.id, "question": question})
    email_dpo(task, "task_help_requested", now=now)
