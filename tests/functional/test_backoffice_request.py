"""The request page and its actions over HTTP: identity review with the document in a sandbox, assignment,
clarification, extension, answer with files, stale pages, bad input, intake of letters, the search."""
from __future__ import annotations

import io
import re
from datetime import date, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from backoffice_support import add_identity_document, png_bytes, signed_in_client
from dsar.extensions import db
from dsar.models import DataRequest, Event
from dsar.models.enums import DocumentKind, Status
from factories import make_request


def _version(html: str, form: str) -> str:
    block = html[html.index(f'id="form-{form}"'):]
    return re.search(r'name="version" value="(\d+)"', block).group(1)


def _fresh(reference):
    db.session.expire_all()
    return db.session.scalar(sa.select(DataRequest).where(DataRequest.reference == reference))


@pytest.fixture
def review_request(app, policy):
    req = make_request(policy=policy, status=Status.IDENTITY_REVIEW, subject_kind="professional",
                       activities=["client_file"])
    doc = add_identity_document(req, policy)
    db.session.commit()
    return req.reference, doc.id


def test_identity_document_is_served_inline_in_a_sandbox_and_each_view_is_audited(app, review_request):
    reference, doc_id = review_request
    client, staff = signed_in_client(app, "agent")
    page = client.get(f"/backoffice/requests/{reference}").get_data(as_text=True)
    assert f'<iframe class="document-viewer" sandbox=""' in page
    version_before = _fresh(reference).version
    r = client.get(f"/backoffice/requests/{reference}/documents/{doc_id}")
    assert r.status_code == 200 and r.data == png_bytes()
    assert r.headers["Content-Type"] == "image/png"
    assert r.headers["Content-Disposition"] == "inline"
    assert r.headers["Content-Security-Policy"] == "sandbox; default-src 'none'"
    assert r.headers["X-Content-Type-Options"] == "nosniff" and r.headers["Cache-Control"] == "no-store"
    views = db.session.scalars(sa.select(Event).where(Event.action == "document_viewed")).all()
    assert len(views) == 1 and views[0].actor_id == str(staff.id) and views[0].details["document_id"] == doc_id
    assert _fresh(reference).version == version_before  # a view does not make open pages stale
    # A document of another request is not reachable through this one.
    other = make_request(status=Status.OPEN)
    db.session.commit()
    assert client.get(f"/backoffice/requests/{other.reference}/documents/{doc_id}").status_code == 404


def test_from_identity_review_to_the_answer(app, review_request, mailbox, run_jobs):
    reference, _ = review_request
    client, staff = signed_in_client(app, "dpo")
    html = client.get(f"/backoffice/requests/{reference}").get_data(as_text=True)
    assert "Ce que couvre le droit pour cette demande" in html  # the rights evaluation (policy art. 8.1)
    r = client.post(f"/backoffice/requests/{reference}/actions/verify_identity",
                    data={"method": "document", "version": _version(html, "verify_identity")})
    assert r.status_code == 302
    req = _fresh(reference)
    assert req.status == Status.OPEN and req.clock_started_on is not None and req.due_date is not None
    html = client.get(f"/backoffice/requests/{reference}").get_data(as_text=True)
    r = client.post(f"/backoffice/requests/{reference}/actions/assign",
                    data={"assignee_id": str(staff.id), "version": _version(html, "assign")})
    assert r.status_code == 302 and _fresh(reference).status == Status.IN_PROGRESS
    html = client.get(f"/backoffice/requests/{reference}").get_data(as_text=True)
    # The checklist (policy request_types.access.steps): the third-party data check (GDPR art. 15(4)) is open,
    # so the answer is refused with the step and its article, and nothing is stored.
    assert "Vérifier les données concernant des tiers" in html and 'id="checklist"' in html
    r = client.post(f"/backoffice/requests/{reference}/actions/answer", content_type="multipart/form-data", data={
        "outcome": "granted", "message": "Voici vos données.", "version": _version(html, "answer"),
        "files": (io.BytesIO(png_bytes((0, 90, 0))), "export.png", "image/png"),
    })
    page = r.get_data(as_text=True)
    assert r.status_code == 409 and "Vérifier les données concernant des tiers" in page and "RGPD art. 15(4)" in page
    assert _fresh(reference).status == Status.IN_PROGRESS
    assert not [d for d in _fresh(reference).documents if d.kind == DocumentKind.ANSWER]  # nothing half written
    steps = {s.step_key: s.id for s in _fresh(reference).steps}
    assert set(steps) == {"gather_data", "check_third_party_data"}  # the letter and the copy are the answer's own
    for key, step_id in steps.items():
        r = client.post(f"/backoffice/requests/{reference}/actions/complete_step", data={
            "step_id": str(step_id), "note": "Aucun tiers dans l'export", "version": _version(page, "answer")})
        assert r.status_code == 302
        page = client.get(f"/backoffice/requests/{reference}").get_data(as_text=True)
    html = page
    assert "Aucun tiers dans l&#39;export" in html and 'class="step-open"' not in html
    r = client.post(f"/backoffice/requests/{reference}/actions/answer", content_type="multipart/form-data", data={
        "outcome": "granted", "message": "Voici vos données.", "version": _version(html, "answer"),
        "files": (io.BytesIO(png_bytes((0, 90, 0))), "export.png", "image/png"),
    })
    assert r.status_code == 302, re.findall(r'role="alert">[^<]*', r.get_data(as_text=True))
    req = _fresh(reference)
    assert req.status == Status.ANSWERED and req.outcome == "granted"
    answers = [d for d in req.documents if d.kind == DocumentKind.ANSWER]
    assert len(answers) == 1 and answers[0].mime == "image/png"
    timeline = client.get(f"/backoffice/requests/{reference}").get_data(as_text=True)
    for label in ("Identité acceptée", "Attribuée", "Réponse enregistrée"):
        assert label in timeline


