"""The one scheduler of the periodic jobs: RQ's cron scheduler, run only by the holder of a Redis lock.

``dsar scheduler`` may be started on several hosts for availability: the first takes the lock
``dsar:scheduler:lock`` and schedules ``schedule.PERIODIC``; the others wait and take over when the lock expires
(``LOCK_TTL`` after its holder stopped renewing it, e.g. was killed). The holder renews the lock on each heartbeat of
its loop (at least once a minute) and stops scheduling the moment it finds the lock lost, so two schedulers never
enqueue at the same time. Its heartbeat in RQ's scheduler registry is what ``/health`` reports as the scheduler's
last run.
"""
from __future__ import annotations

import logging
import time

from redis.exceptions import LockError
from rq.cron import CronScheduler
from rq.cron_scheduler_registry import get_registry_key
from rq.exceptions import SchedulerNotFound, StopRequested

from . import resolve
from .schedule import PERIODIC

log = logging.getLogger(__name__)

LOCK_KEY = "dsar:scheduler:lock"
#: Seconds a holder that stopped renewing keeps the lock: RQ's cron loop beats at least every 60 s.
LOCK_TTL = 150


class LockedCronScheduler(CronScheduler):
    """RQ's CronScheduler that renews a Redis lock on each heartbeat, and stops when it no longer holds it."""

    def __init__(self, connection, lock, **kwargs):
        super().__init__(connection, **kwargs)
        self.lock = lock

    def calculate_sleep_interval(self) -> float:
        # Beat (and renew the lock) at least three times per lock lifetime, whatever the next job's time.
        return min(super().calculate_sleep_interval(), self.lock.timeout / 3)

    def heartbeat(self) -> None:
        try:
            self.lock.reacquire()
        except LockError:
            log.error("the scheduler lock was lost (it expired, or Redis restarted empty); this one stops")
            raise StopRequested() from None
        super().heartbeat()

    def register_death(self, pipeline=None) -> None:
        # After Redis restarted empty the registry no longer knows this scheduler: nothing to unregister.
        try:
            super().register_death(pipeline)
        except SchedulerNotFound:
            pass


def build_scheduler(connection, lock, queue_name: str) -> LockedCronScheduler:
    scheduler = LockedCronScheduler(connection, lock)
    for p in PERIODIC:
        scheduler.register(resolve(p.func_path), queue_name, interval=p.interval, cron=p.cron, name=p.name)
    return scheduler


def run_scheduler(connection, queue_name: str, *, poll: float = 5.0, lock_ttl: int = LOCK_TTL) -> None:
    """Wait for the lock, then schedule until stopped (SIGTERM/SIGINT) or until the lock is lost."""
    lock = connection.lock(LOCK_KEY, timeout=lock_ttl, thread_local=False)
    waiting_since = None
    while not lock.acquire(blocking=False):
        if waiting_since is None:
            waiting_since = time.monotonic()
            log.info("another dsar scheduler holds %s: waiting to take over", LOCK_KEY)
        time.sleep(poll)
    if waiting_since is not None:
        log.info("scheduler lock taken after waiting %.0f s", time.monotonic() - waiting_since)
    try:
        build_scheduler(connection, lock, queue_name).start()
    finally:
        try:
            lock.release()
        except LockError:
            pass


def last_heartbeat_age(connection) -> float | None:
    """Seconds since the most recent heartbeat of any RQ cron scheduler, or None if none ever beat."""
    newest = connection.zrevrange(get_registry_key(), 0, 0, withscores=True)
    return max(0.0, time.time() - newest[0][1]) if newest else None
