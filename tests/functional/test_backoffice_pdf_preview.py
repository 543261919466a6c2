"""A PDF identity document is shown to staff as pictures of its pages drawn on the server."""
import io

import pytest
import sqlalchemy as sa
from PIL import Image

from backoffice_support import add_identity_document, signed_in_client
from dsar.extensions import db
from dsar.models import Event
from dsar.models.enums import Status
from factories import make_request


def two_page_pdf() -> bytes:
    from weasyprint import HTML

    return HTML(string="<p>Page one</p><p style='page-break-before: always'>Page two</p>").write_pdf()


@pytest.fixture
def pdf_request(app, policy):
    req = make_request(policy=policy, status=Status.IDENTITY_REVIEW, subject_kind="professional", activities=["client_file"])
    doc = add_identity_document(req, policy, data=two_page_pdf())
    db.session.commit()
    return req.reference, doc.id


def test_each_page_of_a_pdf_is_an_image_on_the_request_page(app, pdf_request):
    reference, doc_id = pdf_request
    client, staff = signed_in_client(app, "agent")
    page = client.get(f"/backoffice/requests/{reference}").get_data(as_text=True)
    for n in (1, 2):
        assert f"/backoffice/requests/{reference}/documents/{doc_id}/pages/{n}.png" in page
    assert f"/documents/{doc_id}/pages/3.png" not in page
    r = client.get(f"/backoffice/requests/{reference}/documents/{doc_id}/pages/2.png")
    assert r.status_code == 200 and r.headers["Content-Type"] == "image/png"
    assert r.headers["Cache-Control"] == "no-store"
    image = Image.open(io.BytesIO(r.data))
    assert image.format == "PNG" and image.height > image.width   # an A4 page, portrait
    views = db.session.scalars(sa.select(Event).where(Event.action == "document_viewed")).all()
    assert [v.details.get("page") for v in views] == [2]


def test_a_page_that_does_not_exist_or_another_requests_document_is_404(app, pdf_request, policy):
    reference, doc_id = pdf_request
    client, _ = signed_in_client(app, "agent")
    assert client.get(f"/backoffice/requests/{reference}/documents/{doc_id}/pages/3.png").status_code == 404
    assert client.get(f"/backoffice/requests/{reference}/documents/{doc_id}/pages/0.png").status_code == 404
    other = make_request(policy=policy, status=Status.OPEN)
    db.session.commit()
    assert client.get(f"/backoffice/requests/{other.reference}/documents/{doc_id}/pages/1.png").status_code == 404


def test_anonymous_visitors_cannot_see_pages(app, pdf_request):
    reference, doc_id = pdf_request
    r = app.test_client().get(f"/backoffice/requests/{reference}/documents/{doc_id}/pages/1.png")
    assert r.status_code in (302, 401)


@pytest.fixture
def huge_page_request(app, policy, monkeypatch):
    """Issue 12's hostile PDF (10 pages of 14,400 × 14,400 pt, 2 KB), stored as if uploaded before pages were measured."""
    from dsar.files import pdf_checks
    from hostile_files import huge_page_pdf

    with monkeypatch.context() as m:
        m.setattr(pdf_checks, "MAX_PDF_PAGE_POINTS", (10**6, 10**6))
        req = make_request(policy=policy, status=Status.IDENTITY_REVIEW, subject_kind="professional",
                           activities=["client_file"])
        doc = add_identity_document(req, policy, data=huge_page_pdf())
        db.session.commit()
    return req.reference, doc.id


def test_a_huge_page_is_drawn_within_the_pixel_cap(app, huge_page_request):
    """Uncapped, page 1 was 22,000 × 22,000 px at 110 dpi (484 Mpx, 1.45 GB of pixels, 3.3 GB peak, 8 s)."""
    reference, doc_id = huge_page_request
    client, _ = signed_in_client(app, "agent")
    page = client.get(f"/backoffice/requests/{reference}").get_data(as_text=True)
    assert f"/documents/{doc_id}/pages/10.png" in page and f"/documents/{doc_id}/pages/11.png" not in page
    r = client.get(f"/backoffice/requests/{reference}/documents/{doc_id}/pages/1.png")
    assert r.status_code == 200
    image = Image.open(io.BytesIO(r.data))
    assert image.width * image.height <= 4_000_000                # previews.MAX_PREVIEW_PIXELS
    assert image.width == image.height > 1_900        # still a readable picture of a square page


def test_a_preview_that_runs_out_of_memory_stops_in_its_own_process_and_the_worker_goes_on(
        app, pdf_request, monkeypatch):
    """The drawing runs in a child process with a memory limit: a runaway ends there, with a 4xx, not in the worker."""
    from dsar.services import previews

    reference, doc_id = pdf_request
    client, _ = signed_in_client(app, "agent")
    url = f"/backoffice/requests/{reference}/documents/{doc_id}/pages/1.png"
    monkeypatch.setattr(previews, "RENDER_MEMORY_BYTES", 40 * 1024 * 1024)   # less than pdfium needs to start
    r = client.get(url, headers={"Accept-Language": "fr"})
    assert r.status_code == 422
    assert "Cette page ne peut pas être affichée en image" in r.get_data(as_text=True)
    monkeypatch.undo()
    assert client.get(url).status_code == 200                                 # same process, still serving
