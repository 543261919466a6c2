"""The periodic sweep of professionals' tasks: reminders, escalations to the DPO, tasks of professionals who left.

The schedule is the policy's (``routing`` in workflows/idomed.yaml, policy art. 8.2):
reminders every ``reminder_every_days`` until the task is answered; the DPO is
alerted once when a task is ``escalate_without_ack_days`` old and still not
acknowledged, and once when the deadline is ``escalate_days_before_due`` days away
and the task is still not answered.

Each rule marks the rows it fires for with ``UPDATE … WHERE <rule> RETURNING id``. Running the
sweep twice (or two workers at once: the second UPDATE waits for the first's row locks and
then finds its condition false) sends nothing twice. Rules 2 and 3 (on the task's own columns)
first read their candidates from the tasks alone, both in one read, then each UPDATE names its
candidates by id and checks the rule again with their requests' status: one statement joining
the million requests made PostgreSQL hash all of them whenever anything was due (issue 19:
200-300 ms per rule, measured over 1,000,000 requests). Each of these rules compares one
expression (``models.people.task_reminder_counted_from``, ``task_unacknowledged_since``), so that its index can
answer the rule without reading the table. Only the rows a rule fired for are then loaded, to write their
emails and audit events, all in one transaction: the marks, the events and the emails land
together or not at all. The audit chain heads of the requests concerned are read in one query
and the events of rules 2-4 are inserted together, in one statement (issue 19: 2,400 tasks
firing over a million requests).

The clock is injectable (``now``) so that tests can play weeks in seconds.
"""
from __future__ import annotations

import gc
import logging
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app

from .. import audit
from ..actors import Actor
from ..deadlines import legal_day
from ..extensions import db
from ..models import DataRequest, Professional, ProfessionalTask, utcnow
from ..models.base import among
from ..models.people import task_reminder_counted_from, task_unacknowledged_since
from ..models.enums import Status
from ..services import routing
from . import _app

log = logging.getLogger(__name__)

def sweep_tasks(now: datetime | None = None) -> dict[str, int]:
    """Run every rule once at ``now`` (default: the current instant) and commit. Returns counts per rule."""
    app = _app()
    # The objects alive before the sweep are left out of the collector's full passes while it runs (and put back
    # after): a day's work allocates enough to trigger them, and each went over the whole process (0.8-1.1 s in
    # the 1,000,000-request bench under load, issue 19).
    gc.freeze()
    with app.app_context():
        try:
            counts = _sweep(now or utcnow())
            db.session.commit()
        except Exception:
            db.session.rollback()
            raise
        finally:
            db.session.remove()
            gc.unfreeze()
    if any(counts.values()):
        log.info("task sweep: %s", ", ".join(f"{k}={v}" for k, v in counts.items()))
    return counts


sweep_tasks.job_path = f"{__name__}.sweep_tasks"


def _live():
    return ProfessionalTask.is_live


def _requests_in(*statuses: Status, due_by=None):
    query = sa.select(DataRequest.id).where(DataRequest.status.in_(statuses))
    if due_by is not None:
        query = query.where(DataRequest.due_date <= due_by)
    return query


def _mark(where, values: dict) -> list[int]:
    """UPDATE the live tasks matching ``where`` with ``values``; the ids it changed."""
    stmt = (
        sa.update(ProfessionalTask)
        .where(_live(), *where)
        .values(**values)
        .returning(ProfessionalTask.id)
        .execution_options(synchronize_session=False)
    )
    return sorted(db.session.execute(stmt).scalars().all())


def _candidates(rules: dict) -> dict[str, list]:
    """The live tasks each rule (a condition on the task's own columns) may fire for, read from the tasks alone.

    One read for all the rules: without an index for them it is a scan of the whole table, done once rather than
    once per rule.
    """
    flags = [sa.case((where, True), else_=False).label(name) for name, where in rules.items()]
    rows = db.session.execute(
        sa.select(ProfessionalTask.id, ProfessionalTask.request_id, *flags).where(_live(), sa.or_(*rules.values()))
    ).all()
    return {name: [row for row in rows if row._mapping[name]] for name in rules}


def _mark_in_progress(candidates: list, where, values: dict) -> list[int]:
    """Of the ``candidates`` (rows of ``_candidates``), the live tasks of requests in progress still matching
    ``where``, marked with ``values``.

    The UPDATE names the candidates by id and checks ``where`` again: a task that another sweep marked since they
    were read is not marked (nor sent) twice.
    """
    if not candidates:
        return []
    in_progress = sa.select(DataRequest.id).where(
        among(db.session, DataRequest.id, sorted({row.request_id for row in candidates})),
        DataRequest.status == Status.IN_PROGRESS)
    return _mark([among(db.session, ProfessionalTask.id, sorted(row.id for row in candidates)),
                  ProfessionalTask.request_id.in_(in_progress), where], values)


