"""Routing patients' requests to the professional in charge (policy art. 8.2, GDPR art. 26(3)), and the task link."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from dsar import audit, lifecycle
from dsar.actors import Actor
from dsar.errors import IllegalTransition, InvalidInput, PermissionDenied
from dsar.extensions import db
from dsar.models import Event, ProfessionalTask
from dsar.models.enums import Channel, Status, SubjectKind, TaskStatus
from dsar.services import actions, routing
from dsar.security import decrypt_secret
from dsar.tokens import hash_secret, make_token
from factories import make_request, make_staff
from routing_support import RECEIVED, care_link, outbox, patient_request, professional, task_of

BORN = date(1980, 6, 15)
NOW = datetime(2026, 3, 5, 12, 0, tzinfo=timezone.utc)


def events(req, action: str | None = None) -> list[Event]:
    query = sa.select(Event).where(Event.request_id == req.id).order_by(Event.seq)
    if action:
        query = query.where(Event.action == action)
    return list(db.session.scalars(query))


# --- the routing table (policy art. 8.2) ------------------------------------------------------------------


def test_one_professional_in_charge_gets_the_request_automatically(app, policy):
    pro = professional(email="dr.one@example.test")
    care_link(pro, email="jeanne@example.test")
    req = patient_request(policy, email="jeanne@example.test")
    clock, due = req.clock_started_on, req.due_date

    assert routing.auto_route(req, Actor.system(), now=NOW) == routing.RoutingOutcome.ROUTED

    assert req.status == Status.IN_PROGRESS and req.handler == "professional"
    task = task_of(req)
    assert task.professional_id == pro.id and task.status == TaskStatus.OPEN
    assert task.expires_at == NOW + timedelta(days=policy.routing.task_link_valid_days)
    # The request keeps its clock (GDPR art. 26(3)): routing does not restart or move the deadline.
    assert (req.clock_started_on, req.due_date) == (clock, due)
    routed = events(req, "route_to_professional")[0]
    assert routed.actor_type == "system" and routed.details["automatic"] is True
    assert routed.details["professional_id"] == pro.id and routed.details["care_link_matched"] is True
    assert [m.recipient for m in outbox("task_assigned")] == ["dr.one@example.test"]


def test_several_professionals_in_charge_leave_the_choice_to_staff(app, policy):
    first, second = professional(last_name="Aubert"), professional(last_name="Brun")
    care_link(first, email="paul@example.test")
    care_link(second, email="paul@example.test")
    req = patient_request(policy, email="paul@example.test")

    assert routing.auto_route(req, Actor.system(), now=NOW) == routing.RoutingOutcome.NEEDS_CHOICE

    assert req.status == Status.OPEN and req.handler == "staff" and req.tasks == []
    choice = events(req, "routing_needs_choice")
    assert len(choice) == 1 and choice[0].details["candidates"] == [first.id, second.id]
    assert [p.id for p in routing.find_professionals_for(req)] == [first.id, second.id]
    assert outbox() == []
    # Staff then choose one of them.
    staff = make_staff("agent")
    actions.route(req, Actor.for_staff(staff), professional_id=second.id)
    assert task_of(req).professional_id == second.id and req.status == Status.IN_PROGRESS


def test_no_professional_in_charge_leaves_the_request_with_staff(app, policy):
    someone_else = professional()
    care_link(someone_else, email="other.patient@example.test")
    req = patient_request(policy, email="nobody.linked@example.test")

    assert routing.auto_route(req, Actor.system(), now=NOW) == routing.RoutingOutcome.NO_PROFESSIONAL

    assert req.status == Status.OPEN and req.handler == "staff" and req.tasks == []
    decided = events(req, "routing_to_staff")
    assert len(decided) == 1 and decided[0].details["reason"] == "no_professional"
    assert outbox() == []


@pytest.mark.parametrize("ended", ["contract_ended", "inactive", "care_ended", "care_inactive"])
def test_an_ended_contract_or_care_relationship_leaves_the_request_with_staff(app, policy, ended):
    pro = professional()
    link = care_link(pro, email="lea@example.test")
    if ended == "contract_ended":
        pro.contract_ended_on = date(2026, 1, 31)
    elif ended == "inactive":
        pro.active = False
    elif ended == "care_ended":
        link.ended_on = date(2026, 2, 1)
    else:
        link.active = False
    req = patient_request(policy, email="lea@example.test")

    assert routing.auto_route(req, Actor.system(), now=NOW) == routing.RoutingOutcome.CONTRACT_ENDED

    assert req.status == Status.OPEN and req.tasks == []
    decided = events(req, "routing_to_staff")[0]
    assert decided.details["reason"] == "contract_ended" and decided.details["ended_professional_ids"] == [pro.id]


def test_a_contract_ending_later_still_counts_today(app, policy):
    pro = professional(contract_ended_on=date(2026, 12, 31))
    care_link(pro, email="future@example.test")
    req = patient_request(policy, email="future@example.test")
    assert routing.auto_route(req, Actor.system(), now=NOW) == routing.RoutingOutcome.ROUTED


@pytest.mark.parametrize("kind,activities", [
    (SubjectKind.PROFESSIONAL, ["client_file", "application"]),   # a professional user: IDOMED answers (art. 5)
    (SubjectKind.PROSPECT, ["client_file"]),
    (SubjectKind.PATIENT, ["client_file", "application"]),         # partly about IDOMED's own client file
])
def test_requests_other_than_a_patients_about_the_application_go_to_staff(app, policy, kind, activities):
    pro = professional()
    care_link(pro, email="someone@example.test")
    req = make_request(policy=policy, subject_kind=kind, activities=activities, email="someone@example.test")

    assert routing.auto_route(req, Actor.system(), now=NOW) == routing.RoutingOutcome.STAFF_BY_POLICY

    assert req.status == Status.OPEN and req.tasks == []
    decided = events(req, "routing_to_staff")[0]
    assert decided.details["reason"] == "staff_by_policy" and decided.details["policy"] == "art. 8.2"
    if kind != SubjectKind.PATIENT:
        assert routing.find_professionals_for(req) == []


def test_a_misdirected_patient_request_is_forwarded_never_refused_and_keeps_its_clock(app, policy):
    """GDPR art. 26(3): a patient who wrote to IDOMED instead of their doctor is forwarded, clock unchanged."""
    pro = professional(email="dr.forward@example.test")
    care_link(pro, email="misdirected@example.test")
    staff = make_staff("agent")
    req = patient_request(policy, email="misdirected@example.test", status=Status.IDENTITY_REVIEW,
                          channel=Channel.POST, received_at=RECEIVED, identity_method=None)
    assert req.clock_started_on is None

    actions.verify_identity(req, Actor.for_staff(staff), method="in_person")   # routes at the end (policy art. 8.2)

    assert req.status == Status.IN_PROGRESS and req.handler == "professional" and req.outcome is None
    assert task_of(req).professional_id == pro.id
    started, due = req.clock_started_on, req.due_date
    assert started is not None and due is not None
    # Taking it back and forwarding again never touches the clock either.
    actions.route(req, Actor.for_staff(staff), to_staff=True)
    actions.route(req, Actor.for_staff(staff), professional_id=pro.id)
    assert (req.clock_started_on, req.due_date) == (started, due)
    assert not events(req, "refuse")


def test_verify_identity_leaves_staff_requests_open(app, policy):
    staff = make_staff("agent")
    req = make_request(policy=policy, subject_kind=SubjectKind.PROSPECT, activities=["client_file"],
                       status=Status.IDENTITY_REVIEW, identity_method=None)
    actions.verify_identity(req, Actor.for_staff(staff), method="in_person")
    assert req.status == Status.OPEN and events(req, "routing_to_staff")


def test_auto_route_does_nothing_twice(app, policy):
    pro = professional()
    care_link(pro, email="twice@example.test")
    req = patient_request(policy, email="twice@example.test")
    assert routing.auto_route(req, Actor.system(), now=NOW) == routing.RoutingOutcome.ROUTED
    assert routing.auto_route(req, Actor.system(), now=NOW) == routing.RoutingOutcome.SKIPPED
    assert len(req.tasks) == 1 and len(outbox("task_assigned")) == 1


# --- the matching rule ---------------------------------------------------------------------------------------


def test_email_matches_case_insensitively_unless_birth_dates_contradict(app, policy):
    parent_doctor, child_doctor = professional(), professional()
    care_link(parent_doctor, email="family@example.test", birth_date=date(1975, 1, 1))
    care_link(child_doctor, email="family@example.test", birth_date=date(2015, 5, 5))
    child = patient_request(policy, email="Family@Example.TEST", birth_date=date(2015, 5, 5))
    assert [p.id for p in routing.find_professionals_for(child)] == [child_doctor.id]
    unknown_birth = patient_request(policy, email="family@example.test")
    assert {p.id for p in routing.find_professionals_for(unknown_birth)} == {parent_doctor.id, child_doctor.id}


def test_phone_matches_only_with_the_birth_date(app, policy):
    pro = professional()
    care_link(pro, phone="+33612345678", birth_date=BORN)
    same = patient_request(policy, email="new.address@example.test", phone="06 12 34 56 78", birth_date=BORN)
    assert [p.id for p in routing.find_professionals_for(same)] == [pro.id]
    sibling = patient_request(policy, email="sibling@example.test", phone="0612345678", birth_date=date(1990, 1, 1))
    assert routing.find_professionals_for(sibling) == []
    no_birth = patient_request(policy, email="nobirth@example.test", phone="+33 6 12 34 56 78")
    assert routing.find_professionals_for(no_birth) == []


def test_each_shape_of_contact_data_reads_its_own_links_in_any_order(app, policy):
    """The matching query is built once per shape of what the request gives (issue 19): asking with one shape
    after another never reuses another shape's conditions."""
    by_email, by_phone, unknown_birth = professional(), professional(), professional()
    care_link(by_email, email="shape@example.test", birth_date=BORN)
    care_link(by_phone, phone="+33698765432", birth_date=BORN)
    care_link(unknown_birth, email="shape@example.test")                 # no birth date recorded: never contradicts
    shapes = [
        ({"email": "shape@example.test", "birth_date": BORN}, {by_email.id, unknown_birth.id}),
        ({"email": "shape@example.test"}, {by_email.id, unknown_birth.id}),
        ({"email": "other@example.test", "phone": "06 98 76 54 32", "birth_date": BORN}, {by_phone.id}),
        ({"phone": "06 98 76 54 32", "birth_date": BORN}, {by_phone.id}),
        ({"email": "shape@example.test", "phone": "06 98 76 54 32", "birth_date": BORN},
         {by_email.id, by_phone.id, unknown_birth.id}),
        ({"email": "shape@example.test", "birth_date": date(2001, 2, 3)}, {unknown_birth.id}),
        ({"phone": "06 98 76 54 32"}, set()),
    ]
    for _ in range(2):
        for given, expected in shapes:
            req = patient_request(policy, **given)
            assert {p.id for p in routing.find_professionals_for(req)} == expected, given


