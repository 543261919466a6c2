"""Letters seen before they go out, and answers that start from a text (issue 18): the PDF the requester would
receive, inline, with nothing stored, audited or sent; the answer form opened on the text for an outcome."""
from __future__ import annotations

import html as html_lib

import sqlalchemy as sa

from backoffice_support import signed_in_client
from dsar.extensions import db
from dsar.models import DataRequest, Document, Event, OutboxMessage
from dsar.models.enums import Status
from factories import make_request
from fulfilment_support import pdf_text


def _counts():
    return tuple(db.session.scalar(sa.select(sa.func.count()).select_from(m)) for m in (Event, OutboxMessage, Document))


def _request(policy, **kw):
    req = make_request(policy=policy, status=Status.IN_PROGRESS, subject_kind="professional",
                       activities=["client_file"], **kw)
    db.session.commit()
    return req


def test_a_staff_letter_is_previewed_inline_and_nothing_is_recorded(app, policy):
    req = _request(policy)
    client, _ = signed_in_client(app, "agent")
    before = _counts()
    r = client.post(f"/backoffice/requests/{req.reference}/letters/preview", data={"kind": "acknowledgement"})
    assert r.status_code == 200 and r.headers["Content-Type"] == "application/pdf"
    assert r.headers["Content-Disposition"].startswith("inline") and r.headers["Cache-Control"] == "no-store"
    assert req.reference in pdf_text(r.data)
    db.session.expire_all()
    assert _counts() == before
    assert not db.session.scalars(sa.select(Event).where(Event.action == "letter_produced")).all()
    bad = client.post(f"/backoffice/requests/{req.reference}/letters/preview", data={"kind": "nonsense"})
    assert bad.status_code == 422 and "Choisissez un courrier" in html_lib.unescape(bad.get_data(as_text=True))


def test_the_answer_letter_is_previewed_with_the_forms_text_and_nothing_changes(app, policy):
    req = _request(policy)
    client, _ = signed_in_client(app, "dpo")
    before = _counts()
    r = client.post(f"/backoffice/requests/{req.reference}/answer/preview", data={
        "outcome": "refused", "message": "Votre demande ne peut aboutir.", "reasons": "Motif d'essai pour l'aperçu."})
    assert r.status_code == 200 and r.headers["Content-Type"] == "application/pdf", r.get_data(as_text=True)[:2000]
    assert "Motif d'essai pour l'aperçu" in pdf_text(r.data)
    db.session.expire_all()
    assert _counts() == before
    fresh = db.session.get(DataRequest, req.id)
    assert fresh.status == Status.IN_PROGRESS and fresh.outcome is None and fresh.refusal_reasons is None
    # An outcome left out comes back on the answer form, with its error in view.
    empty = client.post(f"/backoffice/requests/{req.reference}/answer/preview", data={"message": "x"})
    page = html_lib.unescape(empty.get_data(as_text=True))
    assert empty.status_code == 422 and 'id="failed-action"' in page


def test_an_answer_starts_from_the_text_for_its_type_outcome_and_language(app, policy):
    req = _request(policy)
    english = make_request(policy=policy, status=Status.IN_PROGRESS, subject_kind="professional",
                           activities=["client_file"], language="en")
    db.session.commit()
    client, _ = signed_in_client(app, "dpo")
    page = html_lib.unescape(client.get(f"/backoffice/requests/{req.reference}?answer_template=granted").get_data(as_text=True))
    assert "Vous trouverez ci-joint une copie de ces données" in page and req.reference in page   # access, in French
    assert '<option value="granted" selected' in page
    refused = html_lib.unescape(client.get(f"/backoffice/requests/{english.reference}?answer_template=refused").get_data(as_text=True))
    assert "We cannot act on it" in refused and english.reference in refused
    plain = client.get(f"/backoffice/requests/{req.reference}?answer_template=nonsense")
    assert plain.status_code == 200


def test_the_professionals_preview_leaves_out_the_requesters_contact_details(app, policy):
    from dsar.services import letter_previews

    req = _request(policy, email="camille.contact@example.test")
    with app.test_request_context():
        shown = pdf_text(letter_previews.answer_letter(req, outcome="no_data", message="Rien.", reasons=None,
                                                       without_contact=True))
        full = pdf_text(letter_previews.answer_letter(req, outcome="no_data", message="Rien.", reasons=None))
    assert "camille.contact@example.test" not in shown and req.reference in shown
    assert "camille.contact@example.test" in full
