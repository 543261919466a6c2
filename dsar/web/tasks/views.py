"""The professional's task page, behind the link sent by email (policy art. 8.2).

The professional has no account: the link is their key to this one task. The
page shows what is needed to act and no more — reference, right exercised, the
patient's name (to find them), date of receipt, deadline and days left, the
requester's message, what the right covers — and the actions: acknowledge,
answer, ask for an extension, "not my patient", ask the DPO for help.
Every opening and every action is recorded. Views parse, call one function of
``dsar.services.routing``, commit, redirect.
"""
from __future__ import annotations

import base64

from flask import current_app, flash, g, redirect, render_template, request, session, url_for
from flask_babel import gettext as _, refresh
from werkzeug.exceptions import RequestEntityTooLarge

from ... import deadlines
from ...deadlines import legal_day
from ...errors import Conflict, DomainError, IllegalTransition, InvalidInput, N_
from ...extensions import db, limiter
from ...formatting import human_size
from ...models import utcnow
from ...models.enums import Outcome, Status, TaskStatus
from ...policy.errors import PolicyLookupError
from ...policy.rights import evaluate_rights
from ...policy.text import localized
from ...services import answer_drafts, checklist, letter_previews, notifications, previews, routing
from ...services.fulfilment import recording
from ...tokens import TokenError
from ..common import client_ip, configured_limit, current_language, translate_error, user_agent
from .blueprint import bp
from ...services import medical_record

RATE_LIMITS = {
    "page": "60 per minute;600 per hour",
    "action": "30 per hour",
    "renew": "5 per hour;10 per day",
}

OUTCOMES = [
    (Outcome.GRANTED, N_("Granted: the request is met in full")),
    (Outcome.PARTLY_GRANTED, N_("Partly granted: part of the request is refused (give the reasons)")),
    (Outcome.REFUSED, N_("Refused (give the reasons)")),
    (Outcome.NO_DATA, N_("No data: I hold no data about this person")),
]
# The order of the fields on the page, for the error summary.
FIELD_ORDER = ("outcome", "message", "reasons", "files", "reason", "confirm", "comment", "question")


def _limit(name: str):
    return configured_limit(f"task_{name}", RATE_LIMITS[name])


def _policy():
    return current_app.extensions["dsar_policy"]



def _use_language_of(task) -> None:
    """The page speaks the professional's language (their profile), unless they chose one."""
    if "lang" not in request.args and session.get("lang") not in current_app.config["LANGUAGES"]:
        g.force_language = task.professional.language if task.professional.language in ("fr", "en") else "fr"
    else:
        g.force_language = None
    refresh()


def _actor(task):
    return routing.professional_actor(task, ip=client_ip(), user_agent=user_agent())


def _dpo_email() -> str | None:
    return notifications.dpo_address()


@bp.errorhandler(TokenError)
def link_problem(err: TokenError):
    """A link that opens nothing: say why and what to do, show nothing of the request."""
    db.session.rollback()
    gone = isinstance(err, routing.TaskLinkGone)
    reason = err.reason if gone else "invalid"
    can_renew = False
    token = request.view_args.get("token") if request.view_args else None
    if gone and err.task is not None:
        _use_language_of(err.task)
        routing.record_refused_link(err, client_ip(), user_agent())
        db.session.commit()
        task = err.task
        can_renew = reason == "expired" and task.is_live and not task.request.is_final
    return render_template("tasks/link_problem.html", reason=reason, message=translate_error(err),
                           can_renew=can_renew, token=token, dpo_email=_dpo_email()), err.status_code


@bp.errorhandler(RequestEntityTooLarge)
def too_large(err):
    db.session.rollback()
    return render_template("tasks/message.html", title=_("The files are too large"),
                           message=_("The files sent together are over the size limit. Send fewer or smaller files."),
                           back=request.view_args.get("token") if request.view_args else None), 413


