"""A manual system's owner carries out the verb and confirms it (issue 17): the task link, the confirmation
with the number of records handled, stored on the run and audited (never only in a cache).

``/systems/execute/<token>``: the owner sees what to do (the verb, the data categories, the person's
identifiers, captured before any change) and confirms how many records they handled.
"""
from __future__ import annotations

import hashlib
import secrets

from flask import Blueprint, abort, current_app, render_template, request

from .. import audit
from ..actors import Actor
from ..errors import DomainError, InvalidInput, N_
from ..extensions import db
from ..models.base import utcnow
from ..models.enums import ActorType
from ..models.systems import RunStatus, SystemRun
from ..web.common import client_ip, translate_error, user_agent

bp = Blueprint("execution_owner", __name__)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def open_task(run: SystemRun, system, capture: dict, actor: Actor) -> None:
    """Email the owner their link; the run waits for them (``waiting_owner``). The caller commits."""
    from ..services.notifications import queue_email
    from ..urls import public_url

    from flask_babel import force_locale, gettext

    token = secrets.token_urlsafe(32)
    run.owner_token_hash = _hash(token)
    run.status = RunStatus.WAITING_OWNER
    lang = "fr"    # owners are IDOMED's own services (like collection's owner emails)
    with force_locale(lang):
        title = gettext("%(system)s: request %(reference)s", system=system.label(lang), reference=run.request.reference)
        text = gettext("A request must be carried out in %(system)s. Open the link to see what to do, then confirm "
                       "how many records you handled.", system=system.label(lang))
    queue_email(system.owner_email, "notice", lang, {
        "title": title, "paragraphs": [text],
        "link": public_url("execution_owner.owner_execute_GET", token=token)}, request=run.request)
    audit.record(actor, "manual_execution_task_opened", request=run.request, touch=False,
                 details={"system": system.key, "run": run.id, "verb": capture["verb"]})


def confirm(run: SystemRun, actor: Actor, *, records: int, note: str | None = None) -> None:
    """The owner says it is done and how many records they handled; the run is done (the caller commits)."""
    from .execution import DryRun, _done, _execution_runs, _finish

    if run.status != RunStatus.WAITING_OWNER:
        raise InvalidInput(N_("This task is already confirmed."), code="done", field="records")
    _done(run, "_records", {"rows": records, "ops": ["owner"], "at": utcnow().isoformat(),
                            "note": (note or "").strip()[:2000] or None})
    run.owner_answer, run.owner_token_hash = "done", None
    run.status, run.finished_at = RunStatus.DONE, utcnow()
    audit.record(actor, "manual_execution_confirmed", request=run.request, touch=False,
                 details={"system": run.system_key, "run": run.id, "records": records})
    dr = next(d for d in run.request.dry_runs if run.id in (d.run_ids or []))
    if all(r.status == RunStatus.DONE for r in _execution_runs(run.request) if r.id in dr.run_ids):
        _finish(db.session.get(DryRun, dr.id), actor)


def _run(token: str) -> SystemRun:
    import sqlalchemy as sa

    if not token or len(token) > 100:
        abort(404)
    run = db.session.scalar(sa.select(SystemRun).where(SystemRun.owner_token_hash == _hash(token),
                                                       SystemRun.purpose == "execute"))
    if run is None:
        abort(404)
    return run


def _page(token: str, run: SystemRun, *, problems=None, done=False, status=200):
    from .execution import _load_capture

    system = current_app.extensions["dsar_systems"].system(run.system_key)
    capture = {} if done else _load_capture(run)
    return render_template("systems/owner_execute.html", token=token, reference=run.request.reference,
                           system_name=system.label("fr"), verb=capture.get("verb"),
                           categories=capture.get("categories", []), identities=capture.get("identities", {}),
                           problems=problems or [], done=done), status


def _actor(run: SystemRun) -> Actor:
    system = current_app.extensions["dsar_systems"].system(run.system_key)
    return Actor(ActorType.SYSTEM, run.system_key, f"{system.owner_name} ({system.key})", ip=client_ip(),
                 user_agent=user_agent())


@bp.get("/systems/execute/<token>")
def owner_execute_GET(token: str):
    run = _run(token)
    return _page(token, run)


@bp.post("/systems/execute/<token>")
def owner_execute_POST(token: str):
    run = _run(token)
    raw = (request.form.get("records") or "").strip()
    try:
        if not raw.isdigit() or len(raw) > 9:
            raise InvalidInput(N_("Give the number of records you handled (0 or more)."), code="records",
                               field="records")
        confirm(run, _actor(run), records=int(raw), note=request.form.get("note"))
    except DomainError as err:
        db.session.rollback()
        return _page(token, _run(token), problems=[("records", translate_error(err))], status=err.status_code)
    db.session.commit()
    return _page(token, run, done=True)
