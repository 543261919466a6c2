"""The task sweep writes in batches (issue 19): the audit heads of every request concerned read in one query,
the events inserted together; the chains verify after it, and nothing is sent twice."""
from __future__ import annotations

import gc
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from dsar import audit
from dsar.actors import Actor
from dsar.extensions import db
from dsar.jobs import reminders
from dsar.jobs.reminders import sweep_tasks
from dsar.models import DataRequest, Event, OutboxMessage, ProfessionalTask
from dsar.models.enums import Status
from dsar.models.people import SWEEP_RULE_INDEXES
from dsar.services import routing
from statement_support import counting, plan_without_seqscan
from routing_support import care_link, patient_request, professional

ROUTED_AT = datetime(2026, 3, 5, 12, 0, tzinfo=timezone.utc)
TASKS = 6


def test_a_sweep_firing_for_many_tasks_reads_the_heads_once_and_the_chains_verify(app, policy, smtp_server):
    for n in range(TASKS):
        pro = professional(email=f"dr.{n}@example.test")
        care_link(pro, email=f"p{n}@example.test")
        req = patient_request(policy, email=f"p{n}@example.test")
        assert routing.auto_route(req, Actor.system(), now=ROUTED_AT) == routing.RoutingOutcome.ROUTED
    db.session.commit()
    before = db.session.scalar(sa.select(sa.func.count()).select_from(Event))

    later = ROUTED_AT + timedelta(days=15)          # a reminder due and not acknowledged after 14 days: both fire
    with counting() as statements:
        counts = sweep_tasks(later)
    assert counts["reminders"] == TASKS and counts["escalated_unacknowledged"] == TASKS, counts
    # Rules 2 and 3 take their candidates from one read of the tasks (one scan of a million rows, not two), and no
    # rule's statement reads the requests table beyond the candidates' requests.
    candidate_reads = [s for s in statements if s.lstrip().startswith("SELECT professional_tasks.id") and "CASE WHEN" in s]
    assert len(candidate_reads) == 1, candidate_reads
    head_reads = [s for s in statements if "FROM events" in s and s.lstrip().startswith("SELECT")]
    assert len(head_reads) <= 2, head_reads           # one per rule that fired, never one per task
    event_inserts = [s for s in statements if s.lstrip().startswith("INSERT INTO events")]
    if db.engine.dialect.name == "postgresql":
        assert len(event_inserts) == 1, event_inserts  # all of them in one statement
    db.session.expire_all()
    after = db.session.scalar(sa.select(sa.func.count()).select_from(Event))
    assert after - before >= 2 * TASKS
    assert audit.verify_chain() == []
    assert sweep_tasks(later) == {k: 0 for k in counts}   # the same instant again: nothing twice
    assert audit.verify_chain() == []
    assert gc.get_freeze_count() == 0                     # what the sweep froze for the collector is put back


def _routed(policy, count: int) -> list[int]:
    ids = []
    for n in range(count):
        pro = professional(email=f"dr.race{n}@example.test")
        care_link(pro, email=f"race{n}@example.test")
        req = patient_request(policy, email=f"race{n}@example.test")
        assert routing.auto_route(req, Actor.system(), now=ROUTED_AT) == routing.RoutingOutcome.ROUTED
        ids.append(req.id)
    db.session.commit()
    return ids


@pytest.mark.postgres
def test_a_task_changed_after_the_candidates_were_read_is_checked_again_by_the_update(app, policy, monkeypatch):
    """Another sweep reminded one task, and a request was paused on its requester, between this sweep's read of the
    candidates and its UPDATE: neither is reminded by it (the UPDATE checks the rule and the request's status again)."""
    request_ids = _routed(policy, 3)
    later = ROUTED_AT + timedelta(days=6)                 # one reminder due for each, nothing else
    tasks = {r: db.session.scalars(sa.select(ProfessionalTask.id).where(ProfessionalTask.request_id == r)).one()
             for r in request_ids}
    read_candidates = reminders._candidates

    def candidates_then_others_act(rules):
        found = read_candidates(rules)
        assert len(found["remind"]) == 3
        with db.engine.begin() as other:                 # committed by other transactions meanwhile
            other.execute(sa.update(ProfessionalTask).where(ProfessionalTask.id == tasks[request_ids[0]])
                          .values(last_reminder_at=later, reminder_count=1))
            other.execute(sa.update(DataRequest).where(DataRequest.id == request_ids[1])
                          .values(status=Status.AWAITING_REQUESTER))
        return found

    monkeypatch.setattr(reminders, "_candidates", candidates_then_others_act)
    counts = sweep_tasks(later)

    assert counts["reminders"] == 1, counts
    db.session.expire_all()
    sent_to = db.session.scalars(sa.select(OutboxMessage.recipient).where(OutboxMessage.template == "task_reminder")).all()
    assert sent_to == ["dr.race2@example.test"]
    assert db.session.get(ProfessionalTask, tasks[request_ids[0]]).reminder_count == 1   # the other sweep's, not twice
    assert audit.verify_chain() == []


@pytest.mark.postgres
@pytest.mark.parametrize("index", SWEEP_RULE_INDEXES, ids=lambda index: index.name)
def test_postgresql_answers_rules_2_and_3_from_their_indexes(app, policy, index):
    """Migration 0014's indexes hold the very expressions the sweep compares (models.people): PostgreSQL reads each
    for the sweep's comparison, sent as the sweep sends it. A change on either side (a status, a column, a
    parameter where a constant was) would leave a scan of every task each morning, which this catches (the drift
    check cannot: see models.people.SWEEP_RULE_INDEXES)."""
    _routed(policy, 2)
    [expression] = index.expressions
    plan = plan_without_seqscan(sa.select(ProfessionalTask.id).where(expression <= ROUTED_AT + timedelta(days=15)))
    assert index.name in plan, plan
