"""Art. 8.2, sealed: staff see counts and categories of shared health content, never the content; the professional
in charge previews it, withholds an item with a reason (GDPR art. 15(4)) and releases it; only then does the
patient get the pack, without the withheld item; the art. 15 letter lists the categories actually found (issue 16)."""
from __future__ import annotations

import hashlib
import html as html_lib
import json
import re

import pytest

from dsar.actors import Actor
from dsar.extensions import db
from dsar.models import CollectionPack
from dsar.models.systems import PackStatus
from dsar.services import actions, checklist, routing
from dsar.tokens import status_token
from tests.appdb import appdb  # noqa: F401 - the fixture
from tests.backoffice_support import signed_in_client
from tests.collection_support import events, open_request, pack_doc, read_pack, run_jobs_of, systems_app
from tests.factories import make_professional
from tests.fulfilment_support import pdf_text

LINK = re.compile(r"http://localhost(/download/[A-Za-z0-9_.\-]+)")


@pytest.fixture
def sapp(make_app, appdb):
    app = systems_app(make_app)
    with app.app_context():
        yield app


def _drain(app):
    for _ in range(6):
        if not run_jobs_of(app):
            break


def _routed_patient_request(sapp):
    req = open_request(sapp.extensions["dsar_policy"], email="alice@app.test")
    pro = make_professional(email="dr.martin@example.test", first_name="Jeanne", last_name="Martin")
    routing.route_to_professional(req, Actor.system(), pro)
    db.session.commit()
    _drain(sapp)
    return req, routing.task_token(routing.live_task(req))


def test_staff_see_counts_the_professional_withholds_and_releases_the_patient_gets_the_rest(sapp, appdb, mailbox):
    req, token = _routed_patient_request(sapp)
    pack = db.session.query(CollectionPack).filter_by(request_id=req.id).one()
    assert pack.status == PackStatus.WAITING_REVIEW

    # The DPO: counts and categories, no content.
    client, _ = signed_in_client(sapp, "dpo")
    page = html_lib.unescape(client.get(f"/backoffice/requests/{req.reference}").get_data(as_text=True))
    assert "messages: 5 lignes" in page and "scellé : contenu de santé partagé, décomptes seulement" in page
    assert "alice→martin" not in page and "alice-bilan.pdf" not in page
    # Nor can staff answer before the professional has released it.
    from dsar.errors import IllegalTransition, InvalidInput

    with pytest.raises((InvalidInput, IllegalTransition)):  # the pack is not built: the gathering step is open
        actions.answer(req, Actor.for_staff(_), outcome="granted", message="Voici.")
    db.session.rollback()

    # The professional: the task page points to the review; the review shows the content.
    pro = sapp.test_client()
    assert 'id="review-collected"' in pro.get(f"/task/{token}").get_data(as_text=True)
    review = html_lib.unescape(pro.get(f"/systems/review/{token}").get_data(as_text=True))
    assert "alice→martin 1" in review and "martin→alice 1" in review
    msg = next(m for m in appdb.rows("messages") if m["body"] == "martin→alice 1")
    assert pro.post(f"/systems/review/{token}/withhold", data={
        "system": "application", "table": "messages", "key": json.dumps([msg["id"]]), "reason": ""}).status_code == 422
    r = pro.post(f"/systems/review/{token}/withhold", data={
        "system": "application", "table": "messages", "key": json.dumps([msg["id"]]),
        "reason": "Contient des données d'un tiers (RGPD art. 15(4))"})
    assert r.status_code == 302
    assert pack_doc(req) is None
    assert pro.post(f"/systems/review/{token}/release").status_code == 302
    _drain(sapp)
    zf = read_pack(sapp, pack_doc(req))
    bodies = [m["body"] for m in json.loads(zf.read("data/conversations/application-messages.json"))]
    assert "martin→alice 1" not in bodies and "alice→martin 1" in bodies and len(bodies) == 4
    # Staff cannot open the pack itself from the back-office either.
    assert client.get(f"/backoffice/requests/{req.reference}/documents/{pack_doc(req).id}").status_code == 403
    assert "martin→alice 1" not in zf.read("data/conversations/application-messages.csv").decode()
    assert "tiers" in zf.read("summary.txt").decode()
    assert [e.actor_type for e in events(req, "sealed_content_released")] == ["professional"]
    assert events(req, "sealed_item_withheld")[0].details["table"] == "messages"

    # Staff answer; the letter lists the categories found; the patient downloads the pack.
    staff_actor = Actor.for_staff(_)
    db.session.refresh(req)
    # The collection ticked its own step; staff tick the third-party check for what they reviewed (art. 15(4)).
    assert all(s.done_at is not None for s in req.steps if s.step_key == "gather_data")
    for step in [s for s in req.steps if s.done_at is None]:
        checklist.complete_step(req, staff_actor, step.id, note="Vérifié")
    actions.answer(req, staff_actor, outcome="granted", message="Voici vos données.")
    db.session.commit()
    _drain(sapp)
    mail = next(m for m in mailbox.wait_for(2) if m["To"] == req.requester.email and "/download/" in mailbox.text(m))
    path = LINK.search(mailbox.text(mail)).group(1)
    patient = sapp.test_client()
    patient.post(path, data={"status_link": f"http://localhost/status/{status_token(req)}"})
    db.session.refresh(req)
    link = req.download_links[0]
    letter_entry, pack_entry = link.files
    assert pack_entry["document_id"] == pack_doc(req).id
    got = patient.get(f"{path}/{pack_entry['document_id']}")
    assert got.status_code == 200 and hashlib.sha256(got.data).hexdigest() == pack_entry["sha256"]
    letter = pdf_text(patient.get(f"{path}/{letter_entry['document_id']}").data)
    policy = sapp.extensions["dsar_policy"]
    names = {c.key: c.name["fr"] for c in policy.data_categories if c.activity == "application"}
    flat = " ".join(letter.split())
    assert names["conversations"] in flat and names["device_data"] in flat
    # Categories the policy names but nothing was found for are not listed (GDPR art. 15(1)(b)).
    assert names["patient_record_never_logged_in"] not in flat and names["usage_statistics"] in flat
    assert names["registration_proof"] not in flat


