"""Back-office forms of the execution on the systems (issue 17): compute a dry run, approve or reject it,
execute it, resume a failed run. ``systems/execution.py`` does the work; the panel is
``templates/backoffice/_execution.html``, inside the answer's follow-up."""
from __future__ import annotations

from flask import current_app
from flask_babel import gettext

from ...policy.law import RETENTION_GROUNDS

from ...models import DataRequest
from ...models.execution import DryRunStatus
from ...systems import execution
from ...systems.execution_effects import lift_announced
from ...systems.execution_sweep import exhausted
from ..common import current_language
from .blueprint import bp
from .auth import staff_actor, staff_required
from .fulfilment import WRITERS, _run
from ...systems import rights

#: Approving what is erased is the DPO's (or an admin's) decision; agents prepare it.
APPROVERS = ("admin", "dpo")
VERBS_BY_TYPE = {"erasure": "erasure", "restriction": "restriction", "rectification": "rectification"}


@bp.app_template_global()
def execution_panel(req: DataRequest) -> dict | None:
    """What the execution panel shows; None without a systems file or for a type that executes nothing."""
    if current_app.extensions.get("dsar_systems") is None or req.type not in VERBS_BY_TYPE:
        return None
    verb = _panel_verb(req)
    dr = execution.current_dry_run(req, verb)
    runs = execution._execution_runs(req) if dr is not None else []
    return {
        "verb": verb, "dry_run": dr, "runs": runs, "lang": current_language(),
        "awaiting": dr is not None and dr.status == DryRunStatus.AWAITING_APPROVAL,
        "approved": dr is not None and dr.status == DryRunStatus.APPROVED,
        "executing": dr is not None and dr.status == DryRunStatus.EXECUTING,
        "resumable": any(r.status != "done" for r in runs),
        "exhausted": [r for r in runs if exhausted(r)],
        "systems": current_app.extensions["dsar_systems"],
        "lift": _lift_state(req),
        "rectification": _rectification_state(req) if verb == "rectification" else None,
    }


def _rectification_state(req: DataRequest) -> dict:
    """GDPR art. 16: the fields the map allows, and what was proposed (by the requester or staff)."""
    fields = rights.rectifiable_fields(req, current_language())
    return {"fields": fields, "proposals": rights.proposals(req),
            "options": [(f["key"], f"{f['system_label']} — {f['category']} — {f['table']}.{f['column']}") for f in fields]}


def _panel_verb(req: DataRequest) -> str:
    """The verb the panel works on: a restriction's lift once it was asked for, else the request's own."""
    if req.type == "restriction" and execution.current_dry_run(req, "lift_restriction") is not None:
        return "lift_restriction"
    return VERBS_BY_TYPE.get(req.type, "erasure")


def _lift_state(req: DataRequest) -> dict | None:
    """GDPR art. 18(3): while a restriction is in place, tell the requester, then lift it (never the reverse)."""
    if req.type != "restriction" or not rights.restriction_in_place(req):
        return None
    lift = execution.current_dry_run(req, "lift_restriction")
    return {"announced_at": lift_announced(req), "lifting": lift is not None}


#: Grounds the dry run adds when the policy gives none (``dryrun.plan_table``).
PLAN_GROUNDS = {
    "not_in_plan": lambda: gettext("not covered by the erasure plan: nothing is changed without one"),
    "no_erasure_action": lambda: gettext("the systems file allows no deletion or mask for this table"),
}


@bp.app_template_filter("ground_label")
def ground_label(key: str, lang: str) -> str:
    """A retention ground as the staff read it: the policy's label and its GDPR art. 17(3) point, not its key."""
    if key in RETENTION_GROUNDS:
        article, labels = RETENTION_GROUNDS[key]
        return gettext("%(label)s (GDPR %(article)s)", label=labels.get(lang) or labels["en"], article=article)
    return PLAN_GROUNDS[key]() if key in PLAN_GROUNDS else key


@bp.post("/requests/<reference>/execution/dry-run")
@staff_required(*WRITERS)
def dry_run_POST(reference: str):
    def compute(req):
        if req.type == "rectification":
            return rights.rectification_dry_run(req, staff_actor())
        return execution.compute_dry_run(req, staff_actor(), verb=_panel_verb(req))

    return _run(reference, "execution", compute, "Dry run computed: review it.")


@bp.post("/requests/<reference>/execution/rectification")
@staff_required(*WRITERS)
def rectification_propose_POST(reference: str):
    """Staff propose a field to change, or edit a proposal (the same field again replaces it) — GDPR art. 16."""
    from flask import request


    return _run(reference, "rectification", lambda req: rights.propose_field(
        req, staff_actor(), field=request.form.get("field", ""), value=request.form.get("value", "")),
        "The change is proposed: compute the dry run and approve it to apply it.")


@bp.post("/requests/<reference>/execution/announce-lift")
@staff_required(*WRITERS)
def restriction_announce_lift_POST(reference: str):
    """GDPR art. 18(3): the requester is told (email, audit event) before the restriction is lifted."""
    return _run(reference, "execution", lambda req: rights.announce_lift(req, staff_actor()),
                "The requester was told that the restriction will be lifted.")


@bp.post("/requests/<reference>/execution/lift")
@staff_required(*APPROVERS)
def restriction_lift_POST(reference: str):
    """Lift the restriction: a dry run of ``lift_restriction``, refused (409) until the requester was told."""
    return _run(reference, "execution", lambda req: rights.lift_dry_run(req, staff_actor()),
                "Dry run computed: review it.")


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
    def run(req):
        dr = execution.get_dry_run(req, dry_run_id)
        if dr.verb == "rectification":   # the proposed values go with the capture
            return rights.execute_rectification(dr, staff_actor())
        return execution.execute(dr, staff_actor())

    return _run(reference, "execution", run,
        "Execution started. If the data changed since the dry run, a new dry run is waiting for approval.")


@bp.post("/requests/<reference>/execution/resume")
@staff_required(*APPROVERS)
def execution_resume_POST(reference: str):
    return _run(reference, "execution", lambda req: execution.resume(req, staff_actor()),
                "The unfinished systems are queued again.")
