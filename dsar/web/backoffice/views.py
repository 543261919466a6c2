"""The queue, the request page, its actions, the identity document viewer and the search."""
from __future__ import annotations

import secrets

import sqlalchemy as sa
from flask import abort, current_app, flash, make_response, redirect, render_template, request, session, url_for
from flask_babel import get_locale, gettext as _
from flask_login import current_user

from ... import audit, lifecycle
from ...bounds import parse_id
from ...deadlines import can_extend, legal_day
from ...policy_warnings import configuration_warnings
from ...errors import Conflict, DomainError, IllegalTransition, InvalidInput, N_, NotFound, PermissionDenied
from ...extensions import db
from ...models import DataRequest, Document, Event, utcnow
from ...models.enums import (Channel, DocumentKind, IdentityMethod, Outcome, RequestType, StaffRole,
                             Status, SubjectKind)
from ...policy.rights import evaluate_rights
from ...policy.text import localized
from ...services import actions
from ...services import checklist as checklist_service
from ...services import identity as identity_service
from ...services import identity_reviews as identity_reviews_service
from ...services import queue as queue_service
from ...services import register as register_service
from ...services.duplicates import possible_duplicates
from ..common import translate_error
from . import bp
from .auth import staff_actor, staff_required

SEARCH_SESSION_KEY = "bo_searches"
MAX_SAVED_SEARCHES = 20
DOCUMENT_CSP = "sandbox; default-src 'none'"

# Labels of the vocabulary (dsar/labels.py): no internal code reaches a person (issue 18).
from ...labels import (CHANNEL_LABELS, DETAIL_LABELS, DOC_KIND_LABELS, EVENT_LABELS, METHOD_LABELS,  # noqa: E402
                       OUTCOME_LABELS, RELATIONSHIP_LABELS, REVIEW_LABELS, ROLE_LABELS, SUBJECT_KIND_LABELS,
                       TASK_STATUS_LABELS, TYPE_LABELS, URGENCY_LABELS, ACTOR_LABELS, DETAIL_VALUE_LABELS)
ANSWER_FILES_KEY = "files"


def _labels():
    return dict(type_labels=TYPE_LABELS, subject_kind_labels=SUBJECT_KIND_LABELS, channel_labels=CHANNEL_LABELS,
                outcome_labels=OUTCOME_LABELS, urgency_labels=URGENCY_LABELS, method_labels=METHOD_LABELS,
                doc_kind_labels=DOC_KIND_LABELS, review_labels=REVIEW_LABELS, event_labels=EVENT_LABELS,
                role_labels=ROLE_LABELS, detail_labels=DETAIL_LABELS, task_status_labels=TASK_STATUS_LABELS,
                relationship_labels=RELATIONSHIP_LABELS, actor_labels=ACTOR_LABELS,
                detail_value_labels=DETAIL_VALUE_LABELS)


@bp.app_context_processor
def backoffice_globals():
    from ...labels import label

    return {"bo_label": label}


# --- the queue -------------------------------------------------------------------------------------------


def saved_search(search_id: str | None) -> str | None:
    """The search text behind a search id (kept in the session: a name or an email never goes in a URL)."""
    if not search_id:
        return None
    return (session.get(SEARCH_SESSION_KEY) or {}).get(search_id)


def filters_from_request():
    """The queue filters of the query string, with the saved search; InvalidInput on a bad value."""
    search_id = request.args.get("search") or None
    text = saved_search(search_id)
    if search_id and text is None:
        raise InvalidInput(N_("This search has expired. Search again."), code="search_expired", field="q")
    return queue_service.parse_filters(request.args, search=text), search_id


def _queue_context(filters, search_id, page, errors=None):
    args = filters.as_args()
    if search_id:
        args["search"] = search_id
    return dict(
        page=page, filters=filters, filter_args=args, search_id=search_id, search_text=filters.search or "",
        counters=queue_service.counters(), staff_members=queue_service.assignable_staff(),
        statuses=[s.value for s in Status], types=[t.value for t in RequestType],
        subject_kinds=[k.value for k in SubjectKind], channels=[c.value for c in Channel], errors=errors or {},
        today=legal_day(utcnow()), policy_warnings=configuration_warnings(_policy()),
        identity_reviews=identity_reviews_service.waiting(limit=20), **_labels(),
    )


