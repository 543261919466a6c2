"""Fault tolerance, the short versions (issue 9); the long runs are bench/fault_*.py, recorded in bench/RESULTS.md.

- Redis stopped in the middle of a burst of API submissions, and started again empty: every submission
  is answered 201; once Redis is back, the outbox sweep (what ``rq cron`` runs every minute) queues what
  was lost, and every email goes out exactly once.
- An RQ worker killed (SIGKILL, the whole process group) while its job is in the middle of an SMTP
  conversation: the job runs again (RQ retries an abandoned job), the retry sends nothing twice, and the
  outbox sweep sends the email once the dead worker's claim has timed out — exactly one email arrives.
- PostgreSQL connections cut while the service is under load (every backend of the database terminated,
  what a restart does to the application): the service answers again at once, no request is half
  written, and retrying the failed submissions with their client_reference ends with each request
  stored exactly once. (Restarting the shared cluster itself would break the other runs on this machine:
  bench/fault_postgres_restart.py restarts a cluster of its own.)

These need Redis and PostgreSQL: they run in the second pass of ``make test``.
"""
from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
import time_machine

from api_support import account_request_body, bearer, make_key
from health_support import alive
from dsar.extensions import db
from dsar.models import DataRequest, Event, OutboxMessage, RequestSubject, Requester, utcnow
from dsar.jobs.outbox import CLAIM_TIMEOUT, sweep_outbox

pytestmark = [pytest.mark.postgres, pytest.mark.redis]
ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _submission(i: int, run: str) -> dict:
    body = account_request_body(client_reference=f"{run}-{i:04d}", external_account_id=f"acct-{i}")
    body["subject"] = dict(body["subject"], email=f"patient{i}.{run}@example.test")
    return body


def _burst_worker(backend) -> None:
    from rq import SimpleWorker

    SimpleWorker([backend.queue()], connection=backend.redis).work(burst=True, with_scheduler=False)


def _every_request_is_whole() -> int:
    """Each request has its subject, its requester and its 'received' event (the transaction is all or nothing)."""
    db.session.rollback()
    ids = db.session.scalars(sa.select(DataRequest.id)).all()
    subjects = set(db.session.scalars(sa.select(RequestSubject.request_id)).all())
    requesters = set(db.session.scalars(sa.select(Requester.request_id)).all())
    received = set(db.session.scalars(sa.select(Event.request_id).where(Event.action == "received")).all())
    emailed = set(db.session.scalars(sa.select(OutboxMessage.request_id)).all())
    for request_id in ids:
        assert request_id in subjects and request_id in requesters and request_id in received, request_id
        assert request_id in emailed, request_id   # its first email was written with it
    return len(ids)


# --- Redis stopped during submissions ----------------------------------------------------------------------


def test_redis_stopped_during_submissions_loses_nothing_and_sends_each_email_once(make_app, mailbox, private_redis):
    # As in production: Redis holds the job queue and the rate-limit counters.
    app = make_app(REDIS_URL=private_redis.url, RATELIMIT_ENABLED=True, RATELIMIT_STORAGE_URI=private_redis.url)
    run = uuid.uuid4().hex[:6]
    total, stop_at, start_at = 90, 30, 60
    with app.app_context():
        _, secret = make_key("submit")
        client = app.test_client()
        codes = []
        for i in range(total):
            if i == stop_at:
                private_redis.stop()
                assert client.get("/health").status_code == 503   # monitoring sees the queue down
            if i == start_at:
                private_redis.start()
                alive(app)          # a worker and the scheduler beat again (/health checks them too)
            r = client.post("/api/v1/requests", json=_submission(i, run), headers=bearer(secret))
            codes.append(r.status_code)
        assert codes == [201] * total, codes   # the outage never reached the people submitting
        assert client.get("/health").status_code == 200
        assert _every_request_is_whole() == total

        backend = app.extensions["dsar_jobs"]
        # The jobs queued before the crash died with it; those of the outage were never queued.
        assert backend.queue().count == total - start_at
        queued = sweep_outbox()                  # what `rq cron` runs every minute
        assert queued == total
        assert backend.queue().count == total    # deterministic job ids: no job twice
        _burst_worker(backend)
        mailbox.wait_for(total)
        assert sweep_outbox() == 0               # nothing left to send
        _burst_worker(backend)
        time.sleep(0.3)
        recipients = sorted(m["To"] for m in mailbox.messages)
        assert recipients == sorted(f"patient{i}.{run}@example.test" for i in range(total))   # each exactly once
        rows = db.session.scalars(sa.select(OutboxMessage)).all()
        assert {r.status for r in rows} == {"sent"} and {r.attempts for r in rows} == {1}