def test_a_stale_page_says_so_and_overwrites_nothing(app, review_request):
    reference, _ = review_request
    client, _ = signed_in_client(app, "agent")
    html = client.get(f"/backoffice/requests/{reference}").get_data(as_text=True)
    stale = _version(html, "note")
    assert client.post(f"/backoffice/requests/{reference}/actions/note",
                       data={"note": "first", "version": stale}).status_code == 302
    r = client.post(f"/backoffice/requests/{reference}/actions/refuse_identity",
                    data={"reason": "flou", "version": stale})
    assert r.status_code == 409
    page = r.get_data(as_text=True)
    assert 'id="stale-notice"' in page and "modifiée par quelqu" in page
    assert "flou" in page  # what they typed is kept for them
    assert _fresh(reference).status == Status.IDENTITY_REVIEW


def test_bad_input_gets_a_clear_message_next_to_the_field(app, review_request):
    reference, _ = review_request
    client, _ = signed_in_client(app, "agent")
    html = client.get(f"/backoffice/requests/{reference}").get_data(as_text=True)
    v = _version(html, "refuse_identity")
    r = client.post(f"/backoffice/requests/{reference}/actions/refuse_identity", data={"reason": "  ", "version": v})
    assert r.status_code == 422
    page = r.get_data(as_text=True)
    assert 'id="refuse_identity-reason-error"' in page and 'aria-describedby="refuse_identity-reason-error"' in page
    r = client.post(f"/backoffice/requests/{reference}/actions/note", data={"note": "x", "version": v, "evil": "1"})
    assert r.status_code == 400 and "evil" in r.get_data(as_text=True)
    r = client.post(f"/backoffice/requests/{reference}/actions/close", data={"version": v})
    assert r.status_code == 409  # wrong state
    assert client.post(f"/backoffice/requests/{reference}/actions/explode", data={"version": v}).status_code == 404
    assert client.post(f"/backoffice/requests/{reference}/actions/note", data={"note": "x"}).status_code == 400
    assert client.get("/backoffice/requests/DSAR-0000-000000").status_code == 404


def test_clarification_pauses_the_clock_and_extension_needs_a_reason_and_the_first_month(app, policy):
    # Received 5 March 2026: one-month deadline 7 April (5 April is a Sunday, 6 April Easter Monday).
    req = make_request(policy=policy, status=Status.OPEN, received_at=datetime(2026, 3, 5, 9, tzinfo=timezone.utc))
    late = make_request(policy=policy, status=Status.OPEN, received_at=datetime(2025, 1, 6, 9, tzinfo=timezone.utc))
    db.session.commit()
    client, _ = signed_in_client(app, "agent")
    html = client.get(f"/backoffice/requests/{late.reference}").get_data(as_text=True)
    r = client.post(f"/backoffice/requests/{late.reference}/actions/extend",
                    data={"reason": "complexe", "version": _version(html, "extend")})
    assert r.status_code == 409 and "un mois est passée" in r.get_data(as_text=True)
    assert _fresh(late.reference).extended_at is None
    html = client.get(f"/backoffice/requests/{req.reference}").get_data(as_text=True)
    r = client.post(f"/backoffice/requests/{req.reference}/actions/extend",
                    data={"reason": "", "version": _version(html, "extend")})
    assert r.status_code == 422 and 'id="extend-reason-error"' in r.get_data(as_text=True)
    r = client.post(f"/backoffice/requests/{req.reference}/actions/clarify",
                    data={"question": "Quel compte ?", "version": _version(html, "clarify")})
    assert r.status_code == 302 and _fresh(req.reference).status == Status.AWAITING_REQUESTER
    html = client.get(f"/backoffice/requests/{req.reference}").get_data(as_text=True)
    r = client.post(f"/backoffice/requests/{req.reference}/actions/resume",
                    data={"answer": "Le compte pro", "version": _version(html, "resume")})
    assert r.status_code == 302 and _fresh(req.reference).status == Status.IN_PROGRESS