# --- staff routing ----------------------------------------------------------------------------------------------


def test_route_to_professional_refuses_bad_choices(app, policy):
    staff = Actor.for_staff(make_staff("agent"))
    gone = professional(active=False)
    req = patient_request(policy, email="choice@example.test")
    with pytest.raises(InvalidInput) as err:
        actions.route(req, staff, professional_id=gone.id)
    assert err.value.code == "professional_inactive"
    with pytest.raises(InvalidInput) as err:
        actions.route(req, staff, professional_id=None)
    assert err.value.field == "professional_id"
    prospect = make_request(policy=policy, subject_kind=SubjectKind.PROSPECT, activities=["client_file"])
    with pytest.raises(InvalidInput) as err:
        routing.route_to_professional(prospect, staff, professional())
    assert err.value.code == "not_a_patient"
    pro = professional()
    routing.route_to_professional(req, staff, pro)
    with pytest.raises(IllegalTransition) as err:
        routing.route_to_professional(req, staff, pro)
    assert err.value.code == "already_routed"


def test_rerouting_cancels_the_previous_task_and_its_link(app, policy):
    staff = Actor.for_staff(make_staff("agent"))
    first, second = professional(), professional()
    req = patient_request(policy, email="reroute@example.test")
    routing.route_to_professional(req, staff, first)
    old = task_of(req)
    old_token = routing.task_token(old)
    routing.route_to_professional(req, staff, second)
    assert old.status == TaskStatus.CANCELLED and old.token_hash is None and old.link_secret is None
    with pytest.raises(routing.TaskLinkGone) as err:
        routing.task_from_token(old_token)
    assert err.value.reason == "revoked"
    assert task_of(req).professional_id == second.id


