"""A manual system's owner carries out the verb and confirms it (issue 17).

``/systems/execute/<token>``: the owner sees what to do (the verb, the data categories, the person's
identifiers, captured before any change) and confirms how many records they handled. The link is sent by
``dsar.systems.connectors.manual``; the confirmation is stored on the run and audited
(``dsar.systems.owner_answers.confirm``), never only in a cache.
"""
from __future__ import annotations

from flask import Blueprint, abort, current_app, render_template, request

from ...errors import DomainError, InvalidInput, N_
from ...extensions import db
from ...models.systems import SystemRun
from ...systems.connectors.manual import execution_run_from_token
from ...systems.execution import _load_capture
from ...systems.owner_answers import confirm
from ..common import translate_error
from .views import owner_actor

bp = Blueprint("execution_owner", __name__)


def _run(token: str) -> SystemRun:
    run = execution_run_from_token(token)
    if run is None:
        abort(404)
    return run


def _page(token: str, run: SystemRun, *, problems=None, done=False, status=200):
    system = current_app.extensions["dsar_systems"].system(run.system_key)
    capture = {} if done else _load_capture(run)
    return render_template("systems/owner_execute.html", token=token, reference=run.request.reference,
                           system_name=system.label("fr"), verb=capture.get("verb"),
                           categories=capture.get("categories", []), identities=capture.get("identities", {}),
                           problems=problems or [], done=done), status


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
        confirm(run, owner_actor(run), records=int(raw), note=request.form.get("note"))
    except DomainError as err:
        db.session.rollback()
        return _page(token, _run(token), problems=[("records", translate_error(err))], status=err.status_code)
    db.session.commit()
    return _page(token, run, done=True)