@bp.get("/")
@staff_required()
def queue_GET():
    from ...services.queue import QueueFilters

    try:
        filters, search_id = filters_from_request()
        page = queue_service.fetch_page(filters, after=request.args.get("after"))
    except InvalidInput as err:
        filters = QueueFilters()
        page = queue_service.fetch_page(filters)
        return render_template("backoffice/queue.html", **_queue_context(
            filters, None, page, {err.field or "form": translate_error(err)})), 422
    return render_template("backoffice/queue.html", **_queue_context(filters, search_id, page))


@bp.post("/search")
@staff_required(read_only=True)
def search_POST():
    """Keep the search text in the session and show the queue with it; the URL carries only a random id."""
    text = (request.form.get("q") or "").strip()[:254]
    reference = queue_service.exact_reference(text)
    if reference:   # issue 18: an exact reference opens the request
        return redirect(url_for("backoffice.request_GET", reference=reference), code=303)
    args = {k: v for k, v in request.form.items() if k in {"status", "type", "subject_kind", "assignee", "channel",
                                                          "handler", "overdue", "received_from", "received_to"} and v}
    if text:
        searches = dict(session.get(SEARCH_SESSION_KEY) or {})
        while len(searches) >= MAX_SAVED_SEARCHES:
            searches.pop(next(iter(searches)))
        search_id = secrets.token_urlsafe(9)
        searches[search_id] = text
        session[SEARCH_SESSION_KEY] = searches
        args["search"] = search_id
    return redirect(url_for("backoffice.queue_GET", **args))


# --- the request page ------------------------------------------------------------------------------------


def _policy():
    return current_app.extensions["dsar_policy"]


def _load(reference: str) -> DataRequest:
    req = db.session.scalar(sa.select(DataRequest).where(DataRequest.reference == reference))
    if req is None:
        abort(404)
    return req


def _rights(req: DataRequest):
    try:
        return evaluate_rights(_policy(), req.type, req.activities or None, req.subject_kind)
    except Exception:  # noqa: BLE001 - a request the policy no longer knows still gets its page
        return None


def _route_candidates(req: DataRequest) -> list:
    try:
        from ...services import routing
    except ImportError:
        return []
    finder = getattr(routing, "find_professionals_for", None)
    if finder is None:
        return []
    found = finder(req)
    return [getattr(c, "professional", c) for c in (found or [])]


def _timeline(req: DataRequest) -> list[Event]:
    return list(db.session.scalars(sa.select(Event).where(Event.request_id == req.id).order_by(Event.seq)))


def _forms_for(req: DataRequest) -> set[str]:
    """The action forms to show: what the lifecycle allows this staff member now."""
    allowed = set(lifecycle.allowed_actions(req, staff_actor()))
    forms = set()
    for form, rules in FORM_RULES.items():
        if allowed & rules:
            forms.add(form)
    return forms


def render_request_page(req: DataRequest, *, errors: dict | None = None, values: dict | None = None,
                        notice: str | None = None, status: int = 200):
    today = legal_day(utcnow())
    lang = str(get_locale() or "fr")
    documents = list(req.documents)
    ctx = dict(
        req=req, rights=_rights(req), events=_timeline(req), documents=documents,
        answered_by=register_service.answered_by(req), duplicates=possible_duplicates(req),
        identity_documents=[d for d in documents if d.kind in (DocumentKind.IDENTITY, DocumentKind.AUTHORITY)
                            and d.storage_name and d.purged_at is None],
        forms=_forms_for(req), errors=errors or {}, values=values or {}, notice=notice,
        staff_members=queue_service.assignable_staff(),
        candidates=_route_candidates(req) if req.status in (Status.OPEN, Status.IN_PROGRESS) else [],
        tasks=list(getattr(req, "tasks", []) or []),
        pauses=list(req.pauses), today=today,
        urgency=queue_service.urgency_of(req.status, req.due_date, today),
        can_extend_now=req.one_month_due_date is not None and req.extended_at is None
        and can_extend(today, req.one_month_due_date),
        outcomes=[o.value for o in Outcome], lang=lang, localized=localized, policy=_policy(),
        methods=[IdentityMethod.DOCUMENT.value, IdentityMethod.IN_PERSON.value]
        + ([IdentityMethod.RECORDS_MATCH.value] if identity_service.doubt_mode() else []),
        doubt_mode=identity_service.doubt_mode(),
        checklist=checklist_service.items(req, lang),
        **_labels(),
    )
    ctx["pdf_pages"] = _pdf_pages(ctx["identity_documents"])
    ctx["can_act"] = current_user.role != StaffRole.AUDITOR
    return render_template("backoffice/request.html", **ctx), status


