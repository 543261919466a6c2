"""The request page: what the request is, the actions its status allows (near the top), then the record.

A refused action comes back on this page opened at its form, with the error in view and focused (issue 18).
"""
from __future__ import annotations

import sqlalchemy as sa
from flask import render_template, request
from flask_login import current_user

from .... import lifecycle
from ....deadlines import can_extend, legal_day
from ....extensions import db
from ....models import DataRequest, Event, utcnow
from ....models.enums import DocumentKind, IdentityMethod, Outcome, StaffRole, Status
from ....policy import evaluate_rights, localized
from ....services import answer_templates
from ....services import checklist as checklist_service
from ....services import identity as identity_service
from ....services import queue as queue_service
from ....services import register as register_service
from ....services import routing
from ....services.documents import read_document
from ....services.duplicates import possible_duplicates
from ....services.previews import MAX_PREVIEW_PAGES, page_count
from ...common import current_language
from ..blueprint import bp
from ..auth import staff_actor, staff_required
from ..page_support import labels, load_request, policy

# Each form of the request page and the lifecycle rules that make it available.
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


def _rights(req: DataRequest):
    try:
        return evaluate_rights(policy(), req.type, req.activities or None, req.subject_kind)
    except Exception:  # noqa: BLE001 - a request the policy no longer knows still gets its page
        return None


def rights_groups(rights, lang: str) -> list[dict]:
    """The rights matrix's rows grouped by their reason, so that a legal text shared by many rows is written
    once (issue 18: the table repeated the same text on every row)."""
    groups: dict[str, dict] = {}
    for row in rights.rows if rights else []:
        reason = localized(row.reason, lang) or ""
        groups.setdefault(reason, {"reason": reason, "rows": []})["rows"].append(row)
    return list(groups.values())


def _route_candidates(req: DataRequest) -> list:
    return list(routing.find_professionals_for(req))


def _timeline(req: DataRequest) -> list[Event]:
    return list(db.session.scalars(sa.select(Event).where(Event.request_id == req.id).order_by(Event.seq)))


def _forms_for(req: DataRequest) -> set[str]:
    """The action forms to show: what the lifecycle allows this staff member now."""
    allowed = set(lifecycle.allowed_actions(req, staff_actor()))
    return {form for form, rules in FORM_RULES.items() if allowed & rules}


def render_request_page(req: DataRequest, *, errors: dict | None = None, values: dict | None = None,
                        notice: str | None = None, status: int = 200, failed_form: str | None = None):
    """The page; ``failed_form`` names the form a refused action comes back on: it is shown first, opened,
    with its error summary focused (issue 18)."""
    today = legal_day(utcnow())
    lang = current_language()
    documents = list(req.documents)
    rights = _rights(req)
    ctx = dict(
        req=req, rights=rights, rights_groups=rights_groups(rights, lang), events=_timeline(req),
        documents=documents, answered_by=register_service.answered_by(req), duplicates=possible_duplicates(req),
        identity_documents=[d for d in documents if d.kind in (DocumentKind.IDENTITY, DocumentKind.AUTHORITY)
                            and d.storage_name and d.purged_at is None],
        forms=_forms_for(req), errors=errors or {}, values=values or {}, notice=notice, failed_form=failed_form,
        staff_members=queue_service.assignable_staff(),
        candidates=_route_candidates(req) if req.status in (Status.OPEN, Status.IN_PROGRESS) else [],
        tasks=list(getattr(req, "tasks", []) or []),
        pauses=list(req.pauses), today=today,
        urgency=queue_service.urgency_of(req.status, req.due_date, today),
        can_extend_now=req.one_month_due_date is not None and req.extended_at is None
        and can_extend(today, req.one_month_due_date),
        outcomes=[o.value for o in Outcome], lang=lang, localized=localized, policy=policy(),
        methods=[IdentityMethod.DOCUMENT.value, IdentityMethod.IN_PERSON.value]
        + ([IdentityMethod.RECORDS_MATCH.value] if identity_service.doubt_mode() else []),
        doubt_mode=identity_service.doubt_mode(),
        checklist=checklist_service.items(req, lang),
        answer_templates=[o.value for o in Outcome],
        **labels(),
    )
    ctx["pdf_pages"] = _pdf_pages(ctx["identity_documents"])
    ctx["can_act"] = current_user.role != StaffRole.AUDITOR
    return render_template("backoffice/request.html", **ctx), status


def _pdf_pages(documents) -> dict[int, int]:
    """How many pages of each PDF identity document the page shows as pictures."""
    pages = {}
    for d in documents:
        if d.mime == "application/pdf":
            try:
                pages[d.id] = min(page_count(read_document(d)), MAX_PREVIEW_PAGES)
            except Exception:  # noqa: BLE001 - a file that cannot be drawn still has its "open" link
                pages[d.id] = 0
    return pages


@bp.get("/requests/<reference>")
@staff_required()
def request_GET(reference: str):
    """The page; ``?answer_template=<outcome>`` opens the answer form on that outcome's starting text."""
    req = load_request(reference)
    outcome = request.args.get("answer_template")
    text = answer_templates.answer_text(req, outcome) if outcome else None
    values = {"answer": {"outcome": outcome, "message": text}} if text else None
    return render_request_page(req, values=values)
