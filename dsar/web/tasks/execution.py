"""The professional in charge approves the erasure of shared health content from the task page (policy art. 8.2:
IDOMED staff never see it, so its erasure is released by the professional; issue 17). Counts only are shown."""
from __future__ import annotations

from flask import current_app, redirect, url_for
from flask_babel import gettext as _

from ...errors import IllegalTransition, N_
from ...extensions import limiter
from ...models import DataRequest
from ...models.execution import DryRunStatus
from .blueprint import bp
from .views import _act, _actor, _limit
from ...systems import execution


@bp.app_template_global()
def sealed_erasure(req: DataRequest) -> dict | None:
    """The erasure dry run waiting for the professional: its sealed lines (tables and counts), or None."""
    if current_app.extensions.get("dsar_systems") is None:
        return None

    dr = execution.current_dry_run(req, "erasure")
    if dr is None or not dr.needs_professional:
        return None
    return {"dry_run": dr, "lines": [l for l in dr.lines if l.sealed],
            "waiting": dr.status == DryRunStatus.AWAITING_APPROVAL and dr.professional_approved_at is None}


@bp.post("/<token>/erasure-approval")
@limiter.limit(_limit("action"))
def erasure_approval_POST(token: str):
    def action(task):
        dr = execution.current_dry_run(task.request, "erasure")
        if dr is None or not dr.needs_professional:
            raise IllegalTransition(N_("There is no erasure of shared health content to approve."),
                                    code="nothing_to_approve")
        execution.approve_sealed(dr, _actor(task))
        return redirect(url_for("tasks.task_GET", token=token), code=303)

    return _act(token, action, values={}, success=_("Thank you: the erasure of the shared health content is approved."))
