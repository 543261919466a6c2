"""The transactional outbox: written with the change, sent after the commit, never twice."""
import socket

import pytest
import sqlalchemy as sa

from dsar.extensions import db
from health_support import alive
from dsar.jobs.outbox import deliver, sweep_outbox
from dsar.models import OutboxMessage
from dsar.services.notifications import as_sent, queue_email
from waiting import holds

NOTICE = {"title": "Test notice", "paragraphs": ["First paragraph."], "link": "http://localhost/x"}


def outbox_rows():
    db.session.remove()
    return db.session.scalars(sa.select(OutboxMessage).order_by(OutboxMessage.id)).all()


def test_an_email_is_sent_once_after_the_commit(app, mailbox, run_jobs):
    queue_email("someone@example.test", "notice", "fr", NOTICE)
    db.session.commit()
    run_jobs()
    mailbox.wait_for(1)
    [row] = outbox_rows()
    assert row.status == "sent" and row.attempts == 1 and row.sent_at is not None
    msg = mailbox.messages[0]
    assert msg["To"] == "someone@example.test"
    assert msg["Subject"] == "Test notice"
    assert msg["Message-ID"] == row.message_id
    assert "First paragraph." in mailbox.text(msg)
    assert "First paragraph." in mailbox.html(msg)


def test_a_retry_of_a_sent_message_sends_nothing(app, mailbox, run_jobs):
    msg = queue_email("someone@example.test", "notice", "en", NOTICE)
    db.session.commit()
    run_jobs()
    mailbox.wait_for(1)
    assert deliver(msg.id) == "skipped"   # what an RQ retry or a duplicate job would do
    holds(lambda: len(mailbox.messages) == 1, 0.2, what="one email")


def test_an_email_written_in_a_rolled_back_transaction_is_never_sent(app, mailbox, run_jobs):
    queue_email("someone@example.test", "notice", "fr", NOTICE)
    db.session.rollback()
    run_jobs()
    holds(lambda: mailbox.messages == [], 0.2, what="no email")
    assert outbox_rows() == []


def test_a_failed_send_is_retried_by_the_sweep_and_then_sent_once(make_app, mailbox, smtp_server):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]
    broken = make_app(MAIL_PORT=closed_port)
    with broken.app_context():
        msg = queue_email("someone@example.test", "notice", "fr", NOTICE)
        db.session.commit()
        message_id = msg.id
        if broken.extensions["dsar_jobs"].name == "rq":
            with pytest.raises(ConnectionRefusedError):
                deliver(message_id)
        row = db.session.get(OutboxMessage, message_id)
        db.session.refresh(row)
        assert row.status == "pending" and row.attempts == 1
        assert "ConnectionRefusedError" in row.last_error
        assert "someone@example.test" not in row.last_error
        row.next_attempt_at = row.created_at  # the back-off has passed
        db.session.commit()
    # The same deployment, mail fixed: the same file keys open the sealed email (each test app draws its own).
    fixed = make_app(DSAR_FILE_KEYS=broken.config["DSAR_FILE_KEYS"])
    with fixed.app_context():
        assert sweep_outbox() == 1
        if fixed.extensions["dsar_jobs"].name == "rq":
            from rq import SimpleWorker

            backend = fixed.extensions["dsar_jobs"]
            SimpleWorker([backend.queue()], connection=backend.redis).work(burst=True)
        mailbox.wait_for(1)
        assert sweep_outbox() == 0
        row = db.session.get(OutboxMessage, message_id)
        db.session.refresh(row)
        assert row.status == "sent" and row.attempts == 2
    assert len(mailbox.messages) == 1


def test_a_header_injection_in_the_recipient_is_refused(app):
    with pytest.raises(ValueError):
        queue_email("a@example.test\r\nBcc: victim@example.test", "notice", "fr", NOTICE)


def test_a_subject_never_spans_lines(app):
    msg = queue_email("a@example.test", "notice", "fr", dict(NOTICE, title="Hello\r\nBcc: x@example.test"))
    subject = as_sent(msg)[0]   # rendered by the delivery job (issue 19 item 7)
    assert "Hello" in subject and "\n" not in subject and "\r" not in subject


# --- a real Redis outage ----------------------------------------------------------------------------------