# --- the page ------------------------------------------------------------------------------------------------


def _rights(req, lang: str) -> list[dict]:
    try:
        evaluation = evaluate_rights(_policy(), req.type, req.activities or None, req.subject_kind)
    except PolicyLookupError:
        return []
    rows = []
    for row in evaluation.rows:
        status = "applies" if row.applies is True else ("conditional" if row.applies == "conditional" else "no")
        rows.append({"activity": localized(row.activity_name, lang), "purpose": localized(row.sub_purpose_name, lang),
                     "status": status, "reason": localized(row.reason, lang)})
    return rows


def _page(task, *, errors: dict | None = None, problems: list | None = None, values: dict | None = None,
          status_code: int = 200):

    req = task.request
    policy = _policy()
    lang = current_language()
    today = legal_day(utcnow())
    due = req.due_date
    try:
        gdpr = policy.request_type(req.type).gdpr
    except PolicyLookupError:
        gdpr = None
    can_extend = (req.extended_at is None and task.extension_requested_at is None and req.one_month_due_date is not None
                  and deadlines.can_extend(today, req.one_month_due_date))
    context = {
        "task": task,
        "token": request.view_args["token"],
        "reference": req.reference,
        "right": routing.right_name(req, lang),
        "gdpr": gdpr,
        "subject_name": req.subject.full_name if req.subject else "",
        "received_on": legal_day(req.received_at),
        "due_date": due,
        "days_left": deadlines.days_left(today, due) if due else None,
        "details": req.details,
        "medical_record": req.medical_record,
        "medical_items": list(req.medical_record_items),
        "medical_old_due_date": req.medical_record_old_due_date,
        "earliest_release_at": req.earliest_release_at,
        "paused": Status(req.status) == Status.AWAITING_REQUESTER,
        "extended": req.extended_at is not None,
        "can_extend": can_extend,
        "one_month_due_date": req.one_month_due_date,
        "rights": _rights(req, lang),
        "outcomes": [(str(value), _(label)) for value, label in OUTCOMES],
        "max_size": human_size(recording.answer_file_limit()),
        "max_files": recording.MAX_ANSWER_FILES,
        "errors": errors or {},
        "problems": sorted(problems or [], key=lambda p: FIELD_ORDER.index(p[0]) if p[0] in FIELD_ORDER else 99),
        "values": values or {},
        "dpo_email": _dpo_email(),
        "routing_article": policy.article("routing"),
        "checklist": checklist.items(req, lang),
    }
    return render_template("tasks/task.html", **context), status_code


def _load(token: str):
    task = routing.task_from_token(token)
    _use_language_of(task)
    return task


@bp.get("/<token>")
@limiter.limit(_limit("page"))
def task_GET(token: str):
    task = _load(token)
    routing.record_opening(task, _actor(task))
    db.session.commit()
    if task.status == TaskStatus.ANSWERED:
        return render_template("tasks/done.html", reference=task.request.reference, task=task, token=token,
                               dpo_email=_dpo_email())
    return _page(task)


# --- the actions ----------------------------------------------------------------------------------------------


def _act(token: str, action, *, values: dict, success: str | None = None):
    """Run one action; on a field error show the page again with the message next to the field.

    A task closed meanwhile (staff took the request back, answered or closed it) is a conflict
    with the request's state: 409 and a clear message, nothing recorded.
    """
    try:
        task = _load(token)
    except routing.TaskLinkGone as err:
        if err.reason != "revoked" or err.task is None:
            raise
        _use_language_of(err.task)
        db.session.rollback()
        return render_template("tasks/message.html", title=_("Nothing was recorded"), message=_(
            "This request has moved on since this page was opened: it was answered, closed or taken back by IDOMED. "
            "Nothing was recorded and nothing more is needed from you."), back=None, dpo_email=_dpo_email()), 409
    try:
        result = action(task)
    except InvalidInput as err:
        db.session.rollback()
        task = _load(token)
        field = err.field or "message"
        message = translate_error(err)
        return _page(task, errors={field: [message]}, problems=[(field, message)], values=values,
                     status_code=err.status_code)
    except (Conflict, IllegalTransition) as err:
        db.session.rollback()
        return render_template("tasks/message.html", title=_("Nothing was recorded"), message=translate_error(err),
                               back=token, dpo_email=_dpo_email()), err.status_code
    db.session.commit()
    if success:
        flash(success, "success")
    return result


