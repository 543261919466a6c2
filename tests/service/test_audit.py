"""The audit trail is append-only and tamper-evident."""
import pytest
import sqlalchemy as sa

from dsar import audit
from dsar.actors import Actor
from dsar.extensions import db
from dsar.models import AppendOnlyViolation, Event
from factories import make_request, make_staff


def test_events_of_a_request_form_a_chain(app, policy):
    req = make_request(policy=policy)
    staff = make_staff("dpo")
    audit.record(Actor.for_staff(staff, ip="192.0.2.1", user_agent="pytest"), "note", request=req, details={"note": "a"})
    audit.record(Actor.system(), "note", request=req, details={"note": "b"})
    db.session.commit()
    events = db.session.scalars(sa.select(Event).where(Event.request_id == req.id).order_by(Event.seq)).all()
    assert [e.seq for e in events] == [1, 2, 3]
    assert events[0].prev_hash == audit.GENESIS
    assert events[1].prev_hash == events[0].hash and events[2].prev_hash == events[1].hash
    assert events[1].actor_type == "staff" and events[1].ip == "192.0.2.1" and events[1].user_agent == "pytest"
    assert audit.verify_chain() == []


def test_the_application_cannot_update_or_delete_an_event(app, policy):
    req = make_request(policy=policy)
    db.session.commit()
    ev = db.session.scalars(sa.select(Event).where(Event.request_id == req.id)).first()
    ev.action = "something_else"
    with pytest.raises(AppendOnlyViolation):
        db.session.flush()
    db.session.rollback()
    ev = db.session.scalars(sa.select(Event).where(Event.request_id == req.id)).first()
    db.session.delete(ev)
    with pytest.raises(AppendOnlyViolation):
        db.session.flush()
    db.session.rollback()


def _tamper(sql, **params):
    with db.engine.begin() as conn:
        conn.execute(sa.text(sql), params)


def test_an_altered_event_is_pointed_at_by_audit_verify(app, runner, policy):
    req = make_request(policy=policy)
    for i in range(4):
        audit.record(Actor.system(), "note", request=req, details={"note": f"n{i}"})
    other = make_request(policy=policy)
    db.session.commit()
    req_id, other_id = req.id, other.id
    target_id = db.session.scalars(sa.select(Event.id).where(Event.request_id == req_id, Event.seq == 3)).one()
    _tamper("UPDATE events SET details = :d WHERE id = :id", d='{"note": "rewritten"}', id=target_id)
    db.session.remove()
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 1
    assert f"request:{req_id} event #3 (id {target_id})" in result.output
    assert "content does not match its hash" in result.output
    assert f"request:{other_id}" not in result.output     # the other chain is intact


def test_a_deleted_event_breaks_the_chain_at_the_gap(app, runner, policy):
    req = make_request(policy=policy)
    for i in range(3):
        audit.record(Actor.system(), "note", request=req, details={"note": f"n{i}"})
    db.session.commit()
    _tamper("DELETE FROM events WHERE request_id = :r AND seq = 2", r=req.id)
    db.session.remove()
    breaks = audit.verify_chain()
    assert len(breaks) == 1 and breaks[0].seq == 3 and "missing" in breaks[0].reason


def test_an_event_rehashed_after_alteration_still_breaks_the_next_link(app, policy):
    req = make_request(policy=policy)
    for i in range(3):
        audit.record(Actor.system(), "note", request=req, details={"note": f"n{i}"})
    db.session.commit()
    ev = db.session.scalars(sa.select(Event).where(Event.request_id == req.id, Event.seq == 2)).one()
    forged = Event(**{c: getattr(ev, c) for c in ("stream", "seq", "request_id", "occurred_at", "actor_type", "actor_id",
                                                  "actor_label", "ip", "user_agent", "action", "from_status", "to_status", "prev_hash")},
                   details={"note": "forged"})
    new_hash = audit.compute_hash(forged)
    db.session.expunge(forged) if forged in db.session else None
    _tamper("UPDATE events SET details = :d, hash = :h WHERE id = :id", d='{"note": "forged"}', h=new_hash, id=ev.id)
    db.session.remove()
    [b] = audit.verify_chain()
    assert b.seq == 3 and "link to the previous event" in b.reason


def test_audit_verify_says_intact(app, runner, policy):
    make_request(policy=policy)
    db.session.commit()
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 0 and "intact" in result.output


def test_a_batch_writes_rows_that_read_back_as_recorded_and_chain(app, policy):
    """Inside ``batch`` an event is a plain row (no ORM object), inserted with the others at the end in one
    statement: what is read back is what was hashed, every field, including NULLs, dates and accents."""
    from datetime import date

    req = make_request(policy=policy)
    db.session.commit()
    staff = Actor.for_staff(make_staff("dpo"), ip="192.0.2.7", user_agent="Mozilla/5.0 (é)")
    recorded = []
    audit.load_heads([audit.stream_for(req), "system"])
    with audit.batch():
        recorded.append(audit.record(staff, "note", request=req, touch=False,
                                     details={"note": "Zoé «réponse»", "due": date(2026, 4, 7), "n": [1, None]}))
        recorded.append(audit.record(Actor.system("tests"), "other", stream="system", details=None))
        recorded.append(audit.record(Actor.system(), "note", request=req, touch=False, from_status="open",
                                     to_status="in_progress", details={}))
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Event).where(Event.action == "other")) == 0
    assert recorded == [None, None, None]                 # rows waiting for the INSERT, no ORM objects
    db.session.commit()
    events = db.session.scalars(sa.select(Event).where(Event.request_id == req.id).order_by(Event.seq)).all()
    assert [e.seq for e in events] == [1, 2, 3]
    assert events[1].details == {"note": "Zoé «réponse»", "due": "2026-04-07", "n": [1, None]}
    assert (events[1].ip, events[1].user_agent, events[1].actor_type) == ("192.0.2.7", "Mozilla/5.0 (é)", "staff")
    assert (events[2].from_status, events[2].to_status, events[2].details) == ("open", "in_progress", {})
    assert events[2].prev_hash == events[1].hash and all(audit.compute_hash(e) == e.hash for e in events)
    assert events[1].occurred_at.tzinfo is not None
    assert audit.verify_chain() == []