@pytest.mark.redis
@pytest.mark.postgres
def test_emails_written_while_redis_is_down_are_delivered_once_it_is_back(make_app, mailbox, private_redis):
    app = make_app(REDIS_URL=private_redis.url)
    client = app.test_client()
    private_redis.stop()
    with app.app_context():
        assert client.get("/health").status_code == 503
        for i in range(20):
            queue_email(f"person{i}@example.test", "notice", "fr", NOTICE)
            db.session.commit()   # the enqueue fails after the commit; the rows stay
        assert {r.status for r in outbox_rows()} == {"pending"}
    private_redis.start()
    alive(app)              # a worker and the scheduler beating: /health checks them too
    with app.app_context():
        assert client.get("/health").status_code == 200
        backend = app.extensions["dsar_jobs"]
        backend._redis = None
        assert sweep_outbox() == 20      # what `rq cron` runs every minute
        assert sweep_outbox() == 20      # run twice: the deterministic job ids keep one job each
        assert backend.queue().count == 20
        from rq import SimpleWorker

        SimpleWorker([backend.queue()], connection=backend.redis).work(burst=True)
        mailbox.wait_for(20)
        assert {r.status for r in outbox_rows()} == {"sent"}
    holds(lambda: len(mailbox.messages) == 20, what="no email twice")
    recipients = sorted(m["To"] for m in mailbox.messages)
    assert recipients == sorted(f"person{i}@example.test" for i in range(20))


def test_a_dead_workers_claim_is_released_once_the_send_timeout_has_passed(app, mailbox, run_jobs):
    """The claim timeout matches the send timeout (issue 14, item 7): a message held by a killed worker goes out
    about two minutes later, not ten; a claim younger than a send may take is left alone (no second send)."""
    from datetime import timedelta

    from dsar.jobs.outbox import CLAIM_TIMEOUT, SEND_TIMEOUT
    from dsar.models import utcnow

    assert timedelta(seconds=SEND_TIMEOUT) < CLAIM_TIMEOUT <= timedelta(seconds=SEND_TIMEOUT + 30)
    assert app.config["MAIL_TIMEOUT"] < SEND_TIMEOUT
    msg = queue_email("held@example.test", "notice", "fr", NOTICE)
    db.session.flush()
    msg_id = msg.id
    db.session.execute(sa.update(OutboxMessage).where(OutboxMessage.id == msg_id).values(
        status="sending", attempts=1, claimed_at=utcnow() - timedelta(seconds=SEND_TIMEOUT)))
    db.session.commit()
    run_jobs()                                          # the job finds it claimed: skipped
    assert sweep_outbox() == 0 and outbox_rows()[0].status == "sending"
    db.session.execute(sa.update(OutboxMessage).where(OutboxMessage.id == msg_id).values(
        claimed_at=utcnow() - CLAIM_TIMEOUT - timedelta(seconds=1)))
    db.session.commit()
    assert sweep_outbox() == 1
    run_jobs()
    mailbox.wait_for(1)
    [row] = outbox_rows()
    assert (row.status, row.attempts) == ("sent", 2)


@pytest.mark.redis
def test_a_message_whose_job_was_lost_by_a_killed_worker_is_queued_again_and_sent_once(app, mailbox, run_jobs):
    """A worker killed between taking a job from Redis and claiming its message leaves RQ believing the job queued,
    in no queue (bench/fault_worker_kill.py, 2026-11-30: one email in 300 never went out). Once the message is
    LOST_JOB_AFTER overdue, the sweep queues it under a new job id."""
    from datetime import timedelta

    from rq.job import Job, JobStatus

    from dsar.jobs.outbox import LOST_JOB_AFTER
    from dsar.models import utcnow

    backend = app.extensions["dsar_jobs"]
    msg = queue_email("lost@example.test", "notice", "fr", NOTICE)
    db.session.commit()
    msg_id = msg.id
    job_id = f"outbox-{msg_id}"
    assert backend.redis.lrem(backend.queue().key, 0, job_id) == 1      # taken by the worker that is then killed
    assert Job.fetch(job_id, connection=backend.redis).get_status() == JobStatus.QUEUED
    assert sweep_outbox() == 1 and backend.queue().count == 0           # just due: its job is believed waiting
    db.session.execute(sa.update(OutboxMessage).where(OutboxMessage.id == msg_id).values(
        next_attempt_at=utcnow() - LOST_JOB_AFTER - timedelta(seconds=1)))
    db.session.commit()
    assert sweep_outbox() == 1 and backend.queue().count == 1
    run_jobs()
    mailbox.wait_for(1)
    [row] = outbox_rows()
    assert (row.status, row.attempts) == ("sent", 1)
    holds(lambda: len(mailbox.messages) == 1, 0.2, what="one email")


@pytest.mark.redis
def test_a_delivery_job_is_killed_by_rq_at_the_send_timeout(app):
    from rq import Queue

    from dsar.jobs.outbox import SEND_TIMEOUT

    msg = queue_email("someone@example.test", "notice", "fr", NOTICE)
    db.session.commit()
    backend = app.extensions["dsar_jobs"]
    [job] = Queue(backend.queue_name, connection=backend.redis).get_jobs()
    assert job.id == f"outbox-{msg.id}" and job.timeout == SEND_TIMEOUT