@bp.post("/<token>/acknowledge")
@limiter.limit(_limit("action"))
def acknowledge_POST(token: str):
    def action(task):
        done = routing.acknowledge_task(task, _actor(task))
        return done

    result = _act(token, action, values={})
    if not isinstance(result, bool):
        return result
    flash(_("Thank you: IDOMED knows you have this request in hand.") if result
          else _("You had already acknowledged this request."), "success")
    return redirect(url_for("tasks.task_GET", token=token), code=303)


def _answer_values() -> dict:
    form = request.form
    return {"outcome": form.get("outcome", ""), "message": form.get("message", ""), "reasons": form.get("reasons", "")}


@bp.post("/<token>/answer")
@limiter.limit(_limit("action"))
def answer_POST(token: str):
    """Step 1 of 2 (issue 18): the answer as it will go — the letter and the files — to confirm; nothing is sent
    or recorded yet (services/answer_drafts.py keeps the checked files as an encrypted draft)."""
    values = _answer_values()
    uploads = [(f.stream, f.filename, f.mimetype) for f in request.files.getlist("files") if f and f.filename]

    def action(task):
        preview = answer_drafts.stage(task, outcome=values["outcome"], message=values["message"],
                                      reasons=values["reasons"] or None, uploads=uploads,
                                      max_bytes=recording.answer_file_limit())
        letter = letter_previews.answer_letter(task.request, outcome=values["outcome"], message=values["message"],
                                               reasons=values["reasons"] or None, without_contact=True)
        return render_template("tasks/answer_preview.html", token=token, task=task, reference=task.request.reference,
                               values=values, preview=preview, letter_pages=_letter_pages(letter),
                               outcome_label=dict((str(v), _(label)) for v, label in OUTCOMES).get(values["outcome"]),
                               human_size=human_size, dpo_email=_dpo_email())

    return _act(token, action, values=values)


def _letter_pages(pdf: bytes) -> list[str]:
    """The letter's pages as pictures (data: URIs, drawn in a child process with limits)."""
    count = min(previews.page_count(pdf), previews.MAX_PREVIEW_PAGES)
    return ["data:image/png;base64," + base64.b64encode(previews.render_page(pdf, n)).decode()
            for n in range(1, count + 1)]


@bp.post("/<token>/answer/confirm")
@limiter.limit(_limit("action"))
def answer_confirm_POST(token: str):
    """Step 2 of 2: the answer previewed is recorded and sent; a preview that no longer matches is refused."""
    values = _answer_values()
    staged = []

    def action(task):
        staged.extend(answer_drafts.read(task, request.form.get("preview", ""), outcome=values["outcome"],
                                         message=values["message"], reasons=values["reasons"] or None))
        routing.answer_task(task, _actor(task), outcome=values["outcome"], message=values["message"],
                            reasons=values["reasons"] or None, files=answer_drafts.streams(staged))
        return None

    result = _act(token, action, values=values)
    if result is not None:
        return result
    answer_drafts.discard(staged)   # the files are now the request's documents
    flash(_("Your answer was recorded. IDOMED will send it to the requester."), "success")
    return redirect(url_for("tasks.task_GET", token=token), code=303)