def test_rate_limits_still_hold_in_each_process_while_redis_is_down(make_app, private_redis):
    app = make_app(REDIS_URL=private_redis.url, RATELIMIT_ENABLED=True, RATELIMIT_STORAGE_URI=private_redis.url,
                   DSAR_API_RATE_LIMIT="3 per minute")
    with app.app_context():
        _, secret = make_key("read")
        client = app.test_client()
        assert client.get("/api/v1/requests", headers=bearer(secret)).status_code == 200
        private_redis.stop()
        # The counters move to the process's memory: answers go on, and so do the limits.
        codes = [client.get("/api/v1/requests", headers=bearer(secret)).status_code for _ in range(5)]
        assert codes == [200, 200, 200, 429, 429]


# --- an RQ worker killed in the middle of a job ------------------------------------------------------------


class StallingSMTP:
    """An SMTP server on loopback that can hold a message at the end of DATA, before answering it.

    A held message is never counted as delivered: the client that sent it never got its 250.
    """

    def __init__(self):
        from aiosmtpd.controller import Controller

        self.accepted: list[bytes] = []
        self.stall = threading.Event()
        self.stalled = threading.Event()
        self.release = threading.Event()
        self.port = _free_port()
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_DATA(self, server, session, envelope):
        if self.stall.is_set():
            self.stall.clear()
            self.stalled.set()
            while not self.release.is_set():
                await asyncio.sleep(0.05)
            return "451 4.3.0 transaction abandoned"
        self.accepted.append(envelope.content)
        return "250 OK"

    def __enter__(self):
        self.controller.start()
        return self

    def __exit__(self, *exc):
        self.release.set()
        self.controller.stop()


