"""Rectification, restriction and consent withdrawal executed on the systems (issue 17), on top of ``execution``.

- Rectification (GDPR art. 16): the requester or staff propose a field and its new value; only the columns the
  map lists under ``rectification:`` may change. The dry run shows the rows; once approved and executed
  through the ``set`` verb, the values before and after are kept encrypted (``dsar.protected``) with the
  request, and the change is audited without the values.
- Restriction (art. 18): marked through the map's ``restriction`` verb, lifted through ``lift_restriction``;
  before lifting, the requester is told (art. 18(3)), and a lift without that notice is refused.
- Withdrawal of consent for health data (policy art. 8.2): when the map offers ``deactivate``, the account is
  deactivated through the application's system and the deactivation confirmed from the execution, not by staff.
"""
from __future__ import annotations

import logging

import sqlalchemy as sa
from flask import current_app
from flask_babel import force_locale, gettext

from .. import audit
from ..actors import Actor
from ..errors import IllegalTransition, InvalidInput, N_
from ..extensions import db
from ..models import DataRequest, Event
from ..models.execution import DryRun, Rectification, RectificationStatus
from ..protected import decrypt_json, encrypt_json
from . import execution

log = logging.getLogger(__name__)


# --- rectification ------------------------------------------------------------------------------------------


def propose_rectification(req: DataRequest, actor: Actor, *, system: str, table: str, column: str,
                          value: str) -> Rectification:
    """A field to change, as the requester or staff propose it (GDPR art. 16); the value is kept encrypted."""
    systems = execution.systems_map()
    try:
        allowed = systems.system(system).table(table).actions.get("rectification") or []
    except KeyError:
        allowed = []
    if column not in allowed:
        raise InvalidInput(N_("This field cannot be rectified through the systems."), code="not_rectifiable",
                           field="column")
    r = Rectification(request=req, system=system, table=table, column=column, proposed_by=actor.label,
                      after_sealed=encrypt_json(value), status=RectificationStatus.PROPOSED)
    db.session.add(r)
    db.session.flush()
    audit.record(actor, "rectification_proposed", request=req, details={
        "rectification": r.id, "system": system, "table": table, "column": column, "gdpr": "art. 16"})
    return r


def _proposed(req: DataRequest) -> list[Rectification]:
    return [r for r in req.rectifications if r.status == RectificationStatus.PROPOSED]


def rectification_dry_run(req: DataRequest, actor: Actor) -> DryRun:
    columns: dict[tuple, list] = {}
    for r in _proposed(req):
        columns.setdefault((r.system, r.table), []).append(r.column)
    return execution.compute_dry_run(req, actor, verb="rectification", columns=columns)


def execute_rectification(dr: DryRun, actor: Actor) -> DryRun:
    """Execute an approved rectification dry run; the values before are captured and sealed first."""
    changes: dict[str, dict] = {}
    for r in _proposed(dr.request):
        changes.setdefault(f"{r.system}.{r.table}", {})[r.column] = decrypt_json(r.after_sealed)
    extra = {"rectification": changes}
    result = execution.execute(dr, actor, extra=extra)
    if result is dr:
        for r in _proposed(dr.request):
            before = [[pk, {r.column: vals.get(r.column)}] for pk, vals in extra.get("before", {}).get(
                f"{r.system}.{r.table}", [])]
            r.before_sealed = encrypt_json(before)
    return result


def on_executed(dr: DryRun, actor: Actor) -> None:
    """Called when every system of a dry run is done: what each verb still has to record."""
    if dr.verb == "rectification":
        for r in _proposed(dr.request):
            line = next((l for l in dr.lines if l.system == r.system and l.table == r.table), None)
            r.status, r.applied_at, r.applied_by = RectificationStatus.APPLIED, dr.executed_at, actor.label
            r.rows = line.done_rows if line is not None else 0
            audit.record(actor, "rectification_applied", request=dr.request, details={
                "rectification": r.id, "system": r.system, "table": r.table, "column": r.column, "rows": r.rows,
                "gdpr": "art. 16"})
    if dr.verb == "deactivate":
        from ..services.fulfilment import confirm_account_deactivation

        dz = dr.request.account_deactivation
        if dz is not None and dz.status != "confirmed":
            confirm_account_deactivation(dr.request, actor, note="executed through the systems (issue 17)")


