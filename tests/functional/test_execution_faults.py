"""Faults during an erasure (issue 17): the application database cut between two tables, a worker killed.

After the resume the application database is in the state a run without faults leaves (compared with a
second application database erased without faults), no table is done twice, and the audit trail shows
each attempt. PostgreSQL (``pg_terminate_backend``) and Redis (a real ``dsar worker``): second pass only.
"""
from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from dsar import demo_appdb
from dsar.extensions import db
from dsar.models import SystemRun
from dsar.models.systems import RunStatus
from dsar.systems import execution
from tests.appdb import AppDb, appdb  # noqa: F401 - the fixture
from tests.collection_support import events, systems_app
from tests.functional.test_execution import approved_dry_run, erasure_request, run_all, staff
from tests.functional.test_faults import _alive, _descendants, _worker_env

pytestmark = [pytest.mark.postgres, pytest.mark.redis]
ROOT = Path(__file__).resolve().parents[2]
#: Tables done children first: devices, documents, messages are done before this one, conversations after.
#: Locked in SHARE mode: reads go on (the worker's start-up schema check), the execution's DELETE waits.
LOCKED = "conversation_members"


@pytest.fixture
def sapp(make_app, appdb, policy_without_handover):
    # A policy that destroys shared health content on request, so that erasures reach the sealed tables and the
    # professional in charge approves (policy art. 8.2); IDOMED's own keeps it: see test_execution.py, the end.
    app = systems_app(make_app, DSAR_POLICY=policy_without_handover)
    with app.app_context():
        yield app


@pytest.fixture
def policy(sapp):
    return sapp.extensions["dsar_policy"]


def state(url: str) -> dict:
    """Every row of every table; the execution instant (archived_at) reduced to set / not set."""
    engine = sa.create_engine(url)
    out = {}
    with engine.connect() as conn:
        for table in demo_appdb.APP_METADATA.sorted_tables:
            rows = []
            for row in conn.execute(sa.select(table).order_by(*table.primary_key.columns)):
                m = dict(row._mapping)
                if "archived_at" in m:
                    m["archived_at"] = m["archived_at"] is not None
                rows.append({k: hashlib.sha256(bytes(v)).hexdigest() if isinstance(v, (bytes, memoryview)) else v
                             for k, v in m.items()})
            out[table.name] = rows
    engine.dispose()
    return out


@pytest.fixture
def fault_free(sapp, policy, monkeypatch, appdb):
    """The end state of the same erasure on a twin application database, without faults."""
    twin = AppDb.create("postgresql")
    try:
        for k, v in twin.env().items():
            monkeypatch.setenv(k, v)
        req = erasure_request(policy)
        execution.execute(approved_dry_run(req), staff())
        db.session.commit()
        run_all(sapp)
        expected = state(twin.write_url)
    finally:
        for k, v in appdb.env().items():
            monkeypatch.setenv(k, v)
        twin.drop()
    assert expected != state(appdb.write_url)      # the twin was erased; this one not yet
    return expected


