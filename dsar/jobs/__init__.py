"""Background work behind one small interface: run this job after the current transaction commits.

With ``REDIS_URL`` set, the job goes to RQ (retries with growing intervals,
deterministic ids where a duplicate would hurt). Without it, the job runs
in-process, right after the commit, in an app context of its own. A job queued
in a transaction that rolls back is forgotten.

Jobs take ids, never ORM objects or personal data: their arguments end up in
Redis. They raise on failure so that RQ's retries and failed-job registry see it.
"""
from __future__ import annotations

import functools
import importlib
import logging
import threading
from dataclasses import dataclass

from flask import current_app, has_app_context
from sqlalchemy import event
from sqlalchemy.orm import Session

from ..extensions import db

log = logging.getLogger(__name__)

PENDING_KEY = "dsar_pending_jobs"
RETRY_INTERVALS = [10, 30, 120, 600, 1800]


@dataclass(frozen=True)
class JobSpec:
    func_path: str
    args: tuple
    job_id: str | None = None


def job(func):
    """Make a function a job: it runs in an app context and session of its own."""

    @functools.wraps(func)
    def wrapper(*args):
        app = _app()
        with app.app_context():
            try:
                return func(*args)
            finally:
                db.session.remove()

    wrapper.job_path = f"{func.__module__}.{func.__name__}"
    return wrapper


_worker_app = None
_worker_app_lock = threading.Lock()


def _app():
    global _worker_app
    if has_app_context():
        return current_app._get_current_object()
    with _worker_app_lock:
        if _worker_app is None:
            from .. import create_app

            _worker_app = create_app()
        return _worker_app


def enqueue_after_commit(func, *args, job_id: str | None = None) -> None:
    """Run ``func(*args)`` once the current transaction commits; never if it rolls back."""
    path = getattr(func, "job_path", None) or (func if isinstance(func, str) else f"{func.__module__}.{func.__name__}")
    for arg in args:
        if not isinstance(arg, (int, str, type(None))):
            raise TypeError("job arguments are ids or short strings, never objects or personal data")
    db.session().info.setdefault(PENDING_KEY, []).append(JobSpec(path, tuple(args), job_id))


def resolve(path: str):
    module, _, name = path.rpartition(".")
    return getattr(importlib.import_module(module), name)


@event.listens_for(Session, "after_commit")
def _dispatch_after_commit(session):
    specs = session.info.pop(PENDING_KEY, None)
    if not specs or not has_app_context():
        return
    backend = current_app.extensions["dsar_jobs"]
    for spec in specs:
        backend.submit(spec)


@event.listens_for(Session, "after_rollback")
def _forget_on_rollback(session):
    session.info.pop(PENDING_KEY, None)


class InProcessBackend:
    """The embedded default: run each job right after the commit, in a fresh app context."""

    name = "in-process"

    def __init__(self, app):
        self.app = app

    def submit(self, spec: JobSpec) -> None:
        try:
            # The job wrapper pushes its own app context, hence its own session.
            resolve(spec.func_path)(*spec.args)
        except Exception:  # noqa: BLE001 - the periodic sweeps retry what failed here
            log.exception("in-process job %s failed; the periodic sweep will retry it", spec.func_path)

    def ping(self) -> bool:
        return True


class RQBackend:
    """Production: RQ on Redis."""

    name = "rq"

    def __init__(self, app):
        self.app = app
        self.url = app.config["REDIS_URL"]
        self.queue_name = app.config["RQ_QUEUE"]
        self._redis = None

    @property
    def redis(self):
        if self._redis is None:
            from redis import Redis

            self._redis = Redis.from_url(self.url, socket_connect_timeout=2, socket_timeout=5)
        return self._redis

    def queue(self):
        from rq import Queue

        return Queue(self.queue_name, connection=self.redis)

    def submit(self, spec: JobSpec) -> None:
        from redis.exceptions import RedisError
        from rq import Retry
        from rq.job import Job, JobStatus

        try:
            if spec.job_id:
                try:
                    existing = Job.fetch(spec.job_id, connection=self.redis)
                    if existing.get_status(refresh=False) in (
                        JobStatus.QUEUED, JobStatus.STARTED, JobStatus.SCHEDULED, JobStatus.DEFERRED
                    ):
                        return  # already waiting: a second copy would only race the first
                except Exception:  # noqa: BLE001 - no such job, or an expired one
                    pass
            func = resolve(spec.func_path)
            # A job whose rows carry their own retry time (the outbox) is retried by the periodic sweep, not by RQ:
            # RQ's delayed retries wait on the scheduler inside a worker, which a killed worker takes down with it.
            retry = None if getattr(func, "retried_by_sweep", False) else Retry(max=len(RETRY_INTERVALS),
                                                                                 interval=RETRY_INTERVALS)
            self.queue().enqueue_call(
                func=spec.func_path,
                args=spec.args,
                job_id=spec.job_id,
                timeout=getattr(func, "job_timeout", None),   # e.g. outbox.SEND_TIMEOUT
                retry=retry,
                result_ttl=3600,
                failure_ttl=30 * 86400,
            )
        except RedisError:
            # The row that asked for this job is committed; the periodic sweep finds it again.
            log.warning("Redis unavailable: job %s not queued now; the periodic sweep will retry", spec.func_path)

    def ping(self) -> bool:
        try:
            return bool(self.redis.ping())
        except Exception:  # noqa: BLE001
            return False


def init_app(app) -> None:
    backend = RQBackend(app) if app.config.get("REDIS_URL") else InProcessBackend(app)
    app.extensions["dsar_jobs"] = backend