def _pdf_pages(documents) -> dict[int, int]:
    """How many pages of each PDF identity document the page shows as pictures."""
    from ...services.documents import read_document
    from ...services.previews import MAX_PREVIEW_PAGES, page_count

    pages = {}
    for d in documents:
        if d.mime == "application/pdf":
            try:
                pages[d.id] = min(page_count(read_document(d)), MAX_PREVIEW_PAGES)
            except Exception:  # noqa: BLE001 - a file that cannot be drawn still has its "open" link
                pages[d.id] = 0
    return pages


@bp.get("/requests/<reference>/documents/<int:document_id>/pages/<int:page>.png")
@staff_required()
def document_page_GET(reference: str, document_id: int, page: int):
    """One page of a PDF identity document, drawn on the server as a PNG; every view is an audit event."""
    from ...services.documents import read_document
    from ...services.previews import PreviewFailed, render_page

    req = _load(reference)
    doc = db.session.get(Document, document_id)
    if doc is None or doc.request_id != req.id or doc.mime != "application/pdf" or not doc.storage_name:
        abort(404)
    try:
        png = render_page(read_document(doc), page)
    except IndexError:
        abort(404)
    except PreviewFailed:
        # The requester's file, not the service, is at fault: a 4xx, and the whole document still opens.
        raise InvalidInput(N_("This page cannot be drawn as a picture. Open the whole document instead."),
                           code="preview_failed") from None
    _record_view(req, doc, page=page)
    response = make_response(png)
    response.headers["Content-Type"] = "image/png"
    response.headers["Content-Disposition"] = "inline"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "no-store"
    response.headers["Cross-Origin-Resource-Policy"] = "same-origin"
    return response


VIEWED_SESSION_KEY = "bo_viewed"
MAX_VIEWED = 200


def _record_view(req, doc, **details) -> None:
    """A document view is an audit event once per person per session (issue 18): reloading the request page,
    which shows the document, does not add a "Document viewed" line each time. A new sign-in records again."""
    key = f"{current_user.id}:{doc.id}"
    viewed = [k for k in session.get(VIEWED_SESSION_KEY, []) if isinstance(k, str)]
    if key in viewed:
        return
    audit.record(staff_actor(), "document_viewed", request=req, touch=False,
                 details={"document_id": doc.id, "kind": doc.kind, **details})
    db.session.commit()
    session[VIEWED_SESSION_KEY] = [key, *viewed][:MAX_VIEWED]


@bp.get("/requests/<reference>")
@staff_required()
def request_GET(reference: str):
    return render_request_page(_load(reference))


@bp.get("/requests/<reference>/documents/<int:document_id>")
@staff_required()
def document_GET(reference: str, document_id: int):
    """An identity document, decrypted, shown inline in a sandboxed frame; every view is an audit event."""
    from ...services.documents import read_document

    req = _load(reference)
    doc = db.session.get(Document, document_id)
    if doc is None or doc.request_id != req.id:
        abort(404)
    from ...systems.packs import holds_sealed_content

    if holds_sealed_content(doc):
        # Shared health content (policy art. 8.2): IDOMED staff never open it; counts are on the request page.
        abort(403)
    data = read_document(doc)
    # A view changes nothing on the request: it must not make the forms of open pages stale.
    _record_view(req, doc)
    response = make_response(data)
    response.headers["Content-Type"] = doc.mime
    response.headers["Content-Disposition"] = "inline"
    response.headers["Content-Security-Policy"] = DOCUMENT_CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Frame-Options"] = "SAMEORIGIN"
    response.headers["Cross-Origin-Resource-Policy"] = "same-origin"
    return response


# --- actions ---------------------------------------------------------------------------------------------

