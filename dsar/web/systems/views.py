"""Pages of collection: a manual system's owner answers; the professional reviews sealed content; the DPO runs again.

- ``/systems/owner/<token>``: the owner of a manual system uploads an export or confirms "nothing held";
- ``/systems/review/<task token>``: the professional in charge previews the shared health content collected for
  their patient (policy art. 8.2), withholds an item with a reason (GDPR art. 15(4)) and releases it;
- ``/backoffice/requests/<reference>/collection/<run id>/rerun``: the DPO's "run again" on a failed system.

Staff never see sealed content: the back-office panel shows states, counts and categories only.
Views parse, call one service function, commit, redirect.
"""
from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from ... import audit
from ...actors import Actor
from ...errors import DomainError, InvalidInput, N_
from ...extensions import db
from ...models import DataRequest
from ...models.enums import ActorType
from ...models.systems import RunStatus, SystemRun
from ...services import routing
from ...systems import owner_answers, packs
from ...systems.collection import run_again
from ...systems.connectors.manual import run_from_owner_token
from ...systems.runs import runs_of
from ...tokens import TokenError
from ..backoffice.auth import staff_actor, staff_required
from ..common import client_ip, translate_error, user_agent

bp = Blueprint("systems", __name__)

STATUS_LABELS = {
    RunStatus.PENDING: N_("Waiting to start"), RunStatus.RUNNING: N_("Collecting"), RunStatus.DONE: N_("Collected"),
    RunStatus.FAILED: N_("Failed"), RunStatus.WAITING_OWNER: N_("Waiting for the system's owner"),
}
PACK_LABELS = {"waiting_review": N_("waiting for the professional's review (shared health content)"),
               "building": N_("being built"), "ready": N_("ready"), "failed": N_("build failed")}


def _systems():
    return current_app.extensions.get("dsar_systems")


# --- back-office -----------------------------------------------------------------------------------------


@bp.app_template_global()
def collection_panel(req: DataRequest):
    """What staff see of a request's collection: per system its state and error; per table counts and categories."""
    runs = runs_of(req)
    if not runs:
        return None
    senior = getattr(current_user, "role", None) in ("dpo", "admin")
    pack = packs.pack_of(req)
    return {
        "runs": [{
            "id": r.id, "system": _label(r.system_key), "status": r.status,
            "status_label": _(STATUS_LABELS.get(r.status, r.status)), "attempts": r.attempts, "error": r.error,
            "can_rerun": senior and r.status == RunStatus.FAILED,
            "tables": [{"table": t, "rows": e.get("rows", 0), "categories": e.get("categories", []),
                        "sealed": bool(e.get("sealed"))} for t, e in sorted((r.progress or {}).items())],
        } for r in runs],
        "pack": pack,
        "pack_label": _(PACK_LABELS.get(pack.status, pack.status)) if pack else "",
    }


@bp.app_template_global()
def collected_pack_status(req: DataRequest) -> str | None:
    """For the professional's task page: whether sealed content collected for their patient awaits their review."""
    pack = packs.pack_of(req) if req is not None else None
    return pack.status if pack is not None and pack.sealed_rows else None


def _label(key: str) -> str:
    systems = _systems()
    try:
        return systems.system(key).label(request.accept_languages.best_match(["fr", "en"]) or "fr")
    except Exception:  # noqa: BLE001 - a system removed from the file keeps its key
        return key


@bp.post("/backoffice/requests/<reference>/collection/<int:run_id>/rerun")
@staff_required("dpo", "admin")
def rerun_POST(reference: str, run_id: int):
    run = db.session.get(SystemRun, run_id)
    if run is None or run.request is None or run.request.reference != reference:
        abort(404)
    try:
        run_again(run, staff_actor())
    except DomainError as err:
        db.session.rollback()
        flash(translate_error(err), "error")
        return redirect(url_for("backoffice.request_GET", reference=reference))
    db.session.commit()
    flash(_("The collection from this system starts again; what was already collected is kept."))
    return redirect(url_for("backoffice.request_GET", reference=reference))


# --- a manual system's owner -----------------------------------------------------------------------------


def _owner_run(token: str) -> SystemRun:
    run = run_from_owner_token(token)
    if run is None:
        abort(404)
    return run


