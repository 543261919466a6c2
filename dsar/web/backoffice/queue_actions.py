"""Acting on several requests of the queue at once (issue 18): select requests and assign them, or take them.

All or nothing: when one of the selected requests cannot be assigned (a status that allows no assignment, a
request changed meanwhile), none is, and the queue says which one and why. Each assignment goes through the
lifecycle, so each request's history records it.
"""
from __future__ import annotations

import sqlalchemy as sa
from flask import flash, redirect, request, url_for
from flask_babel import gettext as _, ngettext
from flask_login import current_user

from ...bounds import parse_id
from ...errors import DomainError
from ...extensions import db
from ...models import DataRequest
from ...services import actions
from ..common import translate_error
from .blueprint import bp
from .auth import staff_actor, staff_required

MAX_SELECTED = 200


def _back():
    return redirect(request.form.get("next") if (request.form.get("next") or "").startswith("/backoffice/")
                    else url_for("backoffice.queue_GET"), code=302)


@bp.post("/queue/assign")
@staff_required("admin", "dpo", "agent")
def queue_assign_POST():
    ids = [parse_id(v) for v in request.form.getlist("request_id")[:MAX_SELECTED + 1]]
    if not ids or None in ids or len(ids) > MAX_SELECTED:
        flash(_("Select the requests to assign (at most %(count)s at a time).", count=MAX_SELECTED), "error")
        return _back()
    raw = request.form.get("assignee_id") or ""
    if request.form.get("to_me"):
        assignee_id = current_user.id
    elif raw == "none":
        assignee_id = None
    else:
        assignee_id = parse_id(raw)
        if assignee_id is None:
            flash(_("Choose who handles the selected requests."), "error")
            return _back()
    requests = db.session.scalars(sa.select(DataRequest).where(DataRequest.id.in_(ids)).order_by(DataRequest.id)).all()
    if len(requests) != len(set(ids)):
        flash(_("One of the selected requests no longer exists. Nothing was assigned."), "error")
        return _back()
    actor = staff_actor()
    for req in requests:
        try:
            actions.assign(req, actor, assignee_id=assignee_id)
        except DomainError as err:
            db.session.rollback()
            flash(_("%(reference)s: %(reason)s Nothing was assigned.", reference=req.reference,
                    reason=translate_error(err)), "error")
            return _back()
    db.session.commit()
    flash(ngettext("%(num)s request assigned.", "%(num)s requests assigned.", len(requests)), "success")
    return _back()