@bp.post("/<token>/medical-item")
@limiter.limit(_limit("action"))
def medical_item_POST(token: str):
    """The professional says how old an item of the medical record is (CSP R.1111-1): it sets its date."""
    values = {"label": request.form.get("label", ""), "older_than_5_years": request.form.get("older_than_5_years", "0")}

    def action(task):
        medical_record.set_item(task.request, _actor(task), label=values["label"],
                                older_than_5_years=values["older_than_5_years"])
        return None

    result = _act(token, action, values=values)
    if result is not None:
        return result
    flash(_("Recorded: the deadline for the medical record follows how old each item is."), "success")
    return redirect(url_for("tasks.task_GET", token=token), code=303)


@bp.post("/<token>/extension")
@limiter.limit(_limit("action"))
def extension_POST(token: str):
    values = {"reason": request.form.get("reason", "")}

    def action(task):
        routing.request_extension(task, _actor(task), reason=values["reason"])
        return None

    result = _act(token, action, values=values)
    if result is not None:
        return result
    flash(_("Your request for more time was sent to the DPO, who will decide and tell you."), "success")
    return redirect(url_for("tasks.task_GET", token=token), code=303)


@bp.post("/<token>/decline")
@limiter.limit(_limit("action"))
def decline_POST(token: str):
    values = {"comment": request.form.get("comment", ""), "confirm": request.form.get("confirm", "")}

    def action(task):
        if not values["confirm"]:
            raise InvalidInput(N_("Tick the box to confirm that this person is not your patient."),
                               code="required", field="confirm")
        routing.decline_task(task, _actor(task), comment=values["comment"])
        return task.request.reference

    result = _act(token, action, values=values)
    if not isinstance(result, str):
        return result
    # The link is revoked now: this page is the last one it shows.
    return render_template("tasks/message.html", title=_("Thank you"), message=_(
        "IDOMED will handle this request itself. Your link no longer works and nothing more is needed from you."),
        back=None, dpo_email=_dpo_email(), reference=result)


@bp.post("/<token>/help")
@limiter.limit(_limit("action"))
def help_POST(token: str):
    values = {"question": request.form.get("question", "")}

    def action(task):
        routing.ask_for_help(task, _actor(task), question=values["question"])
        return None

    result = _act(token, action, values=values)
    if result is not None:
        return result
    flash(_("Your question was sent to the DPO, who will answer you by email."), "success")
    return redirect(url_for("tasks.task_GET", token=token), code=303)


@bp.post("/<token>/step")
@limiter.limit(_limit("action"))
def step_POST(token: str):
    """The professional ticks a step of the request's checklist (e.g. the minor's objection, CSP L.1111-5)."""
    values = {"step_id": request.form.get("step_id", ""), "note": request.form.get("note", "")}

    def action(task):
        checklist.complete_step_for_task(task, _actor(task), step_id=values["step_id"], note=values["note"])
        return None

    result = _act(token, action, values=values)
    if result is not None:
        return result
    flash(_("Step marked as done."), "success")
    return redirect(url_for("tasks.task_GET", token=token) + "#checklist", code=303)


@bp.post("/<token>/renew")
@limiter.limit(_limit("renew"))
def renew_POST(token: str):
    """From an expired link: a new one is sent to the professional's address on file, never to the clicker."""
    try:
        routing.task_from_token(token)
    except routing.TaskLinkGone as err:
        if err.reason != "expired" or err.task is None:
            raise
        task = err.task
    else:
        return redirect(url_for("tasks.task_GET", token=token), code=303)  # still valid: nothing to renew
    _use_language_of(task)
    try:
        routing.renew_expired_link(task, ip=client_ip(), user_agent=user_agent())
    except DomainError as err:
        db.session.rollback()
        return render_template("tasks/message.html", title=_("No new link can be sent"), message=translate_error(err),
                               back=None, dpo_email=_dpo_email()), err.status_code
    db.session.commit()
    return render_template("tasks/message.html", title=_("A new link is on its way"), message=_(
        "A new link was sent to the email address IDOMED has for you. Use it to open the request."),
        back=None, dpo_email=_dpo_email())
