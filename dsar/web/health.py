"""GET /health: is the service able to do its work? For load balancers (status code) and monitoring (details).

Checked: the database answers; Redis answers; with RQ, a worker has sent a heartbeat and the scheduler
(``dsar scheduler``) has run recently; the oldest message not yet sent (outbox) is not too old. Any failed check
makes the answer a 503. The public sees only ``{"status": "ok"}`` or ``{"status": "unavailable"}``: the details
(ages, counts, engine names) go to callers presenting ``Authorization: Bearer <DSAR_HEALTH_TOKEN>``.
"""
from __future__ import annotations

import hmac
from datetime import datetime, timezone

import sqlalchemy as sa
from flask import Blueprint, current_app, jsonify, request

from ..extensions import csrf, db, limiter
from ..jobs.scheduler import last_heartbeat_age
from ..models import OutboxMessage
from ..models.enums import OutboxStatus

bp = Blueprint("health", __name__)


@bp.get("/health")
@limiter.exempt
@csrf.exempt
def health_GET():
    checks = {"database": _database()}
    backend = current_app.extensions["dsar_jobs"]
    checks["queue"] = {"ok": backend.ping(), "backend": backend.name}
    if backend.name == "rq" and checks["queue"]["ok"]:
        checks["workers"] = _workers(backend)
        checks["scheduler"] = _scheduler(backend)
    if checks["database"]["ok"]:
        checks["outbox"] = _outbox()
    ok = all(c["ok"] for c in checks.values())
    body = {"status": "ok" if ok else "unavailable"}
    if _may_see_details():
        body["checks"] = checks
    return jsonify(body), 200 if ok else 503


def _may_see_details() -> bool:
    token = current_app.config.get("DSAR_HEALTH_TOKEN")
    given = request.headers.get("Authorization", "")
    return bool(token) and hmac.compare_digest(given.encode(), f"Bearer {token}".encode())


def _database() -> dict:
    try:
        db.session.execute(sa.text("SELECT 1"))
        return {"ok": True, "engine": db.engine.dialect.name}
    except Exception as exc:  # noqa: BLE001 - any failure means "down"
        db.session.rollback()
        return {"ok": False, "error": type(exc).__name__}


def _age(moment) -> float | None:
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return round(max(0.0, (datetime.now(timezone.utc) - moment).total_seconds()), 1)


def _workers(backend) -> dict:
    """At least one RQ worker of the queue whose heartbeat is recent (``dsar worker`` beats every 45 s or less)."""
    from rq import Worker

    limit = current_app.config["DSAR_HEALTH_WORKER_MAX_AGE"]
    try:
        ages = [a for a in (_age(w.last_heartbeat) for w in Worker.all(queue=backend.queue())) if a is not None]
    except Exception as exc:  # noqa: BLE001
        return {"ok": False, "error": type(exc).__name__}
    newest = min(ages) if ages else None
    return {"ok": newest is not None and newest <= limit, "count": len(ages), "heartbeat_age_s": newest,
            "max_age_s": limit}


def _scheduler(backend) -> dict:
    limit = current_app.config["DSAR_HEALTH_SCHEDULER_MAX_AGE"]
    try:
        age = last_heartbeat_age(backend.redis)
    except Exception as exc:  # noqa: BLE001
        return {"ok": False, "error": type(exc).__name__}
    age = None if age is None else round(age, 1)
    return {"ok": age is not None and age <= limit, "last_run_age_s": age, "max_age_s": limit}


def _outbox() -> dict:
    """The age of the oldest email or webhook not sent yet (waiting, being sent, or waiting for a retry)."""
    limit = current_app.config["DSAR_HEALTH_OUTBOX_MAX_AGE"]
    try:
        oldest, count = db.session.execute(
            sa.select(sa.func.min(OutboxMessage.created_at), sa.func.count())
            .where(OutboxMessage.status.in_([OutboxStatus.PENDING, OutboxStatus.SENDING]))
        ).one()
    except Exception as exc:  # noqa: BLE001
        db.session.rollback()
        return {"ok": False, "error": type(exc).__name__}
    if isinstance(oldest, str):       # SQLite returns min() of a datetime column as text
        oldest = datetime.fromisoformat(oldest)
    age = _age(oldest) if oldest is not None else 0.0
    return {"ok": age <= limit, "unsent": count, "oldest_unsent_age_s": age, "max_age_s": limit}
