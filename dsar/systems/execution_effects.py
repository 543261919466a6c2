"""What an executed verb records beyond the rows (issue 17), and what execution checks before a lift.

- ``on_executed``: once every system of a dry run is done, the checklist step the verb does is ticked, the
  proposed rectifications are applied (GDPR art. 16) and a deactivation is confirmed (policy art. 8.2);
- ``lift_announced``: whether the requester was told before the restriction is lifted (GDPR art. 18(3)).

Called by ``execution``; ``rights`` (on top of execution) proposes and starts these verbs.
"""
from __future__ import annotations

import sqlalchemy as sa

from .. import audit
from ..actors import Actor
from ..extensions import db
from ..models import DataRequest, Event
from ..models.execution import DryRun, RectificationStatus
from ..services import checklist
from ..services.fulfilment.consent import confirm_account_deactivation


#: The checklist step (policy request_types.*.steps) that an executed verb does: ticked by the execution itself.
STEP_DONE_BY_VERB = {"erasure": "execute_erasure", "restriction": "mark_restricted",
                     "rectification": "apply_rectification"}


def on_executed(dr: DryRun, actor: Actor) -> None:
    """Called when every system of a dry run is done: what each verb still has to record."""
    if dr.verb in STEP_DONE_BY_VERB:
        checklist.tick_by_the_service(dr.request, actor, STEP_DONE_BY_VERB[dr.verb],
                                      note=f"dry run {dr.id}: " + ", ".join(
                                          f"{l.system}.{l.table or '*'} {l.action} {l.done_rows or 0}"
                                          for l in dr.lines if l.action != "keep"))
    if dr.verb == "rectification":
        for r in dr.request.rectifications:
            if r.status != RectificationStatus.PROPOSED:
                continue
            line = next((l for l in dr.lines if l.system == r.system and l.table == r.table), None)
            r.status, r.applied_at, r.applied_by = RectificationStatus.APPLIED, dr.executed_at, actor.label
            r.rows = line.done_rows if line is not None else 0
            audit.record(actor, "rectification_applied", request=dr.request, details={
                "rectification": r.id, "system": r.system, "table": r.table, "column": r.column, "rows": r.rows,
                "gdpr": "art. 16"})
    if dr.verb == "deactivate":
        dz = dr.request.account_deactivation
        if dz is not None and dz.status != "confirmed":
            confirm_account_deactivation(dr.request, actor, note="executed through the systems (issue 17)")


def lift_announced(req: DataRequest):
    """When the requester was told that the restriction in place will be lifted (art. 18(3)), or None: a notice
    given before the latest restriction was executed does not count for it."""
    restricted = [d.executed_at for d in req.dry_runs if d.verb == "restriction" and d.executed_at is not None]
    query = sa.select(sa.func.max(Event.occurred_at)).where(
        Event.stream == f"request:{req.id}", Event.action == "restriction_lift_announced")
    if restricted:
        query = query.where(Event.occurred_at >= max(restricted))
    return db.session.scalar(query)
