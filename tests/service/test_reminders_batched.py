"""The task sweep writes in batches (issue 19): the audit heads of every request concerned read in one query,
the events inserted together; the chains verify after it, and nothing is sent twice."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import sqlalchemy as sa

from dsar import audit
from dsar.actors import Actor
from dsar.extensions import db
from dsar.jobs.reminders import sweep_tasks
from dsar.models import Event
from dsar.services import routing
from statement_support import counting
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
