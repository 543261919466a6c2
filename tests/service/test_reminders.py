"""Reminders and escalations over simulated weeks (policy routing schedule: every 5 days; DPO after 14 days
without acknowledgement, or 7 days before the deadline), with an injected clock. Counted exactly."""
from __future__ import annotations

import threading
from datetime import date, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from dsar import lifecycle
from dsar.actors import Actor
from dsar.extensions import db
from dsar.jobs.reminders import sweep_tasks
from dsar.jobs.schedule import PERIODIC
from dsar.models import Event, OutboxMessage, ProfessionalTask
from dsar.models.enums import Status, TaskStatus
from dsar.services import routing
from factories import make_staff
from outbox_support import email_of, text_as_sent
from routing_support import care_link, patient_request, professional, task_of

ROUTED_AT = datetime(2026, 3, 5, 12, 0, tzinfo=timezone.utc)   # received and routed on Thursday 5 March 2026


def sweep_mornings(first: date, last: date) -> list[datetime]:
    """The periodic job's instants: 07:00 UTC every day (its cron in dsar/jobs/schedule.py)."""
    days = (last - first).days
    return [datetime(first.year, first.month, first.day, 7, 0, tzinfo=timezone.utc) + timedelta(days=n)
            for n in range(days + 1)]


def sent(template: str) -> list[OutboxMessage]:
    db.session.expire_all()
    return list(db.session.scalars(sa.select(OutboxMessage).where(OutboxMessage.template == template)
                                   .order_by(OutboxMessage.id)))


def routed_request(policy, email="weeks@example.test", pro_email="dr.weeks@example.test"):
    pro = professional(email=pro_email)
    care_link(pro, email=email)
    req = patient_request(policy, email=email)
    assert routing.auto_route(req, Actor.system(), now=ROUTED_AT) == routing.RoutingOutcome.ROUTED
    db.session.commit()
    return req


def run(instants, log: list | None = None) -> dict[str, int]:
    totals: dict[str, int] = {}
    for now in instants:
        counts = sweep_tasks(now)
        for key, value in counts.items():
            totals[key] = totals.get(key, 0) + value
            if log is not None and value:
                log.append((now.date(), key))
    db.session.expire_all()
    return totals


def test_the_sweep_is_declared_as_a_periodic_job():
    assert [p for p in PERIODIC if p.func_path == "dsar.jobs.reminders.sweep_tasks"][0].cron == "0 7 * * *"


def test_six_silent_weeks_give_exactly_the_policy_schedule(app, policy, smtp_server):
    req = routed_request(policy)
    assert req.due_date == date(2026, 4, 7)   # 5 April is Easter Sunday, 6 April Easter Monday
    log: list = []

    totals = run(sweep_mornings(date(2026, 3, 6), date(2026, 4, 20)), log)

    reminder_days = [day for day, key in log if key == "reminders"]
    # Every 5 days from the routing (12:00 on 5 March): the first morning sweep past 5 days is 11 March,
    # then exactly every 5 days from that reminder.
    assert reminder_days == [date(2026, 3, d) for d in (11, 16, 21, 26, 31)] + [date(2026, 4, d) for d in (5, 10, 15, 20)]
    # Not acknowledged 14 days after it was sent (19 March 12:00): alerted the next morning, once.
    assert [day for day, key in log if key == "escalated_unacknowledged"] == [date(2026, 3, 20)]
    # Seven days before the deadline of 7 April: 31 March, once.
    assert [day for day, key in log if key == "escalated_near_deadline"] == [date(2026, 3, 31)]
    # The 30-day link would have expired on 4 April: the reminder of 31 March carries a new one.
    assert [day for day, key in log if key == "links_renewed"] == [date(2026, 3, 31)]
    assert totals == {"withdrawn": 0, "reminders": 9, "links_renewed": 1, "escalated_unacknowledged": 1,
                      "escalated_near_deadline": 1}
    assert len(sent("task_reminder")) == 9 and all(m.recipient == "dr.weeks@example.test" for m in sent("task_reminder"))
    escalations = sent("task_escalation")
    assert [m.recipient for m in escalations] == ["dpo@example.test"] * 2
    assert "n'a pas accusé réception" in email_of(escalations[0]).text
    assert "mardi 7 avril 2026" in email_of(escalations[1]).text
    assert all(f"/backoffice/requests/{req.reference}" in email_of(m).text for m in escalations)
    task = task_of(db.session.get(type(req), req.id))
    assert (task.reminder_count, task.escalation_reason) == (9, "near_deadline")
    # The link in the last reminder opens the task; the first email's link was replaced on 31 March.
    last = text_as_sent(sent("task_reminder")[-1], smtp_server)
    token = last.split("/task/")[1].split()[0]
    assert routing.task_from_token(token, now=datetime(2026, 4, 20, 8, 0, tzinfo=timezone.utc)).id == task.id
    first = text_as_sent(sent("task_assigned")[0], smtp_server).split("/task/")[1].split()[0]
    with pytest.raises(routing.TaskLinkGone):
        routing.task_from_token(first, now=datetime(2026, 4, 1, tzinfo=timezone.utc))
    # Every reminder and escalation is in the audit trail.
    actions = db.session.scalars(sa.select(Event.action).where(Event.request_id == req.id)).all()
    assert actions.count("task_reminder_sent") == 9 and actions.count("task_escalated") == 2


