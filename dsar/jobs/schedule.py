"""Periodic jobs, declared once: run by ``dsar scheduler`` in production (jobs/scheduler.py), by the dev server in
embedded mode."""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone

from . import resolve

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Periodic:
    name: str
    func_path: str
    interval: int | None = None   # seconds
    cron: str | None = None       # crontab, UTC


PERIODIC: list[Periodic] = [
    Periodic("outbox-sweep", "dsar.jobs.outbox.sweep_outbox", interval=60),
    # Back-office: the DPO's daily digest (due soon, overdue, waiting on professionals), 06:00 UTC.
    Periodic("dpo-digest", "dsar.jobs.digest.send_dpo_digest", cron="0 6 * * *"),
    # Public journey (intake): daily, at night (cron times are UTC).
    Periodic("purge-unconfirmed", "dsar.jobs.purge.purge_unconfirmed_requests", cron="10 2 * * *"),
    Periodic("purge-identity-copies", "dsar.jobs.purge.purge_expired_identity_copies", cron="20 2 * * *"),
    # Routing (policy art. 8.2): reminders and escalations of professionals' tasks, each morning (07:00 UTC).
    Periodic("task-sweep", "dsar.jobs.reminders.sweep_tasks", cron="0 7 * * *"),
    # Answers: delete the files of download links past expiry plus grace, keeping their hashes (hourly).
    Periodic("purge-delivered-files", "dsar.jobs.fulfilment.purge_delivered_files", cron="35 * * * *"),
    # Collection (issue 16): failed systems retried with growing intervals, lost jobs and dead workers resumed.
    Periodic("collection-sweep", "dsar.systems.collection.sweep_runs", interval=300),
    # Execution (issue 17): failed or interrupted runs resumed with growing intervals, up to an attempt cap.
    Periodic("execution-sweep", "dsar.systems.execution_sweep.sweep_execution_runs", interval=300),
]


class InProcessScheduler(threading.Thread):
    """Embedded mode: a daemon thread of the development server runs the periodic jobs when due."""

    def __init__(self, app, tick: float = 15.0):
        super().__init__(name="dsar-periodic", daemon=True)
        self.app = app
        self.tick = tick
        self.next_run: dict[str, float] = {}
        self._stop_event = threading.Event()

    def due(self, p: Periodic, now: float) -> bool:
        if p.name not in self.next_run:
            self.next_run[p.name] = now if p.interval else self._next_cron(p, now)
        return now >= self.next_run[p.name]

    def _next_cron(self, p: Periodic, now: float) -> float:
        from croniter import croniter

        return croniter(p.cron, datetime.fromtimestamp(now, timezone.utc)).get_next(float)

    def run_once(self, now: float | None = None) -> list[str]:
        now = time.time() if now is None else now
        ran = []
        for p in PERIODIC:
            if not self.due(p, now):
                continue
            self.next_run[p.name] = now + p.interval if p.interval else self._next_cron(p, now)
            try:
                with self.app.app_context():
                    resolve(p.func_path)()
                ran.append(p.name)
            except Exception:  # noqa: BLE001 - keep the scheduler alive; the job logs its own failure
                log.exception("periodic job %s failed", p.name)
        return ran

    def run(self) -> None:
        while not self._stop_event.wait(self.tick):
            self.run_once()

    def stop(self) -> None:
        self._stop_event.set()
