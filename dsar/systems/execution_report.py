"""What the letter and the art. 19 notifications say of an execution on the systems (issue 17).

Both speak of what was executed (the rows each run handled), not of what was planned: the letter lists, per
system and data category, the rows deleted, masked, archived, changed or kept; GDPR art. 19 notifications go
only to the recipients of the activities whose systems the execution changed.
"""
from __future__ import annotations

from flask import current_app

from ..models import DataRequest
from ..models.execution import DryRunStatus, LineAction
from ..policy.text import localized
from ..services.fulfilment.common import current_policy
from ..services.fulfilment.systems_hooks import systems_hooks
from .execution import executed_dry_run


def executed_rows(req: DataRequest, lang: str, verb: str = "erasure") -> list[dict]:
    """Per system and data category, what the execution did (rows handled), from the runs, not from the plan."""
    dr = executed_dry_run(req, verb)
    if dr is None:
        return []
    policy = current_policy()
    systems = current_app.extensions.get("dsar_systems")
    out: dict[tuple, dict] = {}
    for line in dr.lines:
        system = systems.system(line.system) if systems is not None else None
        activity = system.activity if system is not None else None
        names = {c.key: localized(c.name, lang) for c in policy.categories_for(activity)} if activity else {}
        for cat in line.categories or ["-"]:
            key = (line.system, cat, line.action)
            row = out.setdefault(key, {
                "system": system.label(lang) if system is not None else line.system,
                "category": names.get(cat, cat), "action": line.action, "rows": 0,
                "until": line.until, "grounds": list(line.grounds or []),
            })
            row["rows"] += (line.done_rows if line.action != LineAction.KEEP else line.rows) or 0
    order = {a: i for i, a in enumerate(("delete", "mask", "archive", "set", "update", "call", "owner_task", "keep"))}
    return sorted(out.values(), key=lambda r: (r["system"], order.get(r["action"], 9), r["category"]))


def executed_activities(req: DataRequest) -> set[str] | None:
    """The activities whose systems an execution changed (GDPR art. 19: only the recipients these concern).

    None when nothing was executed through the systems (the notifications follow the request as before).
    """
    done = [d for d in req.dry_runs if d.status == DryRunStatus.EXECUTED]
    if not done:
        return None
    systems = current_app.extensions.get("dsar_systems")
    out = set()
    for dr in done:
        for line in dr.lines:
            if line.action != LineAction.KEEP and (line.done_rows or line.table is None) and systems is not None:
                out.add(systems.system(line.system).activity)
    return out


# Fulfilment (a layer below) asks through these: the letter's rows and the art. 19 recipients (issue 15).
systems_hooks.register(executed_rows=executed_rows, executed_activities=executed_activities)
