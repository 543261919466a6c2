"""Letters seen before they go out (issue 18): the PDF the requester would receive, inline, nothing recorded.

Both previews are POSTs of the form being filled in (CSRF-checked like every form), answered with the PDF;
a value the letter cannot be drawn from comes back on its form, as a refused action does.
"""
from __future__ import annotations

from flask import make_response, request

from ....errors import DomainError, PermissionDenied
from ....extensions import db
from ....services import letter_previews
from ...common import translate_error
from ..blueprint import bp
from ..auth import staff_required
from ..form_action import error_status
from ..fulfilment import _page as fulfilment_page
from .request_page import render_request_page
from ..page_support import load_request

WRITERS = ("admin", "dpo", "agent")


def pdf_inline(data: bytes, name: str):
    response = make_response(data)
    response.headers["Content-Type"] = "application/pdf"
    response.headers["Content-Disposition"] = f'inline; filename="{name}"'
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "no-store"
    return response


def _preview(reference: str, draw, on_error):
    req = load_request(reference)
    try:
        data = draw(req)
    except PermissionDenied:
        raise
    except DomainError as err:
        db.session.rollback()
        return on_error(err)
    db.session.rollback()   # a preview records nothing, even by accident
    return pdf_inline(data, f"preview-{reference}.pdf")


@bp.post("/requests/<reference>/letters/preview")
@staff_required(*WRITERS)
def letter_preview_POST(reference: str):
    """The letter chosen in the "Send a letter" form, as it would go; nothing is sent."""
    def on_error(err):   # back on the follow-up page's letter form, as a refused "send" is
        return fulfilment_page(load_request(reference), errors={"letters": {err.field or "form": translate_error(err)}},
                               values={"letters": request.form.to_dict()}, status=error_status(err))

    return _preview(reference, lambda req: letter_previews.staff_letter(req, request.form.get("kind", "")), on_error)


@bp.post("/requests/<reference>/answer/preview")
@staff_required(*WRITERS)
def answer_preview_POST(reference: str):
    """The letter the answer form would produce (its outcome, text and reasons); nothing is recorded."""
    form = request.form

    def on_error(err):   # back on the request page, opened at the answer form
        return render_request_page(load_request(reference), errors={"answer": {err.field or "form": translate_error(err)}},
                                   values={"answer": form.to_dict()}, status=error_status(err), failed_form="answer")

    return _preview(reference, lambda req: letter_previews.answer_letter(
        req, outcome=form.get("outcome", ""), message=form.get("message", ""), reasons=form.get("reasons")), on_error)
