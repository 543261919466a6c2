"""The periodic sweep of execution runs (issue 17) and what the DPO sees on the execution panel.

A run left "running" by a dead worker past its timeout is resumed by the sweep (no click), from the captured
keys; a run past its attempt cap is not, and the panel says the automatic attempts are exhausted. On the
PostgreSQL pass the application database is PostgreSQL and the jobs go through RQ; on the SQLite pass they run
in-process (the embedded mode).
"""
from __future__ import annotations

from datetime import timedelta

import pytest

from dsar.extensions import db
from dsar.jobs.schedule import PERIODIC
from dsar.models import DryRun, SystemRun, utcnow
from dsar.models.execution import DryRunStatus
from dsar.models.systems import RunStatus
from dsar.systems import execution, execution_sweep
from dsar.systems.collection import MAX_AUTO_ATTEMPTS
from tests.appdb import appdb, row_checksums  # noqa: F401 - the fixture
from tests.backoffice_support import signed_in_client
from tests.collection_support import events
from tests.functional.test_execution import (  # noqa: F401 - fixtures
    approved_dry_run, erasure_request, policy, run_all, sapp, staff, subject_keys)


def _started_then_abandoned(sapp, policy, *, attempts: int, age: int):
    """An approved erasure whose capture is done and whose run a worker took, then died (never finished)."""
    req = erasure_request(policy)
    dr = approved_dry_run(req)
    with pytest.MonkeyPatch.context() as m:
        m.setattr(execution, "enqueue_after_commit", lambda *a, **k: None)   # the job never reaches a worker
        execution.execute(dr, staff())
        db.session.commit()
    run = db.session.get(SystemRun, dr.run_ids[0])
    run.status, run.attempts, run.started_at = RunStatus.RUNNING, attempts, utcnow() - timedelta(seconds=age)
    db.session.commit()
    return req, dr.id, run.id


def _sweep(sapp) -> int:
    started = execution_sweep.sweep_execution_runs()
    run_all(sapp)
    db.session.expire_all()
    return started


def test_the_sweep_is_declared_once_with_the_other_periodic_jobs():
    sweeps = [p for p in PERIODIC if p.func_path == "dsar.systems.execution_sweep.sweep_execution_runs"]
    assert len(sweeps) == 1 and sweeps[0].interval == 300


def test_a_run_a_dead_worker_left_running_past_its_timeout_is_resumed_by_the_sweep(sapp, appdb, policy):
    req, dr_id, run_id = _started_then_abandoned(sapp, policy, attempts=1, age=60)
    assert _sweep(sapp) == 0                       # a minute: the worker may still be at it
    run = db.session.get(SystemRun, run_id)
    run.started_at = utcnow() - timedelta(seconds=execution_sweep.RUN_TIMEOUT + 60)
    db.session.commit()
    assert _sweep(sapp) == 1
    run = db.session.get(SystemRun, run_id)
    assert run.status == RunStatus.DONE and run.attempts == 2, run.error
    assert db.session.get(DryRun, dr_id).status == DryRunStatus.EXECUTED
    keys = subject_keys(sapp, req)
    assert not keys.get("messages") and not keys.get("conversations")
    resumed = events(req, "execution_resumed")
    assert [e.details["reason"] for e in resumed] == ["timed_out"] and resumed[0].actor_label == "execution-sweep"
    assert [e.details["attempt"] for e in events(req, "execution_attempt")] == [2]
    assert _sweep(sapp) == 0                       # done: nothing more to resume


def test_a_run_past_its_attempt_cap_is_not_resumed_and_the_dpo_sees_it_failed(sapp, appdb, policy):
    req, dr_id, run_id = _started_then_abandoned(sapp, policy, attempts=MAX_AUTO_ATTEMPTS,
                                                 age=execution_sweep.RUN_TIMEOUT + 60)
    before = row_checksums(appdb.write_url)
    assert _sweep(sapp) == 0
    run = db.session.get(SystemRun, run_id)
    assert run.status == RunStatus.FAILED and run.attempts == MAX_AUTO_ATTEMPTS
    assert execution_sweep.exhausted(run)
    failed = events(req, "execution_failed")
    assert len(failed) == 1 and failed[0].details["automatic_attempts_exhausted"] is True
    run.started_at = utcnow() - timedelta(days=2)
    db.session.commit()
    assert _sweep(sapp) == 0                       # failed past the cap: left to the DPO
    assert events(req, "execution_attempt") == [] and row_checksums(appdb.write_url) == before
    client, _ = signed_in_client(sapp, "dpo")
    page = client.get(f"/backoffice/requests/{req.reference}").get_data(as_text=True)
    assert 'id="execution-exhausted"' in page and "application" in page


def test_a_failed_run_is_retried_after_growing_intervals(sapp, appdb, policy):
    """Embedded mode has no RQ retries: 10 s after the first failed attempt, 30 s after the second …"""
    req, dr_id, run_id = _started_then_abandoned(sapp, policy, attempts=1, age=5)
    run = db.session.get(SystemRun, run_id)
    run.status = RunStatus.FAILED
    db.session.commit()
    now = utcnow()
    assert execution_sweep._due(run, now) is None
    run.started_at = now - timedelta(seconds=11)
    assert execution_sweep._due(run, now) == "failed"
    run.attempts, run.started_at = 2, now - timedelta(seconds=11)
    assert execution_sweep._due(run, now) is None
    run.started_at = now - timedelta(seconds=31)
    assert execution_sweep._due(run, now) == "failed"
    db.session.commit()
    assert _sweep(sapp) == 1
    assert db.session.get(SystemRun, run_id).status == RunStatus.DONE


def test_the_dry_run_panel_shows_retention_grounds_by_their_labels(sapp, appdb, policy):
    """GDPR art. 17(3): staff read the ground ("evidence …, GDPR art. 17(3)(e)"), not the policy's key."""
    req = erasure_request(policy)
    dr = execution.compute_dry_run(req, staff())
    db.session.commit()
    grounds = {g for line in dr.lines for g in (line.grounds or [])}
    assert "evidence" in grounds
    client, _ = signed_in_client(sapp, "dpo")
    page = client.get(f"/backoffice/requests/{req.reference}", headers={"Accept-Language": "fr"}).get_data(as_text=True)
    table = page.split('id="dry-run-lines"')[1].split("</table>")[0]
    assert "preuve (constatation, exercice ou défense de droits en justice) (RGPD art. 17(3)(e))" in table
    cells = [c.split(">", 1)[1].split("<", 1)[0] for c in table.split('<td class="grounds"')[1:]]
    assert cells and not any(c.strip() in ("evidence", "legal_obligation", "not_in_plan") for c in cells)
