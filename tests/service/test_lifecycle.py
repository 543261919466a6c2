"""The request lifecycle: guarded transitions, dates, audit events, conflicts."""
import threading
from datetime import date, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from dsar import lifecycle
from dsar.actors import Actor
from dsar.errors import Conflict, IllegalTransition, InvalidInput, PermissionDenied
from dsar.extensions import db
from dsar.models import DataRequest, Event
from dsar.models.enums import Status
from factories import make_request, make_staff


@pytest.fixture
def dpo(app):
    return Actor.for_staff(make_staff("dpo"), ip="198.51.100.7", user_agent="pytest")


def events_of(req):
    return db.session.scalars(sa.select(Event).where(Event.request_id == req.id).order_by(Event.seq)).all()


def test_identity_accepted_starts_the_clock_on_the_day_the_complete_request_was_received(app, policy, dpo):
    # Deadline rule 1 and policy art. 8.1: the month runs from receipt of a complete request
    # (the identity document), not from the day staff got round to checking it.
    req = make_request(policy=policy, status=Status.IDENTITY_REVIEW)
    lifecycle.accept_identity(req, dpo, policy, method="document", received_on=date(2026, 3, 5))
    assert req.status == Status.OPEN
    assert req.clock_started_on == date(2026, 3, 5)
    assert req.due_date == date(2026, 4, 7)        # 5 April 2026 is Easter Sunday, 6 April Easter Monday
    # The request opens with its checklist (services/checklist listens to lifecycle.request_changed).
    assert [e.action for e in events_of(req)][-2:] == ["accept_identity", "checklist_opened"]
    ev = events_of(req)[-2]
    assert (ev.action, ev.from_status, ev.to_status) == ("accept_identity", "identity_review", "open")
    assert ev.actor_type == "staff" and ev.ip == "198.51.100.7"


def test_the_checklist_opens_with_the_request_once_whoever_opens_it_again(app, policy, dpo):
    """services/checklist opens it on lifecycle.request_changed; a caller that still opens it (intake, for a
    request verified at receipt) adds nothing and records nothing."""
    from dsar.services import checklist

    req = make_request(policy=policy, status=Status.IDENTITY_REVIEW)
    lifecycle.accept_identity(req, dpo, policy, method="document", received_on=date(2026, 3, 5))
    steps = sorted((s.step_key, s.scope) for s in req.steps)
    assert steps
    assert checklist.open_checklist(req, dpo) == []
    assert sorted((s.step_key, s.scope) for s in req.steps) == steps
    assert [e.action for e in events_of(req)].count("checklist_opened") == 1


def test_received_31_august_is_due_30_september(app, policy, dpo):
    req = make_request(policy=policy, status=Status.IDENTITY_REVIEW)
    lifecycle.accept_identity(req, dpo, policy, method="document", received_on=date(2026, 8, 31))
    assert req.due_date == date(2026, 9, 30)


@pytest.mark.parametrize("status,action", [
    (Status.UNCONFIRMED, "answer"),
    (Status.CLOSED, "answer"),
    (Status.WITHDRAWN, "extend"),
    (Status.AWAITING_IDENTITY, "ask_clarification"),
    (Status.ANSWERED, "withdraw"),
    (Status.OPEN, "close"),
    (Status.OPEN, "resume"),
])
def test_an_illegal_transition_raises_a_conflict(app, policy, dpo, status, action):
    req = make_request(policy=policy, status=status)
    with pytest.raises(IllegalTransition) as exc:
        lifecycle.transition(req, action, dpo)
    assert exc.value.status_code == 409
    assert req.status == status
    assert [e.action for e in events_of(req)] == ["received"]


def test_an_auditor_cannot_act(app, policy):
    auditor = Actor.for_staff(make_staff("auditor"))
    req = make_request(policy=policy, status=Status.OPEN)
    with pytest.raises(PermissionDenied):
        lifecycle.add_note(req, auditor, "hello")
    assert lifecycle.allowed_actions(req, auditor) == []


def test_only_senior_staff_may_reopen(app, policy):
    req = make_request(policy=policy, status=Status.CLOSED)
    with pytest.raises(PermissionDenied):
        lifecycle.reopen(req, Actor.for_staff(make_staff("agent")), "mistake")
    lifecycle.reopen(req, Actor.for_staff(make_staff("dpo")), "mistake")
    assert req.status == Status.IN_PROGRESS and req.closed_at is None


def test_a_requester_may_withdraw_but_not_answer(app, policy):
    req = make_request(policy=policy, status=Status.IN_PROGRESS)
    requester = Actor.for_requester(req)
    with pytest.raises(PermissionDenied):
        lifecycle.answer(req, requester, "granted", "ok")
    lifecycle.withdraw(req, requester)
    assert req.status == Status.WITHDRAWN and req.closed_at is not None


