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
