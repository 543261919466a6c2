"""Back-office forms of the answer's follow-up: GDPR art. 19 tasks, the erasure plan, the account deactivation,
portable data, post-mortem directives, letters and download links (the modules of services/fulfilment/ do the work).

The request page includes ``templates/backoffice/_fulfilment.html``; this module also serves it on a page
of its own, which is where a form comes back with its errors.
"""
from __future__ import annotations

from datetime import date

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from ...errors import DomainError, InvalidInput, N_, PermissionDenied
from ...extensions import db
from ...models import DataRequest, utcnow
from ...models.enums import Status
from ...models.fulfilment import ContractState, NotificationStatus
from ...policy.errors import PolicyError
from ...policy.text import localized
from ...services.fulfilment import answers, consent, delivery, erasure, portability, post_mortem, recipients
from ..common import current_language, translate_error
from .blueprint import bp
from .form_action import form_action
from .page_support import load_request as _load
from .auth import staff_actor, staff_required

WRITERS = ("admin", "dpo", "agent")


def _page(req: DataRequest, *, errors: dict | None = None, values: dict | None = None, status: int = 200):
    return render_template("backoffice/fulfilment.html", req=req, fx_errors=errors or {}, fx_values=values or {}), status


def _back(req: DataRequest, message: str):
    flash(message, "info")
    if "backoffice.request_GET" in current_app.view_functions and request.form.get("return") != "fulfilment":
        return redirect(url_for("backoffice.request_GET", reference=req.reference) + "#fulfilment", code=303)
    return redirect(url_for("backoffice.fulfilment_GET", reference=req.reference), code=303)


def _run(reference: str, form: str, action, success: str):
    """Load, act, commit and go back; a failure the user caused comes back on the form, nothing saved."""
    req = _load(reference)
    values = request.form.to_dict()

    def on_error(err, status):
        return _page(_load(reference), errors={form: {err.field or "form": translate_error(err)}},
                     values={form: values}, status=status)

    return form_action(lambda: action(req), on_error=on_error, done=lambda: _back(req, _(success)))


def _date_field(name: str) -> date | None:
    raw = (request.form.get(name) or "").strip()
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise InvalidInput(N_("Enter a date as YYYY-MM-DD."), code="bad_date", field=name) from None


@bp.app_template_global()
def fulfilment_panel(req: DataRequest) -> dict:
    """What the partial shows for one request, in the page's language."""
    lang = current_language()
    policy = current_app.extensions["dsar_policy"]
    try:
        rows = recipients.recipient_rows(req, lang)
    except PolicyError:
        rows = []
    editable = Status(req.status) in (Status.OPEN, Status.IN_PROGRESS, Status.AWAITING_REQUESTER)
    panel = {
        "lang": lang,
        "editable": editable,
        "recipients": rows,
        "pending_recipients": sum(1 for r in rows if r["status"] == NotificationStatus.PENDING),
        "deactivation": req.account_deactivation,
        "letters": [d for d in req.documents if d.kind == "letter" or (d.kind == "export" and d.mime == "application/zip")],
        "links": sorted(req.download_links, key=lambda l: l.id, reverse=True),
        "now": utcnow(),
        "staff_letters": answers.STAFF_LETTERS,
        "post_mortem": post_mortem.post_mortem_standing(req),
        "erasure": None,
        "portability": None,
        "directive": None,
        "policy_problem": False,
    }
    try:
        _policy_parts(panel, req, lang, policy)
    except PolicyError:
        # A request about an activity the policy no longer defines still gets its page; staff see why.
        panel["policy_problem"] = True
    return panel


def _policy_parts(panel: dict, req: DataRequest, lang: str, policy) -> None:
    if req.type == "erasure":
        panel["erasure"] = {
            "rows": erasure.erasure_rows(req, lang),
            "decision": req.erasure_decision,
            "fixed": req.erasure_decision is not None and req.erasure_decision.items is not None,
            "states": [s.value for s in ContractState],
        }
    if req.type == "portability":
        panel["portability"] = {
            "datasets": [portability.dataset_row(ds, lang) for ds in req.portable_datasets],
            "categories": [(f"{c.activity}.{c.key}", f"{localized(policy.activity(c.activity).name, lang)} — "
                            f"{localized(c.name, lang)}") for c in portability.portable_categories(req)],
        }
    if req.type == "post_mortem_directive":
        panel["directive"] = {
            "current": post_mortem.directive_for_subject(req),
            "history": post_mortem.directive_history(req),
        }