def test_an_api_key_without_the_staff_scope_cannot_act(app, policy):
    class Key:
        id, name, scopes = 1, "app", ["submit", "read"]

    req = make_request(policy=policy, status=Status.OPEN)
    with pytest.raises(PermissionDenied):
        lifecycle.add_note(req, Actor.for_api_key(Key()), "x")


def test_an_identity_clarification_pauses_the_clock_and_moves_the_deadline_by_the_days_paused(app, policy, dpo):
    # Deadline rule 4; policy deadlines.clarifications.identity: suspends (décret n° 2019-536 art. 77).
    req = make_request(policy=policy, status=Status.IN_PROGRESS, clock_started_on=date(2026, 3, 5))
    assert req.due_date == date(2026, 4, 7)
    lifecycle.ask_clarification(req, dpo, "Which account?", today=date(2026, 3, 10), policy=policy, kind="identity")
    assert req.status == Status.AWAITING_REQUESTER
    lifecycle.resume(req, Actor.for_requester(req), policy, today=date(2026, 3, 20), answer="The old one")
    assert req.status == Status.IN_PROGRESS
    assert req.paused_days == 10
    assert req.due_date == date(2026, 4, 15)       # 5 April + 10 days
    ev = events_of(req)[-1]
    assert ev.details["paused_days"] == 10 and ev.details["due_date"] == "2026-04-15"
    assert ev.details["kind"] == "identity"


def test_a_scope_clarification_leaves_the_clock_running(app, policy, dpo):
    # GDPR art. 12(3) has no suspension: policy deadlines.clarifications.scope does not suspend.
    req = make_request(policy=policy, status=Status.IN_PROGRESS, clock_started_on=date(2026, 3, 5))
    lifecycle.ask_clarification(req, dpo, "Which account?", today=date(2026, 3, 10), policy=policy, kind="scope")
    assert events_of(req)[-1].details["effect"] == "clock_runs"
    lifecycle.resume(req, Actor.for_requester(req), policy, today=date(2026, 3, 20), answer="The old one")
    assert req.due_date == date(2026, 4, 7) and req.paused_days == 0
    ev = events_of(req)[-1]
    assert ev.details["days_waited"] == 10 and ev.details["paused_days"] == 0


def test_a_clarification_asked_after_the_deadline_does_not_bring_the_request_back_into_time(app, policy, dpo):
    # The case: clock started 1 March 2026, due Wednesday 1 April; an identity question asked on
    # 10 April and answered on 20 April used to make it due 13 April. A date already passed never moves.
    req = make_request(policy=policy, status=Status.IN_PROGRESS, received_at=datetime(2026, 3, 1, 9, tzinfo=timezone.utc),
                       clock_started_on=date(2026, 3, 1))
    assert req.due_date == date(2026, 4, 1)
    lifecycle.ask_clarification(req, dpo, "Which account?", today=date(2026, 4, 10), policy=policy, kind="identity")
    assert events_of(req)[-1].details["effect"] == "after_deadline"
    lifecycle.resume(req, Actor.for_requester(req), policy, today=date(2026, 4, 20), answer="The old one")
    assert req.due_date == date(2026, 4, 1) and req.one_month_due_date == date(2026, 4, 1)


def test_an_unknown_kind_of_clarification_is_refused(app, policy, dpo):
    req = make_request(policy=policy, status=Status.IN_PROGRESS, clock_started_on=date(2026, 3, 5))
    with pytest.raises(InvalidInput):
        lifecycle.ask_clarification(req, dpo, "Which?", today=date(2026, 3, 10), policy=policy, kind="other")
    assert req.status == Status.IN_PROGRESS and not req.pauses


def test_extension_from_the_same_start_needs_a_reason_and_is_refused_after_the_deadline(app, policy, dpo):
    # Deadline rule 5, GDPR art. 12(3).
    req = make_request(policy=policy, status=Status.IN_PROGRESS, received_at=datetime(2026, 1, 31, 9, tzinfo=timezone.utc))
    assert req.due_date == date(2026, 3, 2)         # 28 Feb 2026 is a Saturday
    with pytest.raises(InvalidInput):
        lifecycle.extend(req, dpo, policy, "  ", today=date(2026, 2, 10))
    with pytest.raises(IllegalTransition, match="one-month deadline has passed"):
        lifecycle.extend(req, dpo, policy, "Complex", today=date(2026, 3, 3))
    lifecycle.extend(req, dpo, policy, "Complex request across two systems", today=date(2026, 3, 2))
    assert req.extended_due_date == date(2026, 4, 30)
    assert req.due_date == date(2026, 4, 30)
    with pytest.raises(IllegalTransition, match="already been extended"):
        lifecycle.extend(req, dpo, policy, "again", today=date(2026, 3, 2))