def test_route_to_staff_takes_the_request_back(app, policy):
    staff = Actor.for_staff(make_staff("agent"))
    req = patient_request(policy, email="back@example.test")
    routing.route_to_professional(req, staff, professional())
    task = task_of(req)
    actions.route(req, staff, to_staff=True, expected_version=req.version)
    assert req.status == Status.OPEN and req.handler == "staff"
    assert task.status == TaskStatus.CANCELLED and routing.live_tasks(req) == []
    assert events(req, "route_to_staff")[0].details["cancelled_task_ids"] == [task.id]


def test_resend_replaces_the_link_and_only_staff_may(app, policy):
    staff = Actor.for_staff(make_staff("agent"))
    req = patient_request(policy, email="resend@example.test")
    routing.route_to_professional(req, staff, professional(email="dr.resend@example.test"), now=NOW)
    task = task_of(req)
    first = routing.task_token(task)
    later = NOW + timedelta(days=20)
    with pytest.raises(PermissionDenied):
        routing.resend_task_link(task, routing.professional_actor(task), now=later)
    routing.resend_task_link(task, staff, now=later)
    assert task.expires_at == later + timedelta(days=policy.routing.task_link_valid_days)
    with pytest.raises(routing.TaskLinkGone) as err:
        routing.task_from_token(first, now=later)
    assert err.value.reason == "superseded"
    assert routing.task_from_token(routing.task_token(task), now=later) is task
    assert len(outbox("task_assigned", to="dr.resend@example.test")) == 2
    assert [e.details["reason"] for e in events(req, "task_link_sent")] == ["assigned", "resent"]