# Each form of the request page, the lifecycle rules that make it available, and the fields it takes.
FORM_RULES = {
    "verify_identity": {"accept_identity"},
    "refuse_identity": {"refuse_identity"},
    "route": {"route_to_professional", "route_to_staff"},
    "assign": {"assign"},
    "clarify": {"ask_clarification"},
    "resume": {"resume"},
    "extend": {"extend"},
    "answer": {"answer"},
    "refuse": {"refuse"},
    "close": {"close"},
    "reopen": {"reopen"},
    "withdraw": {"withdraw"},
    "note": {"note"},
    "complete_step": {"note"},  # ticking a checklist step is open whenever a note is (services/checklist.py)
    "record_doubt": {"accept_identity"},  # while the identity is being checked (services/identity.py)
    "medical_item": {"note"},  # how old a medical record item is (CSP R.1111-1): services/medical_record.py checks
}
FORM_FIELDS = {
    "verify_identity": {"method"},
    "refuse_identity": {"reason"},
    "route": {"professional_id", "to_staff"},
    "assign": {"assignee_id"},
    "clarify": {"question", "kind"},
    "resume": {"answer"},
    "extend": {"reason"},
    "answer": {"outcome", "message", "reasons"},
    "refuse": {"reasons", "unfounded_or_excessive", "unfounded_or_excessive_grounds"},
    "close": set(),
    "reopen": {"reason"},
    "withdraw": set(),
    "note": {"note"},
    "complete_step": {"step_id", "note"},
    "record_doubt": {"reason"},
    "medical_item": {"label", "older_than_5_years", "item_id"},
}
COMMON_FIELDS = {"csrf_token", "version"}


def _int_or_none(value, field):
    value = (value or "").strip()
    if not value:
        return None
    if parse_id(value) is None:   # 2^64 would overflow the database
        raise InvalidInput(N_("Choose a value from the list."), code="bad_choice", field=field)
    return int(value)


def _run(form: str, req: DataRequest, values: dict, version: int):
    actor = staff_actor()
    v = values
    if form == "verify_identity":
        return actions.verify_identity(req, actor, method=v.get("method") or IdentityMethod.DOCUMENT, expected_version=version)
    if form == "refuse_identity":
        return actions.refuse_identity(req, actor, reason=v.get("reason", ""), expected_version=version)
    if form == "route":
        if v.get("to_staff"):
            return actions.route(req, actor, to_staff=True, expected_version=version)
        return actions.route(req, actor, professional_id=_int_or_none(v.get("professional_id"), "professional_id"),
                             expected_version=version)
    if form == "assign":
        return actions.assign(req, actor, assignee_id=_int_or_none(v.get("assignee_id"), "assignee_id"),
                              expected_version=version)
    if form == "clarify":
        return actions.ask_clarification(req, actor, question=v.get("question", ""), kind=v.get("kind") or "scope",
                                         expected_version=version)
    if form == "resume":
        return actions.resume(req, actor, answer=(v.get("answer") or "").strip() or None, expected_version=version)
    if form == "extend":
        return actions.extend(req, actor, reason=v.get("reason", ""), expected_version=version)
    if form == "answer":
        # services.fulfilment.recording.record_answer: checked, then the files stored, then the answer; a refusal rolls
        # everything back, and the files written are deleted with it (services.documents).
        files = [(f.stream, f.filename, f.mimetype) for f in request.files.getlist(ANSWER_FILES_KEY) if f and f.filename]
        return actions.answer(req, actor, outcome=v.get("outcome", ""), message=v.get("message", ""),
                              reasons=(v.get("reasons") or "").strip() or None, files=files, expected_version=version)
    if form == "refuse":
        return actions.refuse(req, actor, reasons=v.get("reasons", ""),
                              unfounded_or_excessive=v.get("unfounded_or_excessive") or None,
                              unfounded_or_excessive_grounds=v.get("unfounded_or_excessive_grounds"),
                              expected_version=version)
    if form == "medical_item":
        return actions.set_medical_record_item(
            req, actor, label=v.get("label"), older_than_5_years=v.get("older_than_5_years") or "0",
            item_id=_int_or_none(v.get("item_id"), "item_id"), expected_version=version)
    if form == "close":
        return actions.close(req, actor, expected_version=version)
    if form == "reopen":
        return actions.reopen(req, actor, reason=v.get("reason", ""), expected_version=version)
    if form == "withdraw":
        return actions.withdraw(req, actor, expected_version=version)
    if form == "note":
        return actions.add_note(req, actor, note=v.get("note", ""), expected_version=version)
    if form == "record_doubt":
        return actions.record_identity_doubt(req, actor, reason=v.get("reason", ""), expected_version=version)
    if form == "complete_step":
        return actions.complete_step(req, actor, step_id=_int_or_none(v.get("step_id"), "step_id"),
                                     note=v.get("note"), expected_version=version)
    raise NotFound(N_("No such action."))


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