def _load(ids: list[int]) -> list[ProfessionalTask]:
    """The tasks, their professional and request loaded, and the audit heads of those requests (one query each)."""
    if not ids:
        return []
    tasks = list(db.session.scalars(
        sa.select(ProfessionalTask).where(among(db.session, ProfessionalTask.id, ids))
        .options(sa.orm.joinedload(ProfessionalTask.professional), sa.orm.joinedload(ProfessionalTask.request))
        .order_by(ProfessionalTask.id)
        # The UPDATE above bypassed the session: rows already in it must be read again.
        .execution_options(populate_existing=True)
    ).unique())
    audit.load_heads(audit.stream_for(t.request) for t in tasks)
    return tasks


def _sweep(now: datetime) -> dict[str, int]:
    rules = current_app.extensions["dsar_policy"].routing
    today = legal_day(now)
    system = Actor.system("reminders")
    if db.session.get_bind().dialect.name == "postgresql":
        # Each statement of the sweep runs once a day and is done in milliseconds to a few hundred; compiling it
        # (JIT, once a plan's estimated cost passes jit_above_cost, i.e. a scan of some 2,000,000 tasks) cost
        # 150-170 ms per statement when measured over 1,000,000 requests (issue 19).
        db.session.execute(sa.text("SET LOCAL jit = off"))
    counts = {"withdrawn": 0, "reminders": 0, "links_renewed": 0, "escalated_unacknowledged": 0,
              "escalated_near_deadline": 0}

    # 1. A professional who left (made inactive, or contract end reached) keeps no task: back to staff.
    #    This one moves requests through the state machine, so it goes row by row over what it selected.
    gone = db.session.scalars(
        sa.select(ProfessionalTask.id).join(Professional, ProfessionalTask.professional_id == Professional.id)
        .where(_live(), ~Professional.is_live(today))
        .order_by(ProfessionalTask.id)
    ).all()
    for task in _load(list(gone)):
        routing.withdraw_task(task, reason="professional_inactive", now=now)
        counts["withdrawn"] += 1
    if gone:
        db.session.flush()

    # Rules 2-4 write an event per task fired: chained from the heads read with the tasks, inserted together.
    with audit.batch():
        _remind_and_escalate(now, today, rules, system, counts)
    return counts


def _remind_and_escalate(now: datetime, today, rules, system: Actor, counts: dict[str, int]) -> None:
    # 2. Reminders: every N days since the task was created or last reminded, until answered.
    #    Not while the clock is paused on the requester (awaiting_requester): the professional can do nothing.
    every = timedelta(days=rules.reminder_every_days)
    reminder_due = task_reminder_counted_from() <= now - every
    # 3. (below): not acknowledged N days after it was sent. Rule 2 changes none of the columns it reads, so the
    #    candidates of both come from one read of the tasks.
    unacknowledged_due = task_unacknowledged_since() <= now - timedelta(days=rules.escalate_without_ack_days)
    candidates = _candidates({"remind": reminder_due, "unacknowledged": unacknowledged_due})

    reminded = _mark_in_progress(
        candidates["remind"], reminder_due,
        {"last_reminder_at": now, "reminder_count": ProfessionalTask.reminder_count + 1},
    )
    for task in _load(reminded):
        # The link in a reminder must still work when the next reminder comes.
        if routing.ensure_link_lasts(task, until=now + every, now=now):
            counts["links_renewed"] += 1
        routing.email_reminder(task, now=now)
        audit.record(system, "task_reminder_sent", request=task.request, touch=False,
                     details={"task_id": task.id, "reminder": task.reminder_count})
        counts["reminders"] += 1

    # 3. Escalation: not acknowledged N days after it was sent (once per task).
    unacknowledged = _mark_in_progress(
        candidates["unacknowledged"], unacknowledged_due, {"escalated_at": now, "escalation_reason": "unacknowledged"},
    )
    for task in _load(unacknowledged):
        routing.email_escalation(task, "unacknowledged", now=now)
        audit.record(system, "task_escalated", request=task.request, touch=False,
                     details={"task_id": task.id, "reason": "unacknowledged"})
        counts["escalated_unacknowledged"] += 1

    # 4. Escalation: the deadline is N days away (or passed) and the task is not answered (once per task).
    near = _mark(
        [ProfessionalTask.request_id.in_(
            _requests_in(Status.IN_PROGRESS, due_by=today + timedelta(days=rules.escalate_days_before_due))),
         ProfessionalTask.answered_at.is_(None), ProfessionalTask.deadline_escalated_at.is_(None)],
        {"deadline_escalated_at": now, "escalated_at": now, "escalation_reason": "near_deadline"},
    )
    for task in _load(near):
        routing.email_escalation(task, "near_deadline", now=now)
        audit.record(system, "task_escalated", request=task.request, touch=False,
                     details={"task_id": task.id, "reason": "near_deadline", "due_date": task.request.due_date})
        counts["escalated_near_deadline"] += 1
