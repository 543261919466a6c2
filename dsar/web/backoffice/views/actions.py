"""The request page's action forms, run through ``services.actions.ACTIONS`` (the API's list of actions):
one dispatch for every form, one way to act (``form_action``), the refused form shown in view (issue 18)."""
from __future__ import annotations

from flask import abort, redirect, request, url_for
from flask_babel import gettext as _

from .... import lifecycle
from ....bounds import parse_id
from ....errors import Conflict, InvalidInput, N_
from ....extensions import db
from ....models import DataRequest, ProfessionalTask
from ....models.enums import IdentityMethod
from ....services import actions, routing
from ...common import translate_error
from ..blueprint import bp
from ..auth import staff_actor, staff_required
from ..form_action import form_action
from .request_page import FORM_RULES, render_request_page
from ..page_support import load_request

ANSWER_FILES_KEY = "files"
COMMON_FIELDS = {"csrf_token", "version"}
# The forms whose name is not the action's (services.actions.ACTIONS).
FORM_ACTIONS = {"medical_item": "medical_record_item", "record_doubt": "record_identity_doubt"}
ID_FIELDS = {"professional_id", "assignee_id", "item_id", "step_id"}
# What a field left blank means, per form (absent from this table: the text as typed, "" when absent).
BLANK_MEANS = {
    ("verify_identity", "method"): IdentityMethod.DOCUMENT,
    ("verify_identity", "note"): None,
    ("clarify", "kind"): "scope",
    ("resume", "answer"): None,
    ("answer", "reasons"): None,
    ("refuse", "unfounded_or_excessive"): None,
    ("medical_item", "older_than_5_years"): "0",
}

SUCCESS_MESSAGES = {
    "verify_identity": N_("Identity accepted: the clock has started."),
    "refuse_identity": N_("Identity refused: the requester is asked for a new document."),
    "route": N_("Routing recorded."),
    "assign": N_("Assignment recorded."),
    "clarify": N_("Clarification asked: the requester is told what it does to the deadline (an identity question suspends it, a scope question does not)."),
    "resume": N_("The clock runs again."),
    "extend": N_("Deadline extended by two months; the requester is told why."),
    "answer": N_("Answer recorded."),
    "refuse": N_("Refusal recorded."),
    "close": N_("Request closed."),
    "reopen": N_("Request reopened."),
    "withdraw": N_("Withdrawal recorded."),
    "note": N_("Note added."),
    "complete_step": N_("Step marked as done."),
    "medical_item": N_("Medical record item recorded: the deadlines follow how old each item is (CSP R.1111-1)."),
    "record_doubt": N_("Doubt recorded: the requester is asked for a copy of an identity document."),
}


def action_of(form: str) -> str:
    return FORM_ACTIONS.get(form, form)


def form_fields(form: str) -> set[str]:
    return actions.ACTIONS[action_of(form)][1]


def _int_or_none(value, field):
    value = (value or "").strip()
    if not value:
        return None
    if parse_id(value) is None:   # 2^64 would overflow the database
        raise InvalidInput(N_("Choose a value from the list."), code="bad_choice", field=field)
    return int(value)


def params_of(form: str, values: dict) -> dict:
    """The action's parameters from the form's text fields."""
    params = {}
    for field in form_fields(form):
        raw = values.get(field) or ""
        if field in ID_FIELDS:
            params[field] = _int_or_none(raw, field)
        elif field == "to_staff":
            params[field] = bool(raw)
        elif (form, field) in BLANK_MEANS:
            params[field] = raw.strip() or BLANK_MEANS[(form, field)]
        else:
            params[field] = raw
    return params


def run_form(form: str, req: DataRequest, values: dict, version: int):
    actor = staff_actor()
    params = params_of(form, values)
    if form == "answer":
        # services.fulfilment.recording.record_answer: checked, then the files stored, then the answer; a refusal
        # rolls everything back, and the files written are deleted with it (services.documents). The API's answer
        # (ACTIONS) takes no files: they come only with the form.
        files = [(f.stream, f.filename, f.mimetype) for f in request.files.getlist(ANSWER_FILES_KEY) if f and f.filename]
        return actions.answer(req, actor, files=files, expected_version=version, **params)
    return actions.perform(req, action_of(form), actor, params, expected_version=version)


@bp.post("/requests/<reference>/actions/<form>")
@staff_required("admin", "dpo", "agent")
def action_POST(reference: str, form: str):
    if form not in FORM_RULES:
        abort(404)
    req = load_request(reference)
    values = request.form.to_dict()

    def refused(message: str, status: int, field: str = "form"):
        return render_request_page(load_request(reference), errors={form: {field: message}}, values={form: values},
                                   status=status, failed_form=form)

    unknown = sorted(set(values) - form_fields(form) - COMMON_FIELDS)
    if unknown:
        return refused(_("Unknown field for this action: %(fields)s.", fields=", ".join(unknown)), 400)
    version = (values.get("version") or "").strip()
    if not version.isdigit():
        return refused(_("The form is incomplete. Reload the page and try again."), 400)

    def on_error(err, status):
        if isinstance(err, Conflict):
            return render_request_page(load_request(reference), notice=translate_error(err), values={form: values},
                                       status=status)
        field = ANSWER_FILES_KEY if form == "answer" and err.field == "document" else err.field
        return refused(translate_error(err), status, field or "form")

    return form_action(lambda: run_form(form, req, values, int(version)), on_error=on_error,
                       message=_(SUCCESS_MESSAGES[form]),
                       done=lambda: redirect(url_for("backoffice.request_GET", reference=reference) + "#top"))


# --- professionals' task links (policy art. 8.2) -----------------------------------------------------------


def _on_task(reference: str, task_id: int, act, done_message: str):
    req = load_request(reference)
    task = db.get_or_404(ProfessionalTask, task_id)
    if task.request_id != req.id:
        abort(404)

    def run():
        lifecycle.check_version(req, request.form.get("version", type=int))
        act(task, staff_actor())

    def on_error(err, status):
        return render_request_page(load_request(reference), notice=translate_error(err), status=status)

    return form_action(run, on_error=on_error, message=done_message,
                       done=lambda: redirect(url_for("backoffice.request_GET", reference=reference)))


@bp.post("/requests/<reference>/tasks/<int:task_id>/resend")
@staff_required("admin", "dpo", "agent")
def task_resend_POST(reference: str, task_id: int):
    """A new link for the professional (the old one stops working)."""
    return _on_task(reference, task_id, routing.resend_task_link,
                    _("A new link was sent to the professional; the previous one no longer works."))


@bp.post("/requests/<reference>/tasks/<int:task_id>/revoke")
@staff_required("admin", "dpo", "agent")
def task_revoke_POST(reference: str, task_id: int):
    """Withdraw the task: its link stops working and the request comes back to staff."""
    return _on_task(reference, task_id, routing.revoke_task,
                    _("The task was withdrawn; the request is back with the privacy team."))