def lock_waiter(admin: sa.Connection, database: str, timeout: float = 30) -> int:
    """The backend of the application database that waits on our lock (the execution, stuck on LOCKED)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        # Inside a transaction the statistics views are a snapshot taken at first use: take a new one.
        admin.execute(sa.text("SELECT pg_stat_clear_snapshot()"))
        pid = admin.execute(sa.text(
            "SELECT pid FROM pg_stat_activity WHERE datname = :d AND wait_event_type = 'Lock' "
            "AND pid <> pg_backend_pid()"), {"d": database}).scalar()
        if pid:
            return pid
        time.sleep(0.05)
    raise AssertionError("the execution never reached the locked table")


def started_run(policy, req=None):
    req = req or erasure_request(policy)
    dr = execution.execute(approved_dry_run(req), staff())
    db.session.commit()
    [run] = db.session.scalars(sa.select(SystemRun).where(SystemRun.id.in_(dr.run_ids))).all()
    return req, run


def test_the_app_database_cut_between_two_tables_then_resume_ends_as_a_fault_free_run(sapp, appdb, policy, fault_free):
    req, run = started_run(policy)
    locker_engine = appdb.engine()
    locker = locker_engine.connect()
    tx = locker.begin()
    locker.execute(sa.text(f"LOCK TABLE {LOCKED} IN SHARE MODE"))
    errors = []

    def work():
        with sapp.app_context():
            try:
                execution.execute_run(run.id)
            except Exception as exc:  # noqa: BLE001 - the job raises on failure; we look at it below
                errors.append(exc)

    worker = threading.Thread(target=work)
    worker.start()
    try:
        pid = lock_waiter(locker, sa.engine.make_url(appdb.write_url).database)
        # The application database goes away under the execution, between two tables.
        assert locker.execute(sa.text("SELECT pg_terminate_backend(:p)"), {"p": pid}).scalar() is True
    finally:
        tx.rollback()
        locker.close()
        locker_engine.dispose()
    worker.join(60)
    assert errors and isinstance(errors[0], sa.exc.OperationalError)
    db.session.expire_all()
    run = db.session.get(SystemRun, run.id)
    assert run.status == RunStatus.FAILED and run.attempts == 1
    assert sorted(run.progress) == ["devices", "documents", "messages"]
    assert "personal" not in (run.error or "") and "alice" not in (run.error or "").lower()

    execution.resume(db.session.get(type(req), req.id), staff())
    db.session.commit()
    run_all(sapp)
    db.session.expire_all()
    run = db.session.get(SystemRun, run.id)
    assert run.status == RunStatus.DONE and run.attempts == 2
    assert state(appdb.write_url) == fault_free
    done = [e.details["table"] for e in events(req, "execution_table_done")]
    assert sorted(done) == sorted(set(done)) == ["conversation_members", "conversations", "devices", "documents",
                                                 "messages", "patients"]       # each table once
    assert [e.details["attempt"] for e in events(req, "execution_attempt")] == [1, 2]
    assert [e.details["tables_done"] for e in events(req, "execution_failed")] == [["devices", "documents", "messages"]]


def test_a_worker_killed_mid_erasure_is_retried_and_ends_as_a_fault_free_run(sapp, appdb, policy, fault_free, tmp_path):
    from rq.job import Job
    from rq.registry import ScheduledJobRegistry, StartedJobRegistry

    backend = sapp.extensions["dsar_jobs"]
    req, run = started_run(policy)
    locker_engine = appdb.engine()
    locker = locker_engine.connect()
    tx = locker.begin()
    locker.execute(sa.text(f"LOCK TABLE {LOCKED} IN SHARE MODE"))
    env = _worker_env(sapp, 25, tmp_path)
    env.update({"DSAR_SYSTEMS": sapp.config["DSAR_SYSTEMS"], "DSAR_HASH_KEY": sapp.config["DSAR_HASH_KEY"],
                "DSAR_POLICY": sapp.config["DSAR_POLICY"],
                "DSAR_FILES_DIR": sapp.config["DSAR_FILES_DIR"], **appdb.env()})
    worker = subprocess.Popen([str(Path(sys.executable).parent / "dsar"), "worker"], cwd=ROOT, env=env,
                              start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        lock_waiter(locker, sa.engine.make_url(appdb.write_url).database, timeout=60)
        family = [worker.pid, *_descendants(worker.pid)]
        for pid in reversed(family):
            os.kill(pid, signal.SIGKILL)
        worker.wait(10)
        time.sleep(0.5)
        assert not any(_alive(pid) for pid in family)
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGKILL)
        tx.rollback()
        locker.close()
        locker_engine.dispose()
    db.session.expire_all()
    run = db.session.get(SystemRun, run.id)
    assert run.status == RunStatus.RUNNING and run.attempts == 1
    assert sorted(run.progress) == ["devices", "documents", "messages"]

    # RQ's maintenance finds the dead worker's job once its heartbeat expired, and retries it.
    queue = backend.queue()
    StartedJobRegistry(queue=queue).cleanup(timestamp=time.time() + 3600)
    scheduled = ScheduledJobRegistry(queue=queue)
    assert run.job_id in scheduled.get_job_ids()
    queue.enqueue_job(Job.fetch(run.job_id, connection=backend.redis))
    scheduled.remove(run.job_id)
    run_all(sapp)
    db.session.expire_all()
    run = db.session.get(SystemRun, run.id)
    assert run.status == RunStatus.DONE and run.attempts == 2
    assert state(appdb.write_url) == fault_free
    done = [e.details["table"] for e in events(req, "execution_table_done")]
    assert len(done) == len(set(done)) == 6
    assert [e.details["attempt"] for e in events(req, "execution_attempt")] == [1, 2]
