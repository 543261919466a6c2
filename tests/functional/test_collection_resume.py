"""Nothing lost, nothing twice: a worker killed mid-collection, and the application database cut off mid-run,
both resume from the tables not finished; every row is collected exactly once; the audit trail shows it (issue 16)."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import sqlalchemy as sa

from dsar.extensions import db
from dsar.models.enums import SubjectKind
from dsar.models.systems import RunStatus
from dsar.systems import collection
from dsar.systems.tables import read_table
from tests.appdb import ROOT, appdb  # noqa: F401 - the fixture
from tests.collection_support import events, open_request, runs, systems_app

CHILD = r"""
import json, sys, time
from dsar import create_app
from dsar.systems import collection

config, run_id = json.loads(sys.argv[1]), int(sys.argv[2])
original = collection._TableRecorder.done

def slow_done(self, table, entry):
    original(self, table, entry)
    if len(self.run.progress) >= 2:
        print("two tables recorded", flush=True)
        time.sleep(60)          # killed here, by the test

collection._TableRecorder.done = slow_done
app = create_app(config)
with app.app_context():
    collection.collect_run(run_id)
"""


@pytest.fixture
def sapp(make_app, appdb):
    # Jobs are not dispatched by this test's app: the test runs them itself, as a worker would.
    app = systems_app(make_app, REDIS_URL=None)
    with app.app_context():
        yield app


def _pending_run(sapp, monkeypatch, email, kind=SubjectKind.PROFESSIONAL):
    monkeypatch.setattr(collection, "enqueue_after_commit", lambda *a, **k: None)
    req = open_request(sapp.extensions["dsar_policy"], email=email, subject_kind=kind)
    run = runs(req)["application"]
    assert run.status == RunStatus.PENDING
    return req, run


def _expected_rows(appdb, pro_key):
    pro = appdb.ids["professionals"][pro_key]
    return len(appdb.rows("invoices", "professional_id = :p", p=pro))


def test_a_worker_killed_mid_collection_resumes_without_collecting_twice(sapp, appdb, monkeypatch):
    req, run = _pending_run(sapp, monkeypatch, "dr.martin@app.test")
    config = {k: sapp.config[k] for k in ("DSAR_ENV", "SQLALCHEMY_DATABASE_URI", "DSAR_FILES_DIR", "DSAR_SYSTEMS",
                                          "DSAR_FILE_KEYS", "SECRET_KEY", "MAIL_BACKEND", "MAIL_SERVER", "MAIL_PORT")}
    config.update(INSTANCE_PATH=sapp.instance_path, REDIS_URL=None)
    child = subprocess.Popen([sys.executable, "-c", CHILD, json.dumps(config), str(run.id)], cwd=ROOT,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=dict(os.environ))
    try:
        line = child.stdout.readline().decode()
        assert "two tables recorded" in line, child.stderr.read().decode()[-2000:]
        child.send_signal(signal.SIGKILL)   # the worker dies mid-run
        child.wait(10)
    finally:
        if child.poll() is None:
            child.kill()
    db.session.expire_all()
    run = runs(req)["application"]
    assert run.status == RunStatus.RUNNING and len(run.progress) == 2
    first = {t: dict(e) for t, e in run.progress.items()}
    collection.collect_run(run.id)          # the job again, as RQ redelivers it (or the DPO's "run again")
    run = runs(req)["application"]
    assert run.status == RunStatus.DONE and run.attempts == 2
    for table, entry in first.items():
        assert run.progress[table] == entry, f"{table} was collected twice"
    assert run.rows["invoices"] == _expected_rows(appdb, "pro-martin")
    assert run.rows["professionals"] == 1 and run.rows["accounts"] == 1
    attempts = events(req, "collection_attempt")
    assert [e.details["attempt"] for e in attempts] == [1, 2]
    assert sorted(attempts[1].details["tables_already_done"]) == sorted(first)
    assert len(events(req, "collection_done")) == 1
    # Every row once: the stored table files hold each key once.
    from dsar.services.documents import file_store

    for table, entry in run.progress.items():
        keys = [r["id"] for r in read_table(file_store(), entry)]
        assert len(keys) == len(set(keys)) == entry["rows"]


@pytest.mark.postgres
def test_the_application_database_cut_off_mid_run_fails_visibly_then_resumes(sapp, appdb, monkeypatch):
    req, run = _pending_run(sapp, monkeypatch, "alice@app.test", kind=SubjectKind.PATIENT)
    name = sa.engine.make_url(appdb.write_url).database
    original = collection._TableRecorder.done
    cut = {"done": False}

    def done_then_cut(self, table, entry):
        original(self, table, entry)
        if len(self.run.progress) == 3 and not cut["done"]:
            cut["done"] = True
            admin = sa.create_engine(appdb.write_url.rsplit("/", 1)[0] + "/postgres", isolation_level="AUTOCOMMIT")
            with admin.connect() as c:
                killed = c.execute(sa.text("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                                           "WHERE datname = :d AND pid <> pg_backend_pid()"), {"d": name}).scalar()
            admin.dispose()
            assert killed >= 1

    monkeypatch.setattr(collection._TableRecorder, "done", done_then_cut)
    with pytest.raises(sa.exc.OperationalError):
        collection.collect_run(run.id)
    run = runs(req)["application"]
    assert run.status == RunStatus.FAILED and len(run.progress) == 3
    assert "terminat" in run.error and "alice" not in run.error
    failed = events(req, "collection_failed")
    assert len(failed) == 1 and failed[0].details["error"] == run.error
    first = {t: dict(e) for t, e in run.progress.items()}
    # The DPO's "run again" (the retry does the same): only what did not finish is collected.
    from dsar.actors import Actor
    from dsar.systems.collection import run_again

    run_again(run, Actor.system("dpo-test"))
    db.session.commit()
    collection.collect_run(run.id)
    run = runs(req)["application"]
    assert run.status == RunStatus.DONE, run.error
    for table, entry in first.items():
        assert run.progress[table] == entry
    alice_pat = appdb.ids["patients"]["pat-alice"]
    convs = [r["id"] for r in appdb.rows("conversations", "patient_id = :p", p=alice_pat)]
    assert run.rows["messages"] == len([m for m in appdb.rows("messages") if m["conversation_id"] in convs])
    actions = [e.action for e in events(req, "collection_attempt") + events(req, "collection_failed")
               + events(req, "collection_rerun") + events(req, "collection_done")]
    assert sorted(actions) == sorted(["collection_attempt", "collection_attempt", "collection_failed",
                                      "collection_rerun", "collection_done"])


def test_the_sweep_retries_a_failed_system_with_growing_intervals_then_leaves_it_to_the_dpo(sapp, appdb, monkeypatch):
    """Embedded mode (no RQ retries): the periodic sweep retries; after MAX_AUTO_ATTEMPTS the DPO decides."""
    from datetime import timedelta

    from dsar.models import utcnow

    req, run = _pending_run(sapp, monkeypatch, "dr.durand@app.test")
    monkeypatch.setenv("DSAR_APP_DB_READ_URL", "sqlite:////nonexistent/dir/app.sqlite3")
    with pytest.raises(Exception):
        collection.collect_run(run.id)
    run = runs(req)["application"]
    assert run.status == RunStatus.FAILED and run.attempts == 1
    dispatched = []
    monkeypatch.setattr(collection, "enqueue_after_commit", lambda f, *a, **k: dispatched.append(a))
    collection.sweep_runs()
    assert dispatched == []                 # 10 s have not passed since the attempt
    run.started_at = utcnow() - timedelta(seconds=11)
    db.session.commit()
    collection.sweep_runs()
    assert dispatched == [(run.id,)]
    run = runs(req)["application"]
    run.attempts = collection.MAX_AUTO_ATTEMPTS
    run.started_at = utcnow() - timedelta(days=1)
    db.session.commit()
    dispatched.clear()
    collection.sweep_runs()
    assert dispatched == []                 # left to the DPO's "run again"
    monkeypatch.setenv("DSAR_APP_DB_READ_URL", appdb.read_url)
    collection.collect_run(run.id)
    assert runs(req)["application"].status == RunStatus.DONE