def _owner_page(token, run, *, problems=None, status=200):
    system = _systems().system(run.system_key)
    req = run.request
    policy = current_app.extensions["dsar_policy"]
    names = {c.key: c.name.get("fr") or c.key for c in policy.data_categories if c.activity == system.activity}
    return render_template(
        "systems/owner_task.html", token=token, reference=req.reference, system_name=system.label("fr"),
        subject_name=req.subject.full_name if req.subject else "", subject_email=req.subject.email if req.subject else None,
        subject_phone=req.subject.phone if req.subject else None, account_id=req.external_account_id,
        categories=[(c, names.get(c, c)) for c in system.categories], problems=problems or [], done=False), status


@bp.get("/systems/owner/<token>")
def owner_GET(token: str):
    run = _owner_run(token)
    audit.record(owner_actor(run), "manual_system_task_opened_page", request=run.request, touch=False,
                 details={"system": run.system_key, "run": run.id})
    db.session.commit()
    return _owner_page(token, run)


def owner_actor(run: SystemRun) -> Actor:
    """The owner of a manual system, as the audit trail names them (collection and execution links)."""
    system = _systems().system(run.system_key)
    return Actor(ActorType.SYSTEM, run.system_key, f"{system.owner_name} ({system.key})", ip=client_ip(),
                 user_agent=user_agent())


@bp.post("/systems/owner/<token>")
def owner_POST(token: str):
    run = _owner_run(token)
    system = _systems().system(run.system_key)
    actor = owner_actor(run)
    try:
        if request.form.get("answer") == "nothing_held":
            owner_answers.answer_nothing_held(run, system, actor)
        else:
            upload = request.files.get("file")
            if upload is None or not upload.filename:
                raise InvalidInput(N_("Choose the file to send."), code="file", field="file")
            owner_answers.answer_with_export(run, system, actor, stream=upload.stream, filename=upload.filename,
                                      declared_type=upload.mimetype, category=request.form.get("category", ""))
    except DomainError as err:
        db.session.rollback()
        return _owner_page(token, run, problems=[("file", translate_error(err))], status=err.status_code)
    db.session.commit()
    return render_template("systems/owner_task.html", done=True, reference=run.request.reference,
                           system_name=system.label("fr"), problems=[], token=token)


# --- the professional's review of sealed content (policy art. 8.2) -----------------------------------------


def _task(token: str):
    try:
        return routing.task_from_token(token)
    except TokenError as err:
        abort(getattr(err, "status_code", 400))  # 400: not one of our links; 410: a link that no longer works


def _pro_actor(task):
    return routing.professional_actor(task, ip=client_ip(), user_agent=user_agent())


def _review_page(token, task, *, problems=None, status=200):
    req = task.request
    pack = packs.pack_of(req)
    if pack is None:
        abort(404)
    return render_template("systems/review.html", token=token, reference=req.reference, status=pack.status,
                           preview=packs.sealed_preview(req), problems=problems or []), status


@bp.get("/systems/review/<token>")
def review_GET(token: str):
    task = _task(token)
    audit.record(_pro_actor(task), "sealed_content_previewed", request=task.request, touch=False)
    db.session.commit()
    return _review_page(token, task)


@bp.post("/systems/review/<token>/withhold")
def review_withhold_POST(token: str):
    task = _task(token)
    try:
        packs.withhold(task.request, _pro_actor(task), system_key=request.form.get("system", ""),
                       table=request.form.get("table", ""), item_key=request.form.get("key", ""),
                       reason=request.form.get("reason", ""))
    except DomainError as err:
        db.session.rollback()
        return _review_page(token, task, problems=[("reason", translate_error(err))], status=err.status_code)
    db.session.commit()
    return redirect(url_for("systems.review_GET", token=token))


@bp.post("/systems/review/<token>/release")
def review_release_POST(token: str):
    task = _task(token)
    try:
        packs.release(task.request, _pro_actor(task))
    except DomainError as err:
        db.session.rollback()
        return _review_page(token, task, problems=[("release", translate_error(err))], status=err.status_code)
    db.session.commit()
    return redirect(url_for("systems.review_GET", token=token))
