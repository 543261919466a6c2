"""/health checks that a worker and the scheduler are alive: tests register them in Redis as RQ itself does."""


def alive(app, *, worker_age=0, scheduler=True):
    """With RQ: a worker registered in Redis with a heartbeat ``worker_age`` seconds old, and a scheduler beating."""
    backend = app.extensions["dsar_jobs"]
    if backend.name != "rq":
        return
    from datetime import datetime, timedelta, timezone

    from rq import Worker
    from rq.utils import utcformat

    from dsar.jobs.scheduler import LockedCronScheduler

    w = Worker([backend.queue()], connection=backend.redis)
    w.register_birth()
    backend.redis.hset(w.key, "last_heartbeat",
                       utcformat(datetime.now(timezone.utc) - timedelta(seconds=worker_age)))
    if scheduler:
        LockedCronScheduler(backend.redis, lock=None).register_birth()