def test_a_professional_request_needs_no_review(sapp, appdb):
    req = open_request(sapp.extensions["dsar_policy"], email="dr.durand@app.test", subject_kind="professional")
    _drain(sapp)
    pack = db.session.query(CollectionPack).filter_by(request_id=req.id).one()
    assert pack.status == PackStatus.READY and pack.sealed_rows == 0


def test_a_large_pack_is_streamed_to_the_requester_with_its_hash(sapp, appdb, mailbox, monkeypatch):
    """No pack size limit: above the threshold the download streams from the encrypted store (issue 16)."""
    from dsar.models import Staff
    from dsar.services.fulfilment import delivery
    from tests.factories import make_staff

    monkeypatch.setattr(delivery, "STREAM_DOWNLOAD_BYTES", 0)
    req = open_request(sapp.extensions["dsar_policy"], email="dr.durand@app.test", subject_kind="professional")
    _drain(sapp)
    staff = make_staff("dpo")
    db.session.commit()
    db.session.refresh(req)
    for step in [s for s in req.steps if s.done_at is None]:   # the third-party check (art. 15(4)) is staff's
        checklist.complete_step(req, Actor.for_staff(staff), step.id, note="Vérifié")
    actions.answer(req, Actor.for_staff(staff), outcome="granted", message="Voici vos données.")
    token = status_token(req)
    db.session.commit()
    _drain(sapp)
    mail = next(m for m in mailbox.wait_for(1) if m["To"] == req.requester.email and "/download/" in mailbox.text(m))
    path = LINK.search(mailbox.text(mail)).group(1)
    client = sapp.test_client()
    client.post(path, data={"status_link": f"http://localhost/status/{token}"})
    pack = pack_doc(req)
    got = client.get(f"{path}/{pack.id}")
    assert got.status_code == 200 and int(got.headers["Content-Length"]) == pack.size
    assert hashlib.sha256(got.data).hexdigest() == pack.sha256
    assert events(req, "answer_downloaded")[-1].details["streamed"] is True
