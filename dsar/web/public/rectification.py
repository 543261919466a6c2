"""The requester proposes the fields to change, from their status page (rectification request, GDPR art. 16).

Only the fields the systems file lets a rectification change are offered and accepted
(``systems/rights.py``); proposing a field again replaces its earlier value. Staff review the proposals in
the back-office, compute the dry run and approve it; only then is anything changed in the systems.
"""
from __future__ import annotations

from flask import flash, redirect, request, url_for
from flask_babel import gettext as _

from ...errors import Conflict, IllegalTransition, InvalidInput, PermissionDenied
from ...extensions import db, limiter
from ...services import intake
from ...systems import rights
from ..common import current_language, translate_error
from .blueprint import bp
from .views import _domain_error_page, _limit, _render_status, _requester_actor, _use_language_of


@bp.app_template_global()
def requester_rectification(req) -> dict | None:
    """What the status page offers: the fields that may be changed and what was already proposed."""
    if req.type != "rectification" or req.is_final or req.status == "answered":
        return None
    fields = rights.rectifiable_fields(req, current_language())
    if not fields:
        return None
    proposed = {p["field"]: p for p in rights.proposals(req) if p["status"] == "proposed"}
    return {"options": [(f["key"], f"{f['category']} ({f['column']}) — {f['system_label']}") for f in fields],
            "proposed": [(f, proposed[f["key"]]["value"]) for f in fields if f["key"] in proposed]}


@bp.post("/status/<token>/rectification")
@limiter.limit(_limit("token_action"))
def rectification_POST(token: str):
    req = intake.request_for_status_token(token)
    _use_language_of(req)
    values = {"field": request.form.get("field", ""), "value": request.form.get("value", "")}
    try:
        rights.propose_field(req, _requester_actor(req), field=values["field"], value=values["value"])
        db.session.commit()
    except InvalidInput as err:
        db.session.rollback()
        fresh = intake.request_for_status_token(token)
        name = "field" if err.field == "column" else "value"
        return _render_status(fresh, token, err.status_code, errors={name: [translate_error(err)]}, values=values)
    except (IllegalTransition, Conflict, PermissionDenied) as err:
        return _domain_error_page(req, token, err)
    flash(_("Thank you: we have your correction. We will check it before changing anything."), "success")
    return redirect(url_for("public.status_GET", token=token) + "#rectification", code=303)
