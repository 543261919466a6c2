"""Identity by any means, a document only on reasonable doubt (issue 13 item 2).

French law lets identity be proven by any means and allows asking for a copy of an identity document only on
reasonable doubt (GDPR art. 12(6); décret n° 2019-536 art. 77; CNIL). Policy ``identity.document_required:
on_reasonable_doubt``: the confirmed email plus details matching what the controller holds (care links,
directory) verify the identity; otherwise staff accept by other means or record a doubt and why, and only then
is a document asked for. IDOMED's own rule (policy art. 8.1) is kept, and shown to the DPO as a warning.
"""
from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml

from api_support import bearer, make_key
from backoffice_support import signed_in_client
from dsar.deadlines import legal_day
from dsar.extensions import db
from dsar.models import DataRequest, Event, OutboxMessage, utcnow
from dsar.models.enums import Status
from dsar.policy import load_policy
from dsar.services import intake
from public_support import web_request
from routing_support import care_link, professional

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def doubt_app(make_app, letter_ready_policy, tmp_path):
    doc = yaml.safe_load(Path(letter_ready_policy).read_text(encoding="utf-8"))
    doc["identity"]["document_required"] = "on_reasonable_doubt"
    path = tmp_path / "doubt.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")
    app = make_app(DSAR_POLICY=str(path))
    with app.app_context():
        yield app


def fresh(reference) -> DataRequest:
    db.session.expire_all()
    return db.session.scalar(sa.select(DataRequest).where(DataRequest.reference == reference))


def patient(email="camille@example.test", **kw):
    return {"kind": "patient", "first_name": "Camille", "last_name": "Fontaine", "email": email,
            "birth_date": "1984-02-29", **kw}


def test_the_policy_as_written_demands_a_document_and_the_dpo_is_warned():
    """Policy art. 8.1 kept as written; a systematic demand is a configuration warning (GDPR art. 12(6))."""
    idomed = load_policy(ROOT / "workflows" / "idomed.yaml")
    assert idomed.identity.document_required == "unless_authenticated"
    assert "identity.document_required" in idomed.configuration_gaps()
    assert idomed.identity.document_needed(authenticated=False) is True


def test_a_patient_whose_details_match_a_care_link_is_verified_without_a_document(doubt_app):
    policy = doubt_app.extensions["dsar_policy"]
    assert "identity.document_required" not in policy.configuration_gaps()
    pro = professional(first_name="Hélène", last_name="Garnier", email="dr.garnier@example.test")
    care_link(pro, email="camille@example.test", birth_date=date(1984, 2, 29))
    req, _ = web_request(type="access", subject=patient(), email="camille@example.test")
    req = fresh(req.reference)
    assert req.status in (Status.OPEN, Status.IN_PROGRESS)          # routed to the professional in charge
    assert req.identity_method == "records_match" and req.identity_verified_by == "identity"
    assert req.clock_started_on == legal_day(req.email_confirmed_at)  # deadline rule 1: complete on confirmation
    assert intake.required_document_kinds(req) == [] and not [d for d in req.documents if d.kind == "identity"]
    assert [s.step_key for s in req.steps]                            # opened: its checklist is on it
    event = db.session.scalars(sa.select(Event).where(Event.request_id == req.id, Event.action == "accept_identity")).one()
    assert event.details["method"] == "records_match"


def test_no_match_waits_for_staff_and_a_document_only_after_a_recorded_doubt(doubt_app):
    req, _ = web_request(type="access", subject=patient(email="inconnu@example.test"), email="inconnu@example.test")
    req = fresh(req.reference)
    assert req.status == Status.AWAITING_IDENTITY and req.identity_method is None
    assert intake.required_document_kinds(req) == [] and intake.missing_documents(req) == []   # no copy asked
    _, secret = make_key("staff")
    res = doubt_app.test_client().post(
        f"/api/v1/requests/{req.reference}/actions", headers=bearer(secret),
        json={"action": "record_identity_doubt", "reason": "  "})
    assert res.status_code == 422 and res.get_json()["fields"]                    # a doubt needs its reason
    res = doubt_app.test_client().post(f"/api/v1/requests/{req.reference}/actions", headers=bearer(secret), json={
        "action": "record_identity_doubt", "reason": "Aucun patient à ce nom et à cette adresse dans l'application."})
    assert res.status_code == 200, res.get_json()
    req = fresh(req.reference)
    assert req.identity_doubt.startswith("Aucun patient") and req.identity_doubt_at is not None
    assert intake.required_document_kinds(req) == ["identity"] and intake.missing_documents(req) == ["identity"]
    mail = db.session.scalars(sa.select(OutboxMessage).where(OutboxMessage.template == "identity_document_requested")).one()
    assert mail.recipient == "inconnu@example.test"
    recorded = db.session.scalars(sa.select(Event).where(Event.action == "identity_doubt_recorded")).one()
    assert recorded.details["reason"].startswith("Aucun patient") and recorded.actor_type == "api"


def test_staff_accept_by_other_means_or_record_the_doubt_in_the_back_office(doubt_app):
    req, _ = web_request(type="access", subject=patient(email="autre@example.test"), email="autre@example.test")
    client, _ = signed_in_client(doubt_app, "dpo")
    page = client.get(f"/backoffice/requests/{req.reference}").get_data(as_text=True)
    assert 'id="identity-doubt"' in page and 'value="records_match"' in page
    import re

    version = re.search(r'id="form-record_doubt".*?name="version" value="(\d+)"', page, re.S).group(1)
    res = client.post(f"/backoffice/requests/{req.reference}/actions/record_doubt",
                      data={"reason": "La date de naissance ne correspond pas.", "version": version})
    assert res.status_code == 302
    page = client.get(f"/backoffice/requests/{req.reference}").get_data(as_text=True)
    assert "La date de naissance ne correspond pas." in page and 'id="form-record_doubt"' not in page


def test_a_doubt_cannot_be_recorded_under_a_policy_that_asks_for_a_document_anyway(client, app, policy):
    req, _ = web_request(type="access")
    _, secret = make_key("staff")
    res = client.post(f"/api/v1/requests/{req.reference}/actions", headers=bearer(secret),
                      json={"action": "record_identity_doubt", "reason": "Doute"})
    assert res.status_code == 409 and res.get_json()["error"] == "not_doubt_mode"
    assert intake.required_document_kinds(fresh(req.reference)) == ["identity"]   # policy art. 8.1, as written
