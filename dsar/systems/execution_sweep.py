"""The periodic sweep of execution runs (issue 17): nothing waits for a click to resume.

Declared once in ``dsar/jobs/schedule.py`` (``execution-sweep``, every 5 minutes): run by ``rq cron`` with RQ,
by the development server's scheduler in the embedded mode. Per execution run not done:

- ``failed``: started again once the interval for its attempt has passed (``RETRY_INTERVALS``: 10 s, 30 s,
  2 min, 10 min, 30 min — growing); after ``MAX_AUTO_ATTEMPTS`` attempts it stays failed and the back-office
  panel tells the DPO that the automatic attempts are exhausted ("Resume the unfinished systems");
- ``pending`` for more than 10 minutes: its job was lost (Redis down at the commit, a worker restarted);
- ``running`` for more than ``RUN_TIMEOUT``: the worker that took it died. RQ still shows that job as
  *started*, so the resumed attempt gets a job id of its own (``execute-<run>-resume-<attempt>``); past the
  attempt cap, the run is marked failed (audited) instead of resumed.

A resumed run redoes only the tables not recorded done, from the captured keys (``execution.execute_run``).
"""
from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from flask import current_app

from .. import audit
from ..actors import Actor
from ..extensions import db
from ..jobs import RETRY_INTERVALS, enqueue_after_commit, job
from ..models.base import utcnow
from ..models.systems import RunPurpose, RunStatus, SystemRun
from .collection import MAX_AUTO_ATTEMPTS
from .execution import execute_run, resume_job_id

#: Seconds a run may stay "running" before its worker is taken for dead (far above the erasure of 200,000
#: rows measured in bench/RESULTS.md, about two minutes).
RUN_TIMEOUT = 3600
#: Seconds a run may stay "pending" before its job is taken for lost.
PENDING_TIMEOUT = 600


def exhausted(run: SystemRun) -> bool:
    """A failed run the sweep will not start again: the DPO decides (shown on the execution panel)."""
    return run.status == RunStatus.FAILED and (run.attempts or 0) >= MAX_AUTO_ATTEMPTS


def _due(run: SystemRun, now) -> str | None:
    """Why the run should be started again now, or None."""
    last = run.started_at or run.created_at
    attempts = run.attempts or 0
    if run.status == RunStatus.FAILED:
        if attempts >= MAX_AUTO_ATTEMPTS:
            return None
        wait = RETRY_INTERVALS[min(attempts, len(RETRY_INTERVALS)) - 1] if attempts else 0
        return "failed" if last + timedelta(seconds=wait) <= now else None
    if run.status == RunStatus.PENDING:
        return "lost" if last + timedelta(seconds=PENDING_TIMEOUT) <= now else None
    if run.status == RunStatus.RUNNING:
        return "timed_out" if last + timedelta(seconds=RUN_TIMEOUT) <= now else None
    return None


@job
def sweep_execution_runs() -> int:
    """Start again the execution runs that failed or were interrupted; returns how many were started."""
    if current_app.extensions.get("dsar_systems") is None:
        return 0
    actor = Actor.system("execution-sweep")
    now = utcnow()
    started = 0
    runs = db.session.scalars(sa.select(SystemRun).where(
        SystemRun.purpose == RunPurpose.EXECUTE,
        SystemRun.status.in_([RunStatus.FAILED, RunStatus.PENDING, RunStatus.RUNNING])).order_by(SystemRun.id)).all()
    for run in runs:
        reason = _due(run, now)
        if reason is None:
            continue
        if reason == "timed_out" and (run.attempts or 0) >= MAX_AUTO_ATTEMPTS:
            run.status, run.error = RunStatus.FAILED, "the worker stopped during the last attempt (timeout)"
            audit.record(actor, "execution_failed", request=run.request, touch=False, details={
                "system": run.system_key, "run": run.id, "attempt": run.attempts, "error": run.error,
                "tables_done": sorted(run.progress or {}), "automatic_attempts_exhausted": True})
            continue
        job_id = resume_job_id(run) if reason == "timed_out" else run.job_id
        enqueue_after_commit(execute_run, run.id, job_id=job_id)
        audit.record(actor, "execution_resumed", request=run.request, touch=False, details={
            "runs": [run.id], "reason": reason, "attempts": run.attempts or 0})
        started += 1
    db.session.commit()
    return started
