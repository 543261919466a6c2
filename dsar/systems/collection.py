"""Collection runs: when a verified access or portability request opens, one job per system reads the subject's data.

State lives in dsar's database (``SystemRun``), never only in Redis. A run is
resumable per table: each table is written to the encrypted file store as one
file, then recorded in the same commit as its row count, so a worker killed or
a database gone mid-run redoes only the tables not recorded, and nothing is
collected twice. The subject's keys are captured once (``CapturedKeys``) and the
resumed run reads the same rows. Jobs take the run id only (issue 16).
"""
from __future__ import annotations

import hashlib
import json
import logging
from datetime import timedelta

import sqlalchemy as sa
from flask import current_app
from redis.exceptions import RedisError
from rq.job import Job, JobStatus
from sqlalchemy.orm.attributes import flag_modified

from .. import audit, lifecycle
from ..actors import Actor
from ..errors import IllegalTransition, N_
from ..extensions import db
from ..jobs import RETRY_INTERVALS, enqueue_after_commit, job
from ..models import DataRequest
from ..models.base import utcnow
from ..models.enums import RequestType, Status
from ..models.systems import CapturedKeys, CollectionPack, PackStatus, RunPurpose, RunStatus, SystemRun
from ..services.documents import file_store
from . import packs
from .connectors import connector_for
from .connectors.base import ConnectorError
from .connectors.manual import open_owner_task
from .runs import identities_of, runs_of, safe_error, systems_map
from .tables import json_default
from .model import SystemsMap
from .traversal import SubjectKeys

log = logging.getLogger(__name__)

COLLECTED_TYPES = frozenset({RequestType.ACCESS, RequestType.PORTABILITY})


# --- starting -------------------------------------------------------------------------------------------------


def start_collection(req: DataRequest, actor: Actor) -> list[SystemRun]:
    """One run per system not already collected for this request; the jobs start after the commit. Does not commit."""
    systems = systems_map()
    if systems is None or req.type not in COLLECTED_TYPES:
        return []
    existing = {r.system_key for r in runs_of(req)}
    created = []
    for system in systems:
        if system.key in existing:
            continue
        run = SystemRun(request_id=req.id, system_key=system.key, purpose=RunPurpose.COLLECT,
                        status=RunStatus.PENDING, attempts=0, rows={}, progress={})
        db.session.add(run)
        db.session.flush()
        created.append(run)
        if system.kind == "manual":
            open_owner_task(run, system, req, actor)
        else:
            enqueue_after_commit(collect_run, run.id, job_id=run.job_id)
    if created:
        audit.record(actor, "collection_started", request=req, touch=False,
                     details={"systems": [r.system_key for r in created], "runs": [r.id for r in created]})
    return created


def _on_request_changed(req: DataRequest, change, actor: Actor, **_):
    """A verified access or portability request that opens starts its collection (issue 16)."""
    if change.to_status != Status.OPEN or change.from_status == Status.OPEN:
        return
    if systems_map() is None or req.type not in COLLECTED_TYPES:
        return
    start_collection(req, actor)


lifecycle.request_changed.connect(_on_request_changed, weak=False)
lifecycle.request_received.connect(start_collection)  # verified at intake: collected at once (issue 16)


def run_again(run: SystemRun, actor: Actor) -> None:
    """The DPO's "run again" on a failed run: it resumes, redoing only the tables not finished. Does not commit."""
    if run.status != RunStatus.FAILED:
        raise IllegalTransition(N_("Only a failed collection can be run again."), code="not_failed")
    run.status = RunStatus.PENDING
    _forget_scheduled_retry(run.job_id)
    audit.record(actor, "collection_rerun", request=run.request, touch=False,
                 details={"system": run.system_key, "run": run.id, "tables_done": sorted(run.progress)})
    enqueue_after_commit(collect_run, run.id, job_id=run.job_id)


def _forget_scheduled_retry(job_id: str) -> None:
    """Run again now: a retry RQ scheduled for later would keep the same job id waiting (and block the new one)."""
    backend = current_app.extensions["dsar_jobs"]
    if backend.name != "rq":
        return
    try:
        job_ = Job.fetch(job_id, connection=backend.redis)
        if job_.get_status(refresh=False) in (JobStatus.SCHEDULED, JobStatus.FAILED, JobStatus.DEFERRED):
            job_.delete()
    except RedisError:
        log.warning("Redis unavailable: the scheduled retry of %s stays; it runs at its time", job_id)
    except Exception:  # noqa: BLE001 - no such job (expired): nothing to forget
        pass


# --- running --------------------------------------------------------------------------------------------------

