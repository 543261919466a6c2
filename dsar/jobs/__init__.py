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
from collections.abc import Callable
from dataclasses import dataclass

import sqlalchemy as sa
from flask import current_app, has_app_context
from redis import Redis
from redis.exceptions import RedisError
from rq import Queue, Retry
from rq.job import Job, JobStatus
from sqlalchemy import event
from sqlalchemy.orm import Session

from ..extensions import db

log = logging.getLogger(__name__)

PENDING_KEY = "dsar_pending_jobs"
RETRY_INTERVALS = [10, 30, 120, 600, 1800]


class RowId:
    """A job argument standing for the primary key of a row added in this transaction, read after the commit.

    The row needs no flush of its own to learn its id: it is inserted by the commit's flush, with the other rows of
    its table in one multi-row INSERT, and its job gets the id then. A job id built from such an id names a job that
    cannot exist yet, so none is looked up before queueing it.
    """

    __slots__ = ("row",)

    def __init__(self, row):
        self.row = row

    def value(self) -> int | None:
        identity = sa.inspect(self.row).identity
        return identity[0] if identity else None


@dataclass(frozen=True)
class JobSpec:
    func_path: str
    args: tuple
    job_id: str | Callable[..., str] | None = None   # a callable receives the arguments, RowId ones resolved

    @property
    def fresh(self) -> bool:
        """The job id derives from a row this commit inserted: no job can hold it already."""
        return any(isinstance(arg, RowId) for arg in self.args)

    def resolved(self) -> JobSpec | None:
        """The spec with its RowId arguments read (after the commit); None when a row was never inserted."""
        args = tuple(arg.value() if isinstance(arg, RowId) else arg for arg in self.args)
        if any(isinstance(a, RowId) and v is None for a, v in zip(self.args, args)):
            log.warning("job %s not queued: its row was never inserted", self.func_path)
            return None
        job_id = self.job_id(*args) if callable(self.job_id) else self.job_id
        return JobSpec(self.func_path, args, job_id)


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


def serve(app) -> None:
    """Run the jobs of this process in ``app`` when no app context is pushed: ``dsar worker`` gives its own.

    The queue interface builds no application itself: it would import the entry point (``create_app``), four
    layers above it.
    """
    global _worker_app
    _worker_app = app


def _app():
    if has_app_context():
        return current_app._get_current_object()
    if _worker_app is None:
        raise RuntimeError("a job ran outside an application: start workers with `dsar worker`")
    return _worker_app


def enqueue_after_commit(func, *args, job_id: str | Callable[..., str] | None = None) -> None:
    """Run ``func(*args)`` once the current transaction commits; never if it rolls back.

    ``func`` is the job or its dotted path (how a lower layer queues a job body without importing it). An argument
    may be ``RowId(row)`` for a row not flushed yet; ``job_id`` may then be a function of the resolved arguments.
    """
    path = getattr(func, "job_path", None) or (func if isinstance(func, str) else f"{func.__module__}.{func.__name__}")
    for arg in args:
        if not isinstance(arg, (int, str, type(None), RowId)):
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
    resolved, fresh_ids = [], set()
    for spec in specs:
        ready = spec.resolved()
        if ready is not None:
            resolved.append(ready)
            if spec.fresh:
                fresh_ids.add(ready.job_id)
    current_app.extensions["dsar_jobs"].submit_many(resolved, fresh_ids=fresh_ids)


@event.listens_for(Session, "after_rollback")
def _forget_on_rollback(session):
    session.info.pop(PENDING_KEY, None)


class InProcessBackend:
    """The embedded default: run each job right after the commit, in a fresh app context."""

    name = "in-process"

    def __init__(self, app):
        self.app = app

    def submit(self, spec: JobSpec) -> None:
        self.submit_many([spec])

    def submit_many(self, specs: list[JobSpec], fresh_ids: set[str] = frozenset()) -> None:
        for spec in specs:
            try:
                # The job wrapper pushes its own app context, hence its own session.
                resolve(spec.func_path)(*spec.args)
            except Exception:  # noqa: BLE001 - the periodic sweeps retry what failed here
                log.exception("in-process job %s failed; the periodic sweep will retry it", spec.func_path)

    def ping(self) -> bool:
        return True


#: What RQ says of a job that has not run yet: a second copy would only race the first.
_WAITING = (JobStatus.QUEUED, JobStatus.STARTED, JobStatus.SCHEDULED, JobStatus.DEFERRED)


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
            self._redis = Redis.from_url(self.url, socket_connect_timeout=2, socket_timeout=5)
        return self._redis

    def queue(self):
        return Queue(self.queue_name, connection=self.redis)

    def submit(self, spec: JobSpec) -> None:
        self.submit_many([spec])

    def submit_many(self, specs: list[JobSpec], fresh_ids: set[str] = frozenset()) -> None:
        """Queue the jobs of one commit in one Redis pipeline (and one more round trip, only for the job ids that
        may already be waiting: a new outbox message's cannot)."""
        try:
            specs = self._not_waiting(self._distinct(specs), fresh_ids)
            if specs:
                self.queue().enqueue_many([self._enqueue_data(spec) for spec in specs])
        except RedisError:
            # The rows that asked for these jobs are committed; the periodic sweeps find them again.
            log.warning("Redis unavailable: jobs %s not queued now; the periodic sweep will retry",
                        ", ".join(sorted({s.func_path for s in specs})))

    @staticmethod
    def _distinct(specs: list[JobSpec]) -> list[JobSpec]:
        """One job per job id (RQ refuses a batch naming one twice; the second would only race the first)."""
        seen, kept = set(), []
        for spec in specs:
            if spec.job_id is None or spec.job_id not in seen:
                seen.add(spec.job_id)
                kept.append(spec)
        return kept

    def _not_waiting(self, specs: list[JobSpec], fresh_ids) -> list[JobSpec]:
        ids = [s.job_id for s in specs if s.job_id and s.job_id not in fresh_ids]
        if not ids:
            return specs
        waiting = {job.id for job in Job.fetch_many(ids, connection=self.redis)
                   if job is not None and job.get_status(refresh=False) in _WAITING}
        return [s for s in specs if s.job_id not in waiting]

    @staticmethod
    def _enqueue_data(spec: JobSpec):
        func = resolve(spec.func_path)
        # A job whose rows carry their own retry time (the outbox) is retried by the periodic sweep, not by RQ:
        # RQ's delayed retries wait on the scheduler inside a worker, which a killed worker takes down with it.
        retry = None if getattr(func, "retried_by_sweep", False) else Retry(max=len(RETRY_INTERVALS),
                                                                             interval=RETRY_INTERVALS)
        return Queue.prepare_data(
            spec.func_path,
            args=spec.args,
            job_id=spec.job_id,
            timeout=getattr(func, "job_timeout", None),   # e.g. outbox.SEND_TIMEOUT
            retry=retry,
            result_ttl=3600,
            failure_ttl=30 * 86400,
        )

    def ping(self) -> bool:
        try:
            return bool(self.redis.ping())
        except Exception:  # noqa: BLE001
            return False


def init_app(app) -> None:
    backend = RQBackend(app) if app.config.get("REDIS_URL") else InProcessBackend(app)
    app.extensions["dsar_jobs"] = backend