@bp.post("/requests/<reference>/actions/<form>")
@staff_required("admin", "dpo", "agent")
def action_POST(reference: str, form: str):
    if form not in FORM_RULES:
        abort(404)
    req = _load(reference)
    values = {k: v for k, v in request.form.items()}
    unknown = sorted(set(values) - FORM_FIELDS[form] - COMMON_FIELDS)
    if unknown:
        return render_request_page(req, errors={form: {"form": _("Unknown field for this action: %(fields)s.",
                                                                   fields=", ".join(unknown))}},
                                   values={form: values}, status=400)
    version = (values.get("version") or "").strip()
    if not version.isdigit():
        return render_request_page(req, errors={form: {"form": _("The form is incomplete. Reload the page and try again.")}},
                                   status=400)
    try:
        _run(form, req, values, int(version))
    except Conflict as err:
        db.session.rollback()
        req = _load(reference)
        return render_request_page(req, notice=translate_error(err), values={form: values}, status=409)
    except PermissionDenied:
        db.session.rollback()
        abort(403)
    except DomainError as err:
        db.session.rollback()
        req = _load(reference)
        message = translate_error(err)
        if form == "answer" and err.field == "document":
            err.field = ANSWER_FILES_KEY
        status = err.status_code if 400 <= err.status_code < 500 else 422
        if isinstance(err, IllegalTransition) and not err.field:
            return render_request_page(req, errors={form: {"form": message}}, values={form: values}, status=status)
        return render_request_page(req, errors={form: {err.field or "form": message}}, values={form: values},
                                   status=status)
    db.session.commit()
    flash(_(SUCCESS_MESSAGES[form]), "info")
    return redirect(url_for("backoffice.request_GET", reference=reference) + "#top")


# --- template filters ------------------------------------------------------------------------------------


@bp.app_template_global("pw_text")
def policy_warning_text(value, lang):
    """A localized parameter of a configuration warning, in the page's language."""
    from ...policy_warnings import text

    return text(value, lang)


@bp.app_template_filter("dict_without")
def dict_without(d: dict, *keys) -> dict:
    return {k: v for k, v in (d or {}).items() if k not in keys}


@bp.app_template_filter("status_option")
def status_option(status: str):
    from ..common import status_label

    return status, status_label(status)


@bp.app_template_filter("label_option")
def label_option(value: str, table: dict):
    return value, _(table[value]) if value in table else value


@bp.app_template_filter("staff_option")
def staff_option(staff):
    return str(staff.id), staff.name


@bp.app_template_filter("pro_option")
def pro_option(professional):
    return str(professional.id), f"{professional.full_name} ({professional.email})"


@bp.app_template_filter("paris_date")
def paris_date(instant) -> str:
    """A day written the way the page's language writes it (issue 18: "30 nov. 2026", "Nov 30, 2026")."""
    from datetime import date as _date

    from flask_babel import format_date

    if not instant:
        return "—"
    return format_date(instant if type(instant) is _date else legal_day(instant), "medium")


@bp.app_template_filter("paris_datetime")
def paris_datetime(instant) -> str:
    from ...deadlines import PARIS

    from flask_babel import format_date, format_time

    if not instant:
        return "—"
    local = instant.astimezone(PARIS)
    return f"{format_date(local.date(), 'medium')} {format_time(local.time(), 'HH:mm')}"


# --- professionals' task links (policy art. 8.2) -----------------------------------------------------------


def _task_of(req: DataRequest, task_id: int):
    from ...models import ProfessionalTask

    task = db.session.get(ProfessionalTask, task_id)
    if task is None or task.request_id != req.id:
        abort(404)
    return task


def _on_task(reference: str, task_id: int, act, done_message: str):
    req = _load(reference)
    lifecycle.check_version(req, request.form.get("version", type=int))
    act(_task_of(req, task_id), staff_actor())
    db.session.commit()
    flash(done_message, "info")
    return redirect(url_for("backoffice.request_GET", reference=reference))


@bp.post("/requests/<reference>/tasks/<int:task_id>/resend")
@staff_required("admin", "dpo", "agent")
def task_resend_POST(reference: str, task_id: int):
    """A new link for the professional (the old one stops working)."""
    from ...services import routing

    return _on_task(reference, task_id, routing.resend_task_link,
                    _("A new link was sent to the professional; the previous one no longer works."))


@bp.post("/requests/<reference>/tasks/<int:task_id>/revoke")
@staff_required("admin", "dpo", "agent")
def task_revoke_POST(reference: str, task_id: int):
    """Withdraw the task: its link stops working and the request comes back to staff."""
    from ...services import routing

    return _on_task(reference, task_id, routing.revoke_task,
                    _("The task was withdrawn; the request is back with the privacy team."))
