"""The queue's counters kept by the process a few seconds (issue 19), forgotten at once when this process writes
a request; the first-name search reads its index (migration 0011)."""
from __future__ import annotations

import sqlalchemy as sa

from dsar.extensions import db
from dsar.models import DataRequest
from dsar.models.enums import Status
from dsar.services import queue
from factories import make_request
from statement_support import counting



def test_the_counters_are_read_once_and_follow_this_processs_writes_at_once(app, policy, monkeypatch):
    make_request(policy=policy, status=Status.OPEN)
    db.session.commit()
    queue.forget_counters()
    first = queue.counters()
    assert first["open"] == 1
    now = [queue._clock()]
    monkeypatch.setattr(queue, "_clock", lambda: now[0])
    with counting() as statements:
        assert queue.counters() == first
    assert statements == []                                           # kept: no query
    make_request(policy=policy, status=Status.OPEN)               # written here: forgotten at once
    db.session.commit()
    assert queue.counters()["open"] == 2
    # Written by another process (a plain UPDATE this process's session does not see): shown within the time.
    db.session.execute(sa.update(DataRequest).values(status=Status.CLOSED))
    db.session.commit()
    assert queue.counters()["open"] == 2
    now[0] += queue.COUNTERS_SECONDS + 0.1
    assert queue.counters()["open"] == 0


def test_the_first_name_search_still_finds_a_first_name_from_its_start(app, policy):
    req = make_request(policy=policy, status=Status.OPEN)
    req.subject.first_name = "Eloise"
    db.session.commit()
    found = db.session.scalars(sa.select(DataRequest.id).where(queue._search_clause("ELOI"))).all()
    assert found == [req.id]
    assert db.session.scalars(sa.select(DataRequest.id).where(queue._search_clause("elp"))).all() == []
