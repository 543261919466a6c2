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
from datetime import date

import sqlalchemy as sa
from flask import current_app
from flask_babel import force_locale, gettext

from .. import audit
from ..actors import Actor
from ..errors import IllegalTransition, InvalidInput, N_
from ..extensions import db
from ..models import DataRequest
from ..models.enums import Status
from ..models.execution import DryRun, DryRunStatus, Rectification, RectificationStatus
from ..policy.text import localized
from ..protected import decrypt_json, encrypt_json
from ..services import notifications
from ..services.fulfilment.systems_hooks import systems_hooks
from . import execution
from .connectors import connector_for
from .execution_effects import lift_announced

log = logging.getLogger(__name__)


# --- rectification ------------------------------------------------------------------------------------------


#: Longest value a proposal may carry (the live column's own length, when it has one, is checked too).
MAX_VALUE = 500


def rectifiable_fields(req: DataRequest, lang: str = "fr") -> list[dict]:
    """The fields the map lets a rectification change (``rectification: [columns]``), for the request's
    activities: what the requester and staff may propose (GDPR art. 16)."""
    systems = current_app.extensions.get("dsar_systems")
    if systems is None:
        return []
    policy = current_app.extensions["dsar_policy"]
    activities = set(req.activities or []) or None
    out = []
    for system in systems:
        if system.kind != "sql" or (activities is not None and system.activity not in activities):
            continue
        names = {c.key: localized(c.name, lang) for c in policy.categories_for(system.activity)}
        for table in system.tables:
            for column in table.actions.get("rectification") or []:
                category = table.column(column).category
                out.append({"key": f"{system.key}.{table.name}.{column}", "system": system.key,
                            "table": table.name, "column": column, "system_label": system.label(lang),
                            "category": names.get(category, category)})
    return out


def _live_check(system, table: str, column: str, value: str) -> str:
    """The value, checked against the live column's type (a date, a number, a length), so that a proposal the
    system would refuse is refused now, with a message, rather than failing the execution later."""
    engine = connector_for(system).engine()
    try:
        with engine.connect() as conn:
            live = {c["name"]: c["type"] for c in sa.inspect(conn).get_columns(table)}
    except sa.exc.DBAPIError:
        log.warning("rectification: the live type of %s.%s could not be read; checked at execution", table, column)
        return value
    finally:
        engine.dispose()
    col_type = live.get(column)
    try:
        python_type = col_type.python_type if col_type is not None else str
    except NotImplementedError:
        python_type = str
    if python_type is date:
        try:
            return date.fromisoformat(value).isoformat()
        except ValueError:
            raise InvalidInput(N_("Enter a date as YYYY-MM-DD."), code="bad_date", field="value") from None
    if python_type is int:
        if not value.lstrip("-").isdigit():
            raise InvalidInput(N_("Enter a whole number."), code="bad_number", field="value")
        return value
    length = getattr(col_type, "length", None)
    if length and len(value) > length:
        raise InvalidInput(N_("This value is too long for this field (%(max)s characters at most)."),
                           code="too_long", field="value", max=length)
    return value


def propose_rectification(req: DataRequest, actor: Actor, *, system: str, table: str, column: str,
                          value: str) -> Rectification:
    """A field to change, as the requester or staff propose it (GDPR art. 16); the value is kept encrypted.

    Only a column the map lists under ``rectification:`` (for the request's activities) is accepted. A new
    proposal for the same field replaces the earlier one (edit), and any rectification dry run not yet
    executed is superseded: what staff approve is always the values proposed now."""
    if req.type != "rectification":
        raise IllegalTransition(N_("Fields to change can only be proposed for a rectification request."),
                                code="not_rectification")
    if Status(req.status).is_final or req.status == Status.ANSWERED:
        raise IllegalTransition(N_("This request is closed: no field can be proposed any more."), code="closed")
    if f"{system}.{table}.{column}" not in {f["key"] for f in rectifiable_fields(req)}:
        raise InvalidInput(N_("This field cannot be rectified through the systems."), code="not_rectifiable",
                           field="column")
    value = (value or "").strip()
    if not value:
        raise InvalidInput(N_("Enter the new value."), code="required", field="value")
    if len(value) > MAX_VALUE:
        raise InvalidInput(N_("This value is too long for this field (%(max)s characters at most)."),
                           code="too_long", field="value", max=MAX_VALUE)
    value = _live_check(execution.systems_map().system(system), table, column, value)
    for old in _proposed(req):
        if (old.system, old.table, old.column) == (system, table, column):
            old.status = RectificationStatus.WITHDRAWN
            audit.record(actor, "rectification_replaced", request=req, details={
                "rectification": old.id, "system": system, "table": table, "column": column})
    for dr in req.dry_runs:
        if dr.verb == "rectification" and dr.status in (DryRunStatus.AWAITING_APPROVAL, DryRunStatus.APPROVED):
            dr.status = DryRunStatus.SUPERSEDED
            audit.record(actor, "dry_run_superseded", request=req, details={
                "dry_run": dr.id, "reason": "rectification_proposed"})
    r = Rectification(request=req, system=system, table=table, column=column, proposed_by=actor.label,
                      after_sealed=encrypt_json(value), status=RectificationStatus.PROPOSED)
    db.session.add(r)
    db.session.flush()
    audit.record(actor, "rectification_proposed", request=req, details={
        "rectification": r.id, "system": system, "table": table, "column": column, "gdpr": "art. 16"})
    return r


def propose_field(req: DataRequest, actor: Actor, *, field: str, value: str) -> Rectification:
    """The same, from a form's ``system.table.column`` choice."""
    parts = (field or "").split(".")
    if len(parts) != 3:
        raise InvalidInput(N_("Choose the field to change."), code="required", field="column")
    return propose_rectification(req, actor, system=parts[0], table=parts[1], column=parts[2], value=value)


def proposals(req: DataRequest) -> list[dict]:
    """The proposed and applied changes with their new value, for staff's review (never the values before)."""
    return [{"id": r.id, "field": f"{r.system}.{r.table}.{r.column}", "status": r.status, "by": r.proposed_by,
             "at": r.proposed_at, "value": decrypt_json(r.after_sealed), "rows": r.rows}
            for r in req.rectifications if r.status != RectificationStatus.WITHDRAWN]


def rectified_rows(req: DataRequest, lang: str) -> list[dict]:
    """What the letter says was changed: per field, the new value and the records changed (the requester's own
    rows only — the traversal's keys — never anyone else's values, and never the values before)."""
    labels = {f["key"]: f for f in rectifiable_fields(req, lang)}
    out = []
    for r in req.rectifications:
        if r.status != RectificationStatus.APPLIED:
            continue
        f = labels.get(f"{r.system}.{r.table}.{r.column}", {})
        out.append({"system": f.get("system_label", r.system), "category": f.get("category", ""),
                    "field": r.column, "value": decrypt_json(r.after_sealed), "rows": r.rows or 0})
    return out


def _proposed(req: DataRequest) -> list[Rectification]:
    return [r for r in req.rectifications if r.status == RectificationStatus.PROPOSED]


def rectification_dry_run(req: DataRequest, actor: Actor) -> DryRun:
    if not _proposed(req):
        raise IllegalTransition(N_("Propose at least one field to change first."), code="nothing_proposed")
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


# Fulfilment (a layer below) asks through these: the letter's changed fields, the deactivation (issue 15).
systems_hooks.register(rectified_rows=rectified_rows, deactivate=deactivate_through_systems)