def test_only_dpo_and_admin_may_reopen(app, policy):
    req = make_request(policy=policy, status=Status.CLOSED)
    db.session.commit()
    agent, _ = signed_in_client(app, "agent")
    assert 'id="form-reopen"' not in agent.get(f"/backoffice/requests/{req.reference}").get_data(as_text=True)
    r = agent.post(f"/backoffice/requests/{req.reference}/actions/reopen", data={"reason": "x", "version": "1"})
    assert r.status_code in (403, 409) and _fresh(req.reference).status == Status.CLOSED
    dpo, _ = signed_in_client(app, "dpo")
    html = dpo.get(f"/backoffice/requests/{req.reference}").get_data(as_text=True)
    r = dpo.post(f"/backoffice/requests/{req.reference}/actions/reopen",
                 data={"reason": "réclamation", "version": _version(html, "reopen")})
    assert r.status_code == 302 and _fresh(req.reference).status == Status.IN_PROGRESS


def test_logging_a_letter_with_its_real_date_of_receipt(app, mailbox):
    client, _ = signed_in_client(app, "agent")
    received = date.today() - timedelta(days=6)
    form = {"channel": "post", "received_on": received.isoformat(), "type": "access", "language": "fr",
            "subject.kind": "professional", "subject.first_name": "Paul", "subject.last_name": "Lettre",
            "subject.email": "paul.lettre@example.test", "acting_for": "self", "details": "Courrier du 1er",
            "identity_in_person": "1"}
    r = client.post("/backoffice/requests/new", data=form)
    assert r.status_code == 302, r.get_data(as_text=True)[-3000:]
    reference = r.headers["Location"].rsplit("/", 1)[1]
    req = _fresh(reference)
    assert req.channel == "post" and req.status == Status.OPEN and req.clock_started_on == received
    # Without the identity checked: it waits for a document; a future date or a bad one is refused.
    form.pop("identity_in_person")
    r = client.post("/backoffice/requests/new", data=form)
    assert r.status_code == 302 and _fresh(r.headers["Location"].rsplit("/", 1)[1]).status == Status.AWAITING_IDENTITY
    r = client.post("/backoffice/requests/new", data={**form, "received_on": "demain"})
    assert r.status_code == 422 and 'id="received_on-error"' in r.get_data(as_text=True)
    r = client.post("/backoffice/requests/new", data={**form, "subject.last_name": ""})
    assert r.status_code == 422 and 'id="subject-last_name-error"' in r.get_data(as_text=True)


def test_search_keeps_names_out_of_urls(app, policy):
    req = make_request(policy=policy, status=Status.OPEN, last_name="Zébulon")
    make_request(policy=policy, status=Status.OPEN, last_name="Autre")
    db.session.commit()
    client, _ = signed_in_client(app, "auditor")
    r = client.post("/backoffice/search", data={"q": "zébu", "type": "access"})
    assert r.status_code == 302 and "zébu" not in r.headers["Location"].lower() and "z%C3%A9bu" not in r.headers["Location"]
    page = client.get(r.headers["Location"]).get_data(as_text=True)
    assert req.reference in page and "Autre" not in page
    assert client.get("/backoffice/?search=unknown-id").status_code == 422
    assert client.get("/backoffice/?status=bogus").status_code == 422
    assert client.get("/backoffice/?after=%%%").status_code == 422


def test_a_document_view_is_recorded_once_per_person_per_session(app, review_request):
    """Issue 18: reloading the request page (which shows the document) adds no new "Document viewed" line;
    another person's view, or the same person's after signing in again, is recorded."""
    reference, doc_id = review_request
    client, staff = signed_in_client(app, "agent")
    for _ in range(3):
        client.get(f"/backoffice/requests/{reference}")
        assert client.get(f"/backoffice/requests/{reference}/documents/{doc_id}").status_code == 200
    views = db.session.scalars(sa.select(Event).where(Event.action == "document_viewed")).all()
    assert [v.actor_id for v in views] == [str(staff.id)]
    page = client.get(f"/backoffice/requests/{reference}?lang=fr").get_data(as_text=True)
    assert page.count("Document consulté") == 1
    other, other_staff = signed_in_client(app, "dpo")
    other.get(f"/backoffice/requests/{reference}/documents/{doc_id}")
    other.get(f"/backoffice/requests/{reference}/documents/{doc_id}")
    views = db.session.scalars(sa.select(Event).where(Event.action == "document_viewed")).all()
    assert [v.actor_id for v in views] == [str(staff.id), str(other_staff.id)]
