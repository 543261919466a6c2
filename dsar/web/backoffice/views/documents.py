"""The requester's identity documents, decrypted for the request page: whole, or one PDF page as a picture."""
from __future__ import annotations

from flask import abort, make_response, session
from flask_login import current_user

from .... import audit
from ....errors import InvalidInput, N_
from ....extensions import db
from ....models import Document
from ....services.documents import read_document
from ....services.previews import PreviewFailed, render_page
from ....systems.packs import holds_sealed_content
from ..blueprint import bp
from ..auth import staff_actor, staff_required
from ..page_support import load_request

DOCUMENT_CSP = "sandbox; default-src 'none'"
VIEWED_SESSION_KEY = "bo_viewed"
MAX_VIEWED = 200


def _document_of(req, document_id: int) -> Document:
    doc = db.get_or_404(Document, document_id)
    if doc.request_id != req.id:
        abort(404)
    return doc


@bp.get("/requests/<reference>/documents/<int:document_id>/pages/<int:page>.png")
@staff_required()
def document_page_GET(reference: str, document_id: int, page: int):
    """One page of a PDF identity document, drawn on the server as a PNG; every view is an audit event."""
    req = load_request(reference)
    doc = _document_of(req, document_id)
    if doc.mime != "application/pdf" or not doc.storage_name:
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


@bp.get("/requests/<reference>/documents/<int:document_id>")
@staff_required()
def document_GET(reference: str, document_id: int):
    """An identity document, decrypted, shown inline in a sandboxed frame; every view is an audit event."""
    req = load_request(reference)
    doc = _document_of(req, document_id)
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


