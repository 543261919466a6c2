"""One scheduler (issue 14, item 7): two `dsar scheduler` processes, only one schedules; the other takes over when
the first dies. Real processes, real Redis; the lock lifetime is shortened to 6 s so that a takeover fits a test."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from rq import Queue
from rq.cron_scheduler_registry import get_registry_key

from dsar.jobs.scheduler import LOCK_KEY
from waiting import wait_until

pytestmark = [pytest.mark.redis, pytest.mark.postgres]

DSAR = str(Path(sys.executable).with_name("dsar"))


def _until(predicate, timeout: float, what: str):
    wait_until(predicate, timeout, interval=0.2, what=what)


def test_a_second_scheduler_waits_and_takes_over_when_the_first_dies(app, tmp_path):
    backend = app.extensions["dsar_jobs"]
    redis = backend.redis
    queue = Queue(backend.queue_name, connection=redis)
    env = {**os.environ, "DSAR_ENV": "test", "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
           "REDIS_URL": backend.url, "DSAR_QUEUE": backend.queue_name, "DSAR_INSTANCE_PATH": str(tmp_path)}

    def schedulers() -> list[str]:
        return [m.decode() for m in redis.zrange(get_registry_key(), 0, -1)]

    def sweeps() -> int:
        return sum(1 for j in queue.get_jobs() if j.func_name.endswith("sweep_outbox"))

    procs = []
    try:
        first = subprocess.Popen([DSAR, "scheduler", "--lock-ttl", "6"], env=env, stdout=subprocess.DEVNULL,
                                 stderr=open(tmp_path / "first.log", "w"))
        procs.append(first)
        _until(lambda: len(schedulers()) == 1, 60, "the first scheduler")
        _until(lambda: sweeps() == 1, 10, "the first scheduler's outbox sweep")

        second = subprocess.Popen([DSAR, "scheduler", "--lock-ttl", "6"], env=env, stdout=subprocess.DEVNULL,
                                  stderr=open(tmp_path / "second.log", "w"))
        procs.append(second)
        time.sleep(12)        # two lock lifetimes: a holder that beats keeps the lock
        assert second.poll() is None                               # waiting, not gone
        assert [f":{first.pid}:" in name for name in schedulers()] == [True]
        assert sweeps() == 1                                        # nothing scheduled twice

        first.send_signal(signal.SIGKILL)                           # dies without releasing the lock
        first.wait(10)
        _until(lambda: any(f":{second.pid}:" in n for n in schedulers()), 30, "the second scheduler to take over")
        _until(lambda: sweeps() == 2, 10, "the second scheduler's outbox sweep")

        second.send_signal(signal.SIGTERM)                          # a clean stop releases the lock at once
        assert second.wait(20) == 0
        assert redis.get(LOCK_KEY) is None
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait(10)