def test_revoke_withdraws_the_task_back_to_staff(app, policy):
    staff = Actor.for_staff(make_staff("agent"))
    req = patient_request(policy, email="revoke@example.test")
    routing.route_to_professional(req, staff, professional())
    task = task_of(req)
    token = routing.task_token(task)
    routing.revoke_task(task, staff)
    assert task.revoked_at is not None and req.status == Status.OPEN and req.handler == "staff"
    with pytest.raises(routing.TaskLinkGone) as err:
        routing.task_from_token(token)
    assert err.value.reason == "revoked"
    with pytest.raises(IllegalTransition):
        routing.resend_task_link(task, staff)


@pytest.mark.parametrize("how", ["withdraw", "refuse", "assign"])
def test_a_request_staff_take_over_or_close_keeps_no_live_task(app, policy, how):
    staff_member = make_staff("agent")
    staff = Actor.for_staff(staff_member)
    req = patient_request(policy, email=f"{how}@example.test")
    routing.route_to_professional(req, staff, professional())
    task = task_of(req)
    if how == "withdraw":
        lifecycle.withdraw(req, Actor.for_requester(req))
    elif how == "refuse":
        lifecycle.refuse(req, staff, "Manifestly unfounded: a copy was sent last week.")
    else:
        lifecycle.assign(req, staff, staff_member)
    assert task.status == TaskStatus.CANCELLED and task.token_hash is None
    closed = events(req, "task_closed")
    assert closed and closed[-1].details["reason"] == f"request_{how}"


# --- the task link ----------------------------------------------------------------------------------------------


@pytest.fixture
def routed(app, policy):
    req = patient_request(policy, email="token@example.test")
    routing.route_to_professional(req, Actor.system(), professional(), now=NOW)
    db.session.commit()
    return req


def test_a_good_token_opens_its_task(routed):
    task = task_of(routed)
    assert routing.task_from_token(routing.task_token(task), now=NOW + timedelta(days=29)) is task


def test_a_tampered_token_is_refused(routed):
    token = routing.task_token(task_of(routed))
    payload, _, rest = token.partition(".")
    for bad in (token[:-2] + ("AA" if token[-2:] != "AA" else "BB"), "x" + token, token[:20], "",
                payload[:-1] + ("A" if payload[-1] != "A" else "B") + "." + rest):
        with pytest.raises(routing.TaskLinkInvalid) as err:
            routing.task_from_token(bad, now=NOW)
        assert err.value.status_code == 400