@pytest.mark.redis
def test_a_refused_delivery_is_retried_by_the_sweep_without_any_rq_scheduler(make_app, mailbox):
    """A retry never waits on RQ's scheduler (issue 14, item 8): after a killed worker it may not be there. The
    failed job is left failed, and the outbox sweep queues the message again once its back-off has passed."""
    from rq import SimpleWorker
    from rq.job import Job, JobStatus

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]
    broken = make_app(MAIL_PORT=closed_port)
    with broken.app_context():
        backend = broken.extensions["dsar_jobs"]
        msg = queue_email("someone@example.test", "notice", "fr", NOTICE)
        db.session.commit()
        message_id = msg.id   # known once the commit inserted it (queue_email does not flush)
        SimpleWorker([backend.queue()], connection=backend.redis).work(burst=True, with_scheduler=False)
        assert Job.fetch(f"outbox-{message_id}", connection=backend.redis).get_status() == JobStatus.FAILED
        row = db.session.get(OutboxMessage, message_id)
        db.session.refresh(row)
        assert (row.status, row.attempts) == ("pending", 1)
        row.next_attempt_at = row.created_at      # the back-off has passed
        db.session.commit()
    fixed = make_app()
    with fixed.app_context():
        assert sweep_outbox() == 1
        backend = fixed.extensions["dsar_jobs"]
        SimpleWorker([backend.queue()], connection=backend.redis).work(burst=True, with_scheduler=False)
        mailbox.wait_for(1)
        row = db.session.get(OutboxMessage, message_id)
        db.session.refresh(row)
        assert (row.status, row.attempts) == ("sent", 2)


# --- one outbox: its transports, one INSERT and one Redis pipeline per commit (issues 15, 19) ---------------


def test_a_message_that_no_transport_claims_fails_loudly(app, run_jobs, caplog):
    from dsar.services import outbox

    msg = outbox.queue(kind="fax", template="notice", recipient="+33 1 23 45 67 89", body_text="x",
                       message_id="<fax-1@example.test>")
    with pytest.raises(outbox.UnknownTransport, match="'fax'"):
        outbox.transport_for(msg)
    db.session.commit()
    run_jobs()
    [row] = outbox_rows()
    assert row.status == "pending" and row.attempts == 1 and row.sent_at is None   # failed, retried with back-off
    assert row.last_error.startswith("UnknownTransport: no transport is registered for outbox messages of kind 'fax'")


def test_messages_queued_together_are_one_insert_and_their_jobs_one_redis_round_trip(app, mailbox, run_jobs,
                                                                                       monkeypatch):
    """No flush per message: the commit inserts them together and the delivery jobs get their ids after it; the
    jobs of the commit go to Redis in one pipeline, with no lookup for a new message's job id."""
    from redis.connection import Connection

    inserts, round_trips = [], [0]
    send = Connection.send_packed_command

    def counted(self, *args, **kwargs):
        round_trips[0] += 1
        return send(self, *args, **kwargs)

    def on_execute(conn, cursor, statement, *args):
        if statement.lstrip().upper().startswith("INSERT INTO OUTBOX"):
            inserts.append(statement)

    monkeypatch.setattr(Connection, "send_packed_command", counted)
    db.session.execute(sa.text("SELECT 1"))   # the session's connection is open before counting
    sa.event.listen(db.engine, "before_cursor_execute", on_execute)
    try:
        costs = []
        for count in (1, 2, 12):   # the first commit opens the Redis connection
            inserts.clear()
            round_trips[0] = 0
            messages = [queue_email(f"person{i}@example.test", "notice", "fr", NOTICE) for i in range(count)]
            assert {m.id for m in messages} == {None}   # nothing flushed yet
            db.session.commit()
            costs.append((len(inserts), round_trips[0]))
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", on_execute)
    rq = app.extensions["dsar_jobs"].name == "rq"
    assert [trips for _, trips in costs[1:]] == ([1, 1] if rq else [0, 0])   # one pipeline, whatever the count
    if db.engine.dialect.name == "postgresql":
        assert [rows for rows, _ in costs] == [1, 1, 1]   # one multi-row INSERT (SQLite's driver inserts row by row)
    run_jobs()
    mailbox.wait_for(15)
    assert {r.status for r in outbox_rows()} == {"sent"}
    holds(lambda: len(mailbox.messages) == 15, 0.2, what="each email once")