def _descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (children first found, then theirs), from /proc."""
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            parents.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _worker_env(app, smtp_port: int, tmp_path: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DSAR_", "MAIL_", "REDIS", "DATABASE"))}
    env.update({
        "DSAR_ENV": "test",
        "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
        "REDIS_URL": app.config["REDIS_URL"],
        "DSAR_QUEUE": app.config["RQ_QUEUE"],
        "MAIL_BACKEND": "smtp",
        "MAIL_SERVER": "127.0.0.1",
        "MAIL_PORT": str(smtp_port),
        "MAIL_DEFAULT_SENDER": "dsar@example.test",
        "PUBLIC_BASE_URL": "http://localhost",
        "DSAR_INSTANCE_PATH": str(tmp_path / "worker-instance"),
        "DSAR_FILES_DIR": str(tmp_path / "files"),
        "SECRET_KEY": app.config["SECRET_KEY"],
        "DSAR_FILE_KEYS": ",".join(app.config["DSAR_FILE_KEYS"]),
    })
    return env


def test_a_worker_killed_mid_send_runs_the_job_again_and_one_email_arrives(make_app, tmp_path):
    from rq import SimpleWorker
    from rq.job import Job
    from rq.registry import ScheduledJobRegistry

    with StallingSMTP() as smtp:
        app = make_app(MAIL_PORT=smtp.port)
        with app.app_context():
            _, secret = make_key("submit")
            r = app.test_client().post("/api/v1/requests", json=_submission(1, "kill"), headers=bearer(secret))
            assert r.status_code == 201
            message = db.session.scalar(sa.select(OutboxMessage))
            backend = app.extensions["dsar_jobs"]
            job_id = f"outbox-{message.id}"
            assert backend.queue().job_ids == [job_id]

            # A real worker, forking a work horse per job, in a process group of its own.
            smtp.stall.set()
            worker = subprocess.Popen([str(Path(sys.executable).parent / "dsar"), "worker"], cwd=ROOT, env=_worker_env(app, smtp.port, tmp_path), start_new_session=True,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                assert smtp.stalled.wait(60), "the worker never reached the SMTP server"
                # The machine dies: the worker, its work horse (RQ puts it in a session of its own) and its
                # scheduler, all at once.
                family = [worker.pid, *_descendants(worker.pid)]
                assert len(family) >= 2, "no work horse found"
                for pid in reversed(family):
                    os.kill(pid, signal.SIGKILL)
                worker.wait(10)
                time.sleep(0.5)
                assert not any(_alive(pid) for pid in family)
            finally:
                if worker.poll() is None:
                    os.killpg(worker.pid, signal.SIGKILL)
            smtp.release.set()
            time.sleep(0.5)

            db.session.expire_all()
            message = db.session.get(OutboxMessage, message.id)
            assert (message.status, message.attempts) == ("sending", 1)   # claimed by the dead worker, not sent
            assert smtp.accepted == []
            job = Job.fetch(job_id, connection=backend.redis)
            assert job.get_status() == "started"                           # what RQ believes of a dead worker's job

            # RQ still believes the dead worker's job "started" (its maintenance notices only minutes later) and
            # never retries it itself (its delayed retries wait on a worker's scheduler, which the kill took down):
            # the outbox sweep is the retry, and it must not wait for RQ's maintenance.
            queue = backend.queue()
            assert job_id not in ScheduledJobRegistry(queue=queue).get_job_ids()
            assert sweep_outbox() == 0      # the claim is younger than CLAIM_TIMEOUT: left alone, nothing sent twice
            assert smtp.accepted == []

            # The claim of a dead worker is released after CLAIM_TIMEOUT by the periodic outbox sweep.
            with time_machine.travel(utcnow() + CLAIM_TIMEOUT + timedelta(seconds=5), tick=True):
                assert sweep_outbox() == 1
            SimpleWorker([queue], connection=backend.redis).work(burst=True, with_scheduler=False)
            deadline = time.monotonic() + 10
            while not smtp.accepted and time.monotonic() < deadline:
                time.sleep(0.05)
            assert sweep_outbox() == 0
            SimpleWorker([queue], connection=backend.redis).work(burst=True, with_scheduler=False)
            time.sleep(0.3)
            assert len(smtp.accepted) == 1                                 # exactly one email
            db.session.expire_all()
            message = db.session.get(OutboxMessage, message.id)
            assert (message.status, message.attempts) == ("sent", 2)


# --- PostgreSQL connections cut under load -----------------------------------------------------------------


def _http(method: str, url: str, body: dict | None = None, headers: dict | None = None) -> int:
    """The status code of one HTTP call (urllib: no client library beyond the standard one)."""
    import json
    import urllib.error
    import urllib.request

    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={**(headers or {}), **({"Content-Type": "application/json"} if data else {})})
    try:
        with urllib.request.urlopen(req, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as err:
        return err.code


def test_cutting_every_database_connection_under_load_leaves_nothing_half_written(make_app, tmp_path):
    from werkzeug.serving import make_server

    app = make_app()
    alive(app)
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_port}"
    run = uuid.uuid4().hex[:6]
    with app.app_context():
        _, secret = make_key("submit")

    results: dict[int, int] = {}
    lock = threading.Lock()
    stop = threading.Event()
    counter = iter(range(10_000))

    def submitter():
        while not stop.is_set():
            with lock:
                i = next(counter)
            try:
                code = _http("POST", f"{base}/api/v1/requests", _submission(i, run), bearer(secret))
            except OSError:
                code = -1
            with lock:
                results[i] = code

    killer_engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    db_name = sa.engine.make_url(url).database
    killed = 0
    threads = [threading.Thread(target=submitter) for _ in range(4)]
    for t in threads:
        t.start()
    try:
        time.sleep(1.0)
        for _ in range(4):
            with killer_engine.connect() as c:
                killed += c.execute(sa.text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE datname = :db AND pid <> pg_backend_pid()"), {"db": db_name}).scalar()
            time.sleep(0.7)
        cut_at = time.monotonic()
        # The service answers again within seconds.
        while True:
            if _http("GET", f"{base}/health") == 200:
                break
            assert time.monotonic() - cut_at < 5, "the service did not come back within 5 s"
            time.sleep(0.1)
        time.sleep(0.5)
    finally:
        stop.set()
        for t in threads:
            t.join(60)
        killer_engine.dispose()
    try:
        assert killed >= 4
        assert len(results) >= 20
        failures = {i for i, code in results.items() if code != 201}
        assert set(results.values()) <= {201, 500, 503, -1}, results
        with app.app_context():
            stored = _every_request_is_whole()
            # Every 201 is stored; a failure may or may not be (the commit can land just before the cut).
            assert stored >= len(results) - len(failures)
            # The client retries what failed, with the same client_reference: a request is never stored twice.
            for i in sorted(failures):
                code = _http("POST", f"{base}/api/v1/requests", _submission(i, run), bearer(secret))
                assert code in (200, 201), (i, code)
            assert _every_request_is_whole() == len(results)
            refs = db.session.scalars(sa.select(DataRequest.reference)).all()
            assert len(set(refs)) == len(results)
    finally:
        server.shutdown()