@job
def collect_run(run_id: int) -> None:
    """Collect one system for one request; resumes what an earlier attempt did not finish. Raises on failure."""
    run = db.session.get(SystemRun, run_id)
    if run is None or run.status in (RunStatus.DONE, RunStatus.WAITING_OWNER):
        return  # never collected twice
    systems = systems_map()
    system = systems.system(run.system_key) if systems is not None else None
    actor = Actor.system("collection")
    req = run.request
    run.status = RunStatus.RUNNING
    run.attempts = (run.attempts or 0) + 1
    run.started_at = utcnow()
    audit.record(actor, "collection_attempt", request=req, touch=False, details={
        "system": run.system_key, "run": run.id, "attempt": run.attempts, "tables_already_done": sorted(run.progress)})
    db.session.commit()
    try:
        if system is None:
            raise ConnectorError(f"the system {run.system_key!r} is no longer in the systems file")
        connector = connector_for(system)
        connector.collect(run, file_store(), identities_of(req), _TableRecorder(run))
    except Exception as exc:
        db.session.rollback()
        run = db.session.get(SystemRun, run_id)
        run.status = RunStatus.FAILED
        run.error = safe_error(exc)
        audit.record(actor, "collection_failed", request=run.request, touch=False, details={
            "system": run.system_key, "run": run.id, "attempt": run.attempts, "error": run.error,
            "tables_done": sorted(run.progress)})
        db.session.commit()
        log.warning("collection run %s (system %s) failed: %s", run.id, run.system_key, run.error)
        raise
    finish_run(run, actor)
    db.session.commit()


def finish_run(run: SystemRun, actor: Actor) -> None:
    """Done: the SHA-256 over every table's file, counts in the audit trail; the pack follows once all are done."""
    digest = hashlib.sha256()
    for name in sorted(run.progress):
        digest.update(f"{name}:{run.progress[name].get('sha256', '')}\n".encode())
    run.sha256 = digest.hexdigest()
    run.status = RunStatus.DONE
    run.finished_at = utcnow()
    run.error = None
    audit.record(actor, "collection_done", request=run.request, touch=False, details={
        "system": run.system_key, "run": run.id, "attempt": run.attempts, "rows": dict(run.rows),
        "sha256": run.sha256})
    packs.when_collected(run.request, actor)


class _TableRecorder:
    """Records a finished table (file, hash, rows) and commits: the unit of resumption."""

    def __init__(self, run: SystemRun):
        self.run = run

    def done(self, table: str, entry: dict) -> None:
        progress = dict(self.run.progress or {})
        progress[table] = entry
        self.run.progress = progress
        rows = dict(self.run.rows or {})
        rows[table] = entry["rows"]
        self.run.rows = rows
        flag_modified(self.run, "progress")
        flag_modified(self.run, "rows")
        db.session.commit()

    def captured(self, compute) -> SubjectKeys:
        """The subject's keys: the capture of an earlier attempt, or computed now and captured before any read."""
        cap = db.session.scalar(sa.select(CapturedKeys).where(CapturedKeys.run_id == self.run.id))
        store = file_store()
        if cap is not None:
            return SubjectKeys.from_json(json.loads(store.get(cap.stored_name)))
        keys = compute()
        data = json.dumps(keys.to_json(), default=json_default, sort_keys=True).encode()
        name = store.put(data)
        db.session.add(CapturedKeys(run_id=self.run.id, stored_name=name, sha256=hashlib.sha256(data).hexdigest()))
        db.session.commit()
        return keys


def sealed_summary(runs: list[SystemRun], systems: SystemsMap | None) -> list[dict]:
    """Per table: system, rows, categories, sealed; what staff may see of a collection (counts, never contents)."""
    out = []
    for run in runs:
        for table, entry in sorted((run.progress or {}).items()):
            out.append({"system": run.system_key, "table": table, "rows": entry.get("rows", 0),
                        "categories": entry.get("categories", []), "sealed": bool(entry.get("sealed"))})
    return out


# --- the periodic sweep -------------------------------------------------------------------------------------

#: Automatic attempts before a failed system waits for the DPO's "run again" (RQ retries the same way).
MAX_AUTO_ATTEMPTS = 5
STALE_AFTER = 3600  # seconds a run may stay "running" before its worker is taken for dead


@job
def sweep_runs() -> int:
    """Every few minutes: retry failed systems with growing intervals (the embedded mode has no RQ retries),
    and start again what a lost job or a dead worker left pending or running. Returns the runs started again."""
    if systems_map() is None:
        return 0
    now = utcnow()
    started = 0
    runs = db.session.scalars(sa.select(SystemRun).where(
        SystemRun.purpose == RunPurpose.COLLECT,
        SystemRun.status.in_([RunStatus.FAILED, RunStatus.PENDING, RunStatus.RUNNING]))).all()
    for run in runs:
        last = run.started_at or run.created_at
        if run.status == RunStatus.FAILED:
            if run.attempts >= MAX_AUTO_ATTEMPTS:
                continue  # shown to the DPO, who runs it again
            wait = RETRY_INTERVALS[min(run.attempts, len(RETRY_INTERVALS)) - 1] if run.attempts else 0
            due = last + timedelta(seconds=wait) <= now
        elif run.status == RunStatus.PENDING:
            due = last + timedelta(seconds=600) <= now
        else:
            due = last + timedelta(seconds=STALE_AFTER) <= now
        if due:
            enqueue_after_commit(collect_run, run.id, job_id=run.job_id)
            started += 1
    for pack in db.session.scalars(sa.select(CollectionPack).where(
            CollectionPack.status.in_([PackStatus.BUILDING, PackStatus.FAILED]))).all():
        if pack.created_at + timedelta(seconds=600) <= now:
            enqueue_after_commit(packs.build_pack, pack.request_id, job_id=f"pack-{pack.request_id}")
    db.session.commit()
    return started