@bp.get("/requests/<reference>/fulfilment")
@staff_required()
def fulfilment_GET(reference: str):
    return _page(_load(reference))[0]


@bp.post("/requests/<reference>/fulfilment/recipients/<int:task_id>/notified")
@staff_required(*WRITERS)
def recipient_notified_POST(reference: str, task_id: int):
    return _run(reference, f"recipient-{task_id}", lambda req: recipients.notify_recipient(
        req, staff_actor(), task_id, message=request.form.get("message"), how=request.form.get("how")),
        N_("Recipient notified (GDPR art. 19)."))


@bp.post("/requests/<reference>/fulfilment/recipients/<int:task_id>/impossible")
@staff_required(*WRITERS)
def recipient_impossible_POST(reference: str, task_id: int):
    return _run(reference, f"recipient-{task_id}", lambda req: recipients.close_recipient_impossible(
        req, staff_actor(), task_id, reason=request.form.get("reason", "")),
        N_("Notification closed as impossible or disproportionate, with its reason."))


@bp.post("/requests/<reference>/fulfilment/deactivation")
@staff_required(*WRITERS)
def deactivation_POST(reference: str):
    return _run(reference, "deactivation", lambda req: consent.confirm_account_deactivation(
        req, staff_actor(), note=request.form.get("note")), N_("Account deactivation confirmed."))


@bp.post("/requests/<reference>/fulfilment/erasure-plan")
@staff_required(*WRITERS)
def erasure_plan_POST(reference: str):
    def act(req):
        erasure.set_erasure_facts(req, staff_actor(), contract_state=request.form.get("contract_state", ""),
                                     contract_ended_on=_date_field("contract_ended_on"),
                                     last_invoice_on=_date_field("last_invoice_on"))

    return _run(reference, "erasure", act, N_("Erasure plan updated."))


@bp.post("/requests/<reference>/fulfilment/portable-data")
@staff_required(*WRITERS)
def portable_data_POST(reference: str):
    def act(req):
        upload = request.files.get("dataset")
        if upload is None or not upload.filename:
            raise InvalidInput(N_("Choose a JSON or CSV file."), code="required", field="dataset")
        raw = upload.stream.read(portability.MAX_DATASET_BYTES + 1)
        portability.add_portable_dataset(req, staff_actor(), category_ref=request.form.get("category", ""), raw=raw)

    return _run(reference, "portability", act, N_("Data added to the portability answer."))


@bp.post("/requests/<reference>/fulfilment/portable-data/<int:dataset_id>/remove")
@staff_required(*WRITERS)
def portable_data_remove_POST(reference: str, dataset_id: int):
    return _run(reference, "portability", lambda req: portability.remove_portable_dataset(req, staff_actor(), dataset_id),
                N_("Data removed from the portability answer."))


@bp.post("/requests/<reference>/fulfilment/directive")
@staff_required(*WRITERS)
def directive_POST(reference: str):
    return _run(reference, "directive", lambda req: post_mortem.record_directive(
        req, staff_actor(), action=request.form.get("action", ""), instructions=request.form.get("instructions"),
        executor_name=request.form.get("executor_name"), executor_email=request.form.get("executor_email"),
        heirs_may_act=request.form.get("heirs_excluded") != "1"), N_("Directives recorded."))


@bp.post("/requests/<reference>/fulfilment/links/<int:link_id>/reissue")
@staff_required(*WRITERS)
def link_reissue_POST(reference: str, link_id: int):
    return _run(reference, "links", lambda req: delivery.reissue_link(req, staff_actor(), link_id),
                N_("A new download link was sent; the previous one no longer works."))


@bp.post("/requests/<reference>/fulfilment/letters")
@staff_required(*WRITERS)
def letter_POST(reference: str):
    return _run(reference, "letters", lambda req: answers.send_letter(req, staff_actor(), request.form.get("kind", "")),
                N_("Letter sent: the requester received a download link."))