def rectification_values(r: Rectification) -> dict:
    """Before and after, decrypted: for the DPO's review and for the request's evidence only."""
    return {"before": decrypt_json(r.before_sealed), "after": decrypt_json(r.after_sealed)}


# --- restriction --------------------------------------------------------------------------------------------


def restriction_in_place(req: DataRequest) -> bool:
    """A restriction was executed on the systems and no lift was executed after it."""
    done = [d for d in req.dry_runs if d.verb in ("restriction", "lift_restriction")
            and d.status == execution.DryRunStatus.EXECUTED]
    return bool(done) and max(done, key=lambda d: d.id).verb == "restriction"


def announce_lift(req: DataRequest, actor: Actor, *, when: str | None = None) -> None:
    """GDPR art. 18(3): the requester is told before the restriction is lifted."""
    from ..services import notifications

    if not restriction_in_place(req):
        raise IllegalTransition(N_("No restriction is in place in the systems for this request."),
                                code="not_restricted")

    with force_locale(req.language or "fr"):
        title = gettext("The restriction of your data is about to be lifted")
        paragraphs = [gettext("You asked us to restrict the processing of your data (GDPR art. 18). We are about "
                              "to lift this restriction; as the law requires, we tell you before we do it "
                              "(GDPR art. 18(3))."), when or ""]
    notifications.email_requester(req, "notice", {"title": title, "paragraphs": [p for p in paragraphs if p]})
    audit.record(actor, "restriction_lift_announced", request=req, details={"gdpr": "art. 18(3)"})


def lift_announced(req: DataRequest):
    """When the requester was told that the restriction in place will be lifted (art. 18(3)), or None: a notice
    given before the latest restriction was executed does not count for it."""
    restricted = [d.executed_at for d in req.dry_runs if d.verb == "restriction" and d.executed_at is not None]
    query = sa.select(sa.func.max(Event.occurred_at)).where(
        Event.stream == f"request:{req.id}", Event.action == "restriction_lift_announced")
    if restricted:
        query = query.where(Event.occurred_at >= max(restricted))
    return db.session.scalar(query)


def lift_dry_run(req: DataRequest, actor: Actor) -> DryRun:
    if not lift_announced(req):
        raise IllegalTransition(N_("Tell the requester before the restriction is lifted (GDPR art. 18(3))."),
                                code="lift_not_announced")
    return execution.compute_dry_run(req, actor, verb="lift_restriction")


# --- consent withdrawal -------------------------------------------------------------------------------------


def offers_deactivation() -> bool:
    systems = current_app.extensions.get("dsar_systems")
    return systems is not None and any(
        t.actions.get("deactivate") for s in systems if s.kind == "sql" for t in s.tables)


def deactivate_through_systems(req: DataRequest, actor: Actor) -> DryRun | None:
    """Policy art. 8.2: the answer that grants the withdrawal is the decision; the application deactivates the
    account through the map's ``deactivate`` verb. Without it, or if the system cannot be reached now, staff
    confirm by hand as before (None)."""
    if not offers_deactivation():
        return None
    try:
        dr = execution.compute_dry_run(req, actor, verb="deactivate")
        if not any(l.rows for l in dr.lines):
            return None
        dr.approved_at, dr.approved_by = dr.computed_at, actor.label
        if dr.needs_professional:
            dr.professional_approved_at, dr.professional_approved_by = dr.computed_at, actor.label
        dr.status = "approved"
        return execution.execute(dr, actor)
    except (execution.ConnectorError, sa.exc.DBAPIError) as exc:
        log.warning("deactivation through the systems not possible now (%s): staff confirm it", type(exc).__name__)
        return None
