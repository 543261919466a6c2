"""The queue's counters and its list of identity reviews waiting, kept by the process a few seconds (issue 19),
forgotten at once when this process writes a request or a document; the first-name search reads its index
(migration 0011, then 0012)."""
from __future__ import annotations

import sqlalchemy as sa

from datetime import timedelta

from dsar.extensions import db
from dsar.models import DataRequest, Document, utcnow
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


def test_the_identity_reviews_waiting_are_kept_like_the_counters_and_their_wait_follows_the_clock(app, policy,
                                                                                                  monkeypatch):
    req = make_request(policy=policy, status=Status.IDENTITY_REVIEW)
    db.session.commit()
    queue.forget_counters()
    now = utcnow()
    rows, total = queue.identity_reviews_waiting(limit=20, now=now)
    assert total == 1 and [r["reference"] for r in rows] == [req.reference]
    clock = [queue._clock()]
    monkeypatch.setattr(queue, "_clock", lambda: clock[0])
    with counting() as statements:
        later, _ = queue.identity_reviews_waiting(limit=20, now=now + timedelta(hours=5))
    assert statements == []                                           # kept: no query
    assert later[0]["waited"] == rows[0]["waited"] + timedelta(hours=5)   # the wait is counted from now
    # A document arriving through this process: forgotten at once, the wait counted from the document.
    arrived = now - timedelta(days=3)
    db.session.add(Document(request_id=req.id, kind="identity", display_name="cni.pdf", mime="application/pdf",
                            size=1, sha256="0" * 64, uploaded_at=arrived, uploaded_by="requester"))
    db.session.commit()
    [row], _ = queue.identity_reviews_waiting(limit=20, now=now)
    assert row["since"] == arrived and row["waited"] == timedelta(days=3)
    # Reviewed by another process (a plain UPDATE this process's session does not see): shown within the time.
    db.session.execute(sa.update(DataRequest).values(status=Status.OPEN))
    db.session.commit()
    assert queue.identity_reviews_waiting(limit=20, now=now)[1] == 1
    clock[0] += queue.COUNTERS_SECONDS + 0.1
    assert queue.identity_reviews_waiting(limit=20, now=now) == ([], 0)
