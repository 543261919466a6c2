"""Back-office forms of the execution on the systems (issue 17): compute a dry run, approve or reject it,
execute it, resume a failed run. ``systems/execution.py`` does the work; the panel is
``templates/backoffice/_execution.html``, inside the answer's follow-up."""
from __future__ import annotations

from flask import current_app
from flask_babel import get_locale

from ...models import DataRequest
from ...models.execution import DryRunStatus
from ...systems import execution
from . import bp
from .auth import staff_actor, staff_required
from .fulfilment import WRITERS, _run

#: Approving what is erased is the DPO's (or an admin's) decision; agents prepare it.
APPROVERS = ("admin", "dpo")
VERBS_BY_TYPE = {"erasure": "erasure", "restriction": "restriction"}


@bp.app_template_global()
def execution_panel(req: DataRequest) -> dict | None:
    """What the execution panel shows; None without a systems file or for a type that executes nothing."""
    if current_app.extensions.get("dsar_systems") is None or req.type not in VERBS_BY_TYPE:
        return None
    verb = VERBS_BY_TYPE[req.type]
    dr = execution.current_dry_run(req, verb)
    runs = execution._execution_runs(req) if dr is not None else []
    return {
        "verb": verb, "dry_run": dr, "runs": runs, "lang": str(get_locale() or "fr"),
        "awaiting": dr is not None and dr.status == DryRunStatus.AWAITING_APPROVAL,
        "approved": dr is not None and dr.status == DryRunStatus.APPROVED,
        "executing": dr is not None and dr.status == DryRunStatus.EXECUTING,
        "resumable": any(r.status != "done" for r in runs),
        "systems": current_app.extensions["dsar_systems"],
    }


@bp.post("/requests/<reference>/execution/dry-run")
@staff_required(*WRITERS)
def dry_run_POST(reference: str):
    return _run(reference, "execution", lambda req: execution.compute_dry_run(
        req, staff_actor(), verb=VERBS_BY_TYPE.get(req.type, "erasure")), "Dry run computed: review it.")


@bp.post("/requests/<reference>/execution/<int:dry_run_id>/approve")
@staff_required(*APPROVERS)
def dry_run_approve_POST(reference: str, dry_run_id: int):
    return _run(reference, "execution", lambda req: execution.approve(
        execution.get_dry_run(req, dry_run_id), staff_actor()), "Dry run approved.")


@bp.post("/requests/<reference>/execution/<int:dry_run_id>/reject")
@staff_required(*APPROVERS)
def dry_run_reject_POST(reference: str, dry_run_id: int):
    from flask import request

    return _run(reference, "execution", lambda req: execution.reject(
        execution.get_dry_run(req, dry_run_id), staff_actor(), reason=request.form.get("reason", "")),
        "Dry run rejected: nothing will be executed.")


@bp.post("/requests/<reference>/execution/<int:dry_run_id>/execute")
@staff_required(*APPROVERS)
def dry_run_execute_POST(reference: str, dry_run_id: int):
    return _run(reference, "execution", lambda req: execution.execute(
        execution.get_dry_run(req, dry_run_id), staff_actor()),
        "Execution started. If the data changed since the dry run, a new dry run is waiting for approval.")


@bp.post("/requests/<reference>/execution/resume")
@staff_required(*APPROVERS)
def execution_resume_POST(reference: str):
    return _run(reference, "execution", lambda req: execution.resume(req, staff_actor()),
                "The unfinished systems are queued again.")