def test_a_token_made_for_another_purpose_is_refused(app, routed):
    task = task_of(routed)
    nonce = decrypt_secret(task.link_secret)
    forged = make_token("status", {"t": task.id, "n": nonce})
    with pytest.raises(routing.TaskLinkInvalid):
        routing.task_from_token(forged, now=NOW)


def test_an_expired_token_is_refused(routed):
    task = task_of(routed)
    token = routing.task_token(task)
    with pytest.raises(routing.TaskLinkGone) as err:
        routing.task_from_token(token, now=task.expires_at)
    assert err.value.reason == "expired" and err.value.status_code == 410 and err.value.task is task


def test_another_tasks_token_never_opens_a_task(app, policy, routed):
    other = patient_request(policy, email="other.token@example.test")
    routing.route_to_professional(other, Actor.system(), professional(), now=NOW)
    mine, theirs = task_of(routed), task_of(other)
    # Even signed with the right key, a token naming one task with another task's nonce opens neither.
    crossed = make_token("task", {"t": theirs.id, "n": decrypt_secret(mine.link_secret)})
    with pytest.raises(routing.TaskLinkGone) as err:
        routing.task_from_token(crossed, now=NOW)
    assert err.value.reason == "superseded"
    unknown = make_token("task", {"t": 999999, "n": decrypt_secret(mine.link_secret)})
    with pytest.raises(routing.TaskLinkInvalid):
        routing.task_from_token(unknown, now=NOW)


def test_the_database_keeps_only_a_hash_and_an_encrypted_copy_of_the_nonce(routed):
    task = task_of(routed)
    nonce = decrypt_secret(task.link_secret)
    assert task.token_hash == hash_secret(nonce) and nonce not in task.link_secret
    assert nonce not in (db.session.get(ProfessionalTask, task.id).token_hash or "")


def test_the_audit_chain_of_a_routed_request_verifies(routed):
    task = task_of(routed)
    routing.record_opening(task, routing.professional_actor(task, ip="192.0.2.1", user_agent="pytest"))
    routing.acknowledge_task(task, routing.professional_actor(task))
    db.session.commit()
    assert audit.verify_chain(audit.stream_for(routed)) == []
    actions_seen = [e.action for e in events(routed)]
    assert actions_seen[:3] == ["received", "route_to_professional", "task_link_sent"]
    assert {"task_opened", "acknowledge"} <= set(actions_seen)


def test_professional_actions_refuse_once_the_request_moved_on(app, policy):
    req = patient_request(policy, email="moved@example.test")
    routing.route_to_professional(req, Actor.system(), professional())
    task = task_of(req)
    actor = routing.professional_actor(task)
    staff = Actor.for_staff(make_staff("agent"))
    lifecycle.ask_clarification(req, staff, "Which period?", today=date(2026, 3, 10))
    from dsar.errors import Conflict

    with pytest.raises(Conflict) as err:
        routing.answer_task(task, actor, outcome="no_data", message="Nothing held.", reasons=None)
    assert err.value.code == "awaiting_requester"
    lifecycle.withdraw(req, Actor.for_requester(req))
    with pytest.raises(Conflict) as err:
        routing.acknowledge_task(task, actor)
    assert err.value.status_code == 409


def test_extension_requests_are_checked(app, policy):
    req = patient_request(policy, email="ext@example.test")
    routing.route_to_professional(req, Actor.system(), professional(), now=NOW)
    task = task_of(req)
    actor = routing.professional_actor(task)
    with pytest.raises(InvalidInput) as err:
        routing.request_extension(task, actor, reason="  ", now=NOW)
    assert err.value.field == "reason"
    too_late = datetime.combine(req.one_month_due_date + timedelta(days=1), datetime.min.time(), timezone.utc)
    with pytest.raises(IllegalTransition) as err:
        routing.request_extension(task, actor, reason="Many records to gather.", now=too_late)
    assert err.value.code == "extension_too_late"
    routing.request_extension(task, actor, reason="Many records to gather.", now=NOW)
    assert task.extension_requested_at == NOW and req.extended_at is None   # staff decide (GDPR art. 12(3))
    with pytest.raises(IllegalTransition) as err:
        routing.request_extension(task, actor, reason="Again", now=NOW)
    assert err.value.code == "extension_already_requested"
    assert len(outbox("task_extension_requested", to="dpo@example.test")) == 1
