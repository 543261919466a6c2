"""The job interface: run after commit, never after rollback, exactly once — in-process and on RQ."""
import uuid

import pytest
import sqlalchemy as sa

from dsar.extensions import db
from dsar.jobs import enqueue_after_commit
from dsar.models import Event
from jobs_for_tests import record_run


def runs(token: str) -> int:
    """Count the job's traces through a connection of its own (the test's session stays as it is)."""
    with db.engine.connect() as conn:
        return conn.scalar(sa.select(sa.func.count()).select_from(Event).where(Event.stream == f"test:{token}"))


def test_a_job_enqueued_in_a_transaction_that_rolls_back_never_runs(app, run_jobs):
    token = uuid.uuid4().hex
    enqueue_after_commit(record_run, token)
    db.session.rollback()
    run_jobs()
    assert runs(token) == 0


def test_a_job_enqueued_in_a_transaction_that_commits_runs_exactly_once(app, run_jobs):
    token = uuid.uuid4().hex
    enqueue_after_commit(record_run, token)
    db.session.commit()
    run_jobs()
    run_jobs()  # a second pass finds nothing more to do
    assert runs(token) == 1


def test_a_job_is_not_run_before_the_commit(app, run_jobs):
    token = uuid.uuid4().hex
    enqueue_after_commit(record_run, token)
    db.session.flush()
    run_jobs()
    assert runs(token) == 0
    db.session.commit()
    run_jobs()
    assert runs(token) == 1


def test_job_arguments_must_be_ids_not_objects(app):
    with pytest.raises(TypeError, match="ids"):
        enqueue_after_commit(record_run, {"email": "someone@example.test"})


@pytest.mark.redis
@pytest.mark.postgres
def test_a_deterministic_job_id_is_not_queued_twice(app, run_jobs):
    token = uuid.uuid4().hex
    enqueue_after_commit(record_run, token, job_id=f"once-{token}")
    db.session.commit()
    enqueue_after_commit(record_run, token, job_id=f"once-{token}")
    db.session.commit()
    assert app.extensions["dsar_jobs"].queue().count == 1
    run_jobs()
    assert runs(token) == 1


@pytest.mark.redis
@pytest.mark.postgres
def test_rq_backend_is_used_with_redis(app):
    assert app.extensions["dsar_jobs"].name == "rq"


def test_in_process_backend_is_used_without_redis(make_app):
    app = make_app(REDIS_URL=None)
    assert app.extensions["dsar_jobs"].name == "in-process"


def test_periodic_jobs_run_in_process_when_due_and_not_before(app, monkeypatch):
    from dsar.jobs import schedule

    calls = []
    monkeypatch.setattr(schedule, "PERIODIC", [
        schedule.Periodic("every-minute", "jobs_for_tests.record_run", interval=60),
    ])
    monkeypatch.setattr("jobs_for_tests.record_run", lambda: calls.append(1))
    scheduler = schedule.InProcessScheduler(app)
    assert scheduler.run_once(now=1000.0) == ["every-minute"]     # an interval job runs at once
    assert scheduler.run_once(now=1030.0) == []
    assert scheduler.run_once(now=1060.0) == ["every-minute"]
    assert len(calls) == 2


def test_the_scheduler_registers_every_periodic_job(app):
    from dsar.jobs import resolve, schedule
    from dsar.jobs.scheduler import build_scheduler

    scheduler = build_scheduler(connection=None, lock=None, queue_name="dsar")
    assert {j.name for j in scheduler.get_jobs()} == {p.name for p in schedule.PERIODIC}
    for p in schedule.PERIODIC:
        assert callable(resolve(p.func_path))


def test_rq_cron_config_now_points_to_the_locked_scheduler():
    """`rq cron dsar.jobs.cron_config` had no lock (two of them ran every job twice): it now refuses with a pointer."""
    import importlib

    with pytest.raises(SystemExit, match="dsar scheduler"):
        importlib.import_module("dsar.jobs.cron_config")



@pytest.mark.redis
def test_a_scheduler_whose_lock_vanished_stops_cleanly(app):
    """Redis restarted empty (fault_redis_outage.py): the lock and RQ's registry are gone; the scheduler stops
    without a traceback, and systemd's restart takes the lock anew."""
    from rq.exceptions import StopRequested

    from dsar.jobs.scheduler import LOCK_KEY, LockedCronScheduler

    redis = app.extensions["dsar_jobs"].redis
    lock = redis.lock(LOCK_KEY, timeout=30, thread_local=False)
    assert lock.acquire(blocking=False)
    scheduler = LockedCronScheduler(redis, lock)
    scheduler.register_birth()
    scheduler.heartbeat()                         # holds the lock: beats
    redis.flushdb()                               # Redis came back empty
    with pytest.raises(StopRequested):
        scheduler.heartbeat()
    scheduler.register_death()                    # nothing to unregister: no error