def test_a_refusal_states_its_reasons(app, policy, dpo):
    req = make_request(policy=policy, status=Status.IN_PROGRESS)
    with pytest.raises(InvalidInput):
        lifecycle.answer(req, dpo, "refused", "No.", reasons="")
    lifecycle.answer(req, dpo, "partly_granted", "Here is part.", reasons="Third-party data withheld")
    assert req.status == Status.ANSWERED and req.outcome == "partly_granted"
    assert events_of(req)[-1].details["reasons"] == "Third-party data withheld"


def test_a_medical_record_is_not_sent_before_48_hours(app, policy, dpo):
    # Deadline rule 6, Code de la santé publique L.1111-7.
    received = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
    req = make_request(policy=policy, status=Status.IN_PROGRESS, received_at=received, medical_record=True)
    lifecycle.recompute_deadline(req, policy)
    assert req.due_date == date(2026, 3, 10)        # 8 days, earlier than the GDPR month
    with pytest.raises(IllegalTransition, match="48-hour"):
        lifecycle.answer(req, dpo, "granted", "Your record", now=received + timedelta(hours=47))
    lifecycle.answer(req, dpo, "granted", "Your record", now=received + timedelta(hours=48))
    assert req.status == Status.ANSWERED


def test_a_stale_form_gets_a_conflict_and_changes_nothing(app, policy, dpo):
    req = make_request(policy=policy, status=Status.OPEN)
    db.session.commit()
    seen = req.version
    lifecycle.add_note(req, dpo, "first")
    db.session.commit()
    with pytest.raises(Conflict):
        lifecycle.add_note(req, dpo, "second, from a stale page", expected_version=seen)
    assert [e.action for e in events_of(req)].count("note") == 1


def test_assigning_moves_an_open_request_in_progress(app, policy, dpo):
    agent = make_staff("agent")
    req = make_request(policy=policy, status=Status.OPEN)
    lifecycle.assign(req, dpo, agent)
    assert req.status == Status.IN_PROGRESS and req.assignee_id == agent.id
    with pytest.raises(InvalidInput):
        lifecycle.assign(req, dpo, make_staff("auditor"))


def test_every_transition_writes_exactly_one_event(app, policy, dpo):
    req = make_request(policy=policy, status=Status.IDENTITY_REVIEW)
    lifecycle.accept_identity(req, dpo, policy, method="document", received_on=date(2026, 3, 5))
    lifecycle.assign(req, dpo, make_staff("agent"))
    lifecycle.answer(req, dpo, "granted", "Here you are")
    lifecycle.close(req, dpo)
    # One event per transition; the checklist that opens with the request (services/checklist) has its own.
    assert [e.action for e in events_of(req)] == ["received", "accept_identity", "checklist_opened", "assign", "answer",
                                                  "close"]
    assert req.status == Status.CLOSED


def test_references_follow_the_year_of_receipt(app, policy):
    req = make_request(policy=policy, received_at=datetime(2026, 12, 31, 23, 30, tzinfo=timezone.utc))
    # 23:30 UTC on 31 December is already 1 January in Paris.
    assert req.reference == f"DSAR-2027-{req.id:06d}"


@pytest.mark.postgres
def test_two_staff_acting_at_once_one_wins_the_other_gets_a_conflict(app, policy):
    """Two sessions on PostgreSQL take the same request; exactly one transition lands."""
    req = make_request(policy=policy, status=Status.IN_PROGRESS)
    a, b = make_staff("dpo"), make_staff("agent")
    db.session.commit()
    ref, version_before = req.reference, req.version
    barrier = threading.Barrier(2)
    results = {}

    def act(name, staff_id, action):
        with app.app_context():
            staff = db.session.get(type(a), staff_id)
            r = db.session.scalars(sa.select(DataRequest).where(DataRequest.reference == ref)).one()
            version = r.version
            barrier.wait()
            try:
                if action == "answer":
                    lifecycle.answer(r, Actor.for_staff(staff), "granted", "done", expected_version=version)
                else:
                    lifecycle.withdraw(r, Actor.for_staff(staff), expected_version=version)
                db.session.commit()
                results[name] = "ok"
            except Exception as exc:  # noqa: BLE001
                db.session.rollback()
                results[name] = type(exc).__name__
            finally:
                db.session.remove()

    threads = [threading.Thread(target=act, args=("a", a.id, "answer")), threading.Thread(target=act, args=("b", b.id, "withdraw"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(results.values()).count("ok") == 1, results
    loser = [v for v in results.values() if v != "ok"][0]
    assert loser in {"StaleDataError", "IntegrityError"}
    db.session.remove()
    r = db.session.scalars(sa.select(DataRequest).where(DataRequest.reference == ref)).one()
    actions = [e.action for e in events_of(r)]
    assert actions.count("answer") + actions.count("withdraw") == 1
    assert r.status in {Status.ANSWERED, Status.WITHDRAWN}
    assert r.version > version_before   # the winner's change landed; the loser's rolled back whole