def test_running_twice_sends_nothing_twice(app, policy):
    routed_request(policy)
    now = datetime(2026, 3, 20, 7, 0, tzinfo=timezone.utc)
    first = sweep_tasks(now)
    assert first["reminders"] == 1 and first["escalated_unacknowledged"] == 1
    before = len(sent("task_reminder")) + len(sent("task_escalation"))
    assert sweep_tasks(now) == {k: 0 for k in first}
    assert sweep_tasks(now + timedelta(hours=6)) == {k: 0 for k in first}
    assert len(sent("task_reminder")) + len(sent("task_escalation")) == before == 2


def test_acknowledging_stops_the_escalation_and_answering_stops_the_reminders(app, policy):
    req = routed_request(policy, email="answers@example.test")
    log: list = []
    run(sweep_mornings(date(2026, 3, 6), date(2026, 3, 12)), log)
    task = task_of(db.session.get(type(req), req.id))
    routing.acknowledge_task(task, routing.professional_actor(task), now=datetime(2026, 3, 13, 9, tzinfo=timezone.utc))
    db.session.commit()
    run(sweep_mornings(date(2026, 3, 13), date(2026, 3, 24)), log)
    task = db.session.get(ProfessionalTask, task.id)
    routing.answer_task(task, routing.professional_actor(task), outcome="no_data",
                        message="I hold no data about this person in the application.", reasons=None,
                        now=datetime(2026, 3, 25, 9, tzinfo=timezone.utc))
    db.session.commit()
    run(sweep_mornings(date(2026, 3, 25), date(2026, 4, 30)), log)

    assert [day for day, key in log if key == "reminders"] == [date(2026, 3, 11), date(2026, 3, 16), date(2026, 3, 21)]
    assert [key for _, key in log if key.startswith("escalated")] == []
    assert len(sent("task_escalation")) == 0
    req = db.session.get(type(req), req.id)
    assert req.status == Status.ANSWERED and task_of_status(req) == TaskStatus.ANSWERED


def task_of_status(req):
    return req.tasks[-1].status


def test_no_reminder_while_the_clock_is_paused_on_the_requester(app, policy):
    req = routed_request(policy, email="paused@example.test")
    staff = Actor.for_staff(make_staff("agent"))
    lifecycle.ask_clarification(req, staff, "Which account do you mean?", today=date(2026, 3, 6))
    db.session.commit()
    paused = run(sweep_mornings(date(2026, 3, 6), date(2026, 3, 26)))
    assert paused["reminders"] == 0 and paused["escalated_unacknowledged"] == 0
    req = db.session.get(type(req), req.id)
    lifecycle.resume(req, Actor.for_requester(req), policy, today=date(2026, 3, 26), answer="The patient one.")
    db.session.commit()
    resumed = run([datetime(2026, 3, 27, 7, tzinfo=timezone.utc)])
    # Overdue for a reminder (the last one was never sent) and for the 14-day alert: each once.
    assert resumed["reminders"] == 1 and resumed["escalated_unacknowledged"] == 1


def test_a_professional_whose_contract_ends_loses_the_task_at_the_next_sweep(app, policy):
    req = routed_request(policy, email="contract@example.test")
    task = task_of(req)
    task.professional.contract_ended_on = date(2026, 3, 10)
    db.session.commit()
    assert run([datetime(2026, 3, 9, 7, tzinfo=timezone.utc)])["withdrawn"] == 0
    counts = run([datetime(2026, 3, 10, 7, tzinfo=timezone.utc)])
    assert counts["withdrawn"] == 1 and counts["reminders"] == 0
    req = db.session.get(type(req), req.id)
    assert req.status == Status.OPEN and req.handler == "staff" and req.tasks[-1].status == TaskStatus.CANCELLED
    assert [m.recipient for m in sent("task_declined")] == ["dpo@example.test"]
    assert run([datetime(2026, 3, 11, 7, tzinfo=timezone.utc)]) == {k: 0 for k in counts}


def test_reminders_are_delivered_to_the_professional_in_their_language(app, policy, mailbox, run_jobs):
    pro = professional(email="dr.english@example.test", language="en")
    care_link(pro, email="english@example.test")
    req = patient_request(policy, email="english@example.test", first_name="Zoé", last_name="Confidentielle",
                          details="My asthma treatment records, please.")
    routing.auto_route(req, Actor.system(), now=ROUTED_AT)
    db.session.commit()
    run_jobs()
    sweep_tasks(datetime(2026, 3, 11, 7, tzinfo=timezone.utc))
    run_jobs()
    messages = mailbox.wait_for(2)
    reminder = [m for m in messages if m["Subject"].startswith("Reminder")]
    assert len(reminder) == 1 and reminder[0]["To"] == "dr.english@example.test"
    body = mailbox.text(reminder[0]) + mailbox.html(reminder[0])
    assert req.reference in body and "Tuesday, April 7, 2026" in body and "/task/" in body
    # Nothing of the patient: neither their name nor what they wrote (health data).
    for secret in ("Zoé", "Confidentielle", "asthma", "english@example.test"):
        assert secret not in body and secret not in reminder[0]["Subject"]


@pytest.mark.postgres
def test_two_sweeps_at_once_send_each_reminder_once(app, policy):
    for n in range(5):
        routed_request(policy, email=f"concurrent{n}@example.test", pro_email=f"dr{n}@example.test")
    now = datetime(2026, 3, 11, 7, tzinfo=timezone.utc)
    results, errors = [], []
    barrier = threading.Barrier(2)

    def worker():
        try:
            with app.app_context():       # each thread is a worker of its own, on the test database
                barrier.wait()
                results.append(sweep_tasks(now))
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert sum(r["reminders"] for r in results) == 5
    assert len(sent("task_reminder")) == 5
