"""GET /health: the state of the database and of the job queue, for load balancers and monitoring."""
from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, current_app, jsonify

from ..extensions import csrf, db, limiter

bp = Blueprint("health", __name__)


@bp.get("/health")
@limiter.exempt
@csrf.exempt
def health_GET():
    checks = {}
    try:
        db.session.execute(sa.text("SELECT 1"))
        checks["database"] = {"ok": True, "engine": db.engine.dialect.name}
    except Exception as exc:  # noqa: BLE001 - any failure means "down"
        db.session.rollback()
        checks["database"] = {"ok": False, "error": type(exc).__name__}
    backend = current_app.extensions["dsar_jobs"]
    checks["queue"] = {"ok": backend.ping(), "backend": backend.name}
    ok = all(c["ok"] for c in checks.values())
    return jsonify(status="ok" if ok else "unavailable", checks=checks), 200 if ok else 503
