"""CSP L.1111-7 and R.1111-1 through the service, the API, the back-office and the task page (issue 13 item 5).

"Dans les huit jours suivant sa demande ... à compter de la date de réception de la demande", two months
"lorsque les informations médicales datent de plus de cinq ans": the 8 days run from receipt, not from
the identity check; how old each item is, is a fact its holder (staff, the professional in charge) sets,
never the requester; a record mixing old and recent items has both dates.
Weekdays and holidays checked with the holidays package while writing.
"""
from __future__ import annotations

import io
from datetime import date, datetime, timezone

import pytest
import sqlalchemy as sa
import time_machine

from api_support import bearer, make_key
from backoffice_support import signed_in_client
from dsar.actors import Actor
from dsar.errors import PermissionDenied
from dsar.extensions import db
from dsar.models import DataRequest, Event
from dsar.services import actions, intake, medical_record, routing
from factories import make_request, make_staff
from hostile_files import valid_pdf
from routing_support import care_link, patient_request, professional, task_of, task_path

PATIENT = {"kind": "patient", "first_name": "Camille", "last_name": "Fontaine", "email": "camille@example.test",
           "birth_date": "1984-02-29"}


def fresh(req_id) -> DataRequest:
    db.session.expire_all()
    return db.session.get(DataRequest, req_id)


def test_received_on_2_march_accepted_on_6_march_is_due_on_10_march(app, policy):
    # The dates: received Monday 2 March 2026, identity accepted Friday 6 March (the document
    # arrived that day, so the GDPR clock starts then) → the medical record is due Tuesday 10 March.
    staff = Actor.for_staff(make_staff("agent"))
    with time_machine.travel(datetime(2026, 3, 2, 9, tzinfo=timezone.utc), tick=False):
        req = intake.submit_request(type="access", subject=PATIENT, requester=None, channel="post", actor=staff,
                                    received_at=datetime(2026, 3, 2, 9, tzinfo=timezone.utc), medical_record=True)
        db.session.commit()
    with time_machine.travel(datetime(2026, 3, 6, 10, tzinfo=timezone.utc), tick=False):
        intake.add_identity_document(req, "identity", io.BytesIO(valid_pdf()), "id.pdf", "application/pdf",
                                     Actor.for_requester(req))
        actions.verify_identity(req, staff)
        db.session.commit()
    req = fresh(req.id)
    assert req.clock_started_on == date(2026, 3, 6)
    assert req.due_date == date(2026, 3, 10)                 # CSP: 2 March + 8 days
    assert req.one_month_due_date == date(2026, 4, 7)        # GDPR: 6 April is Easter Monday → 7 April
    assert req.medical_record_old_due_date is None           # nothing established as old yet: 8 days bind

    # Staff establish the items: a recent one (8 days), then an old one → both dates; the 8 days still bind.
    actions.set_medical_record_item(req, staff, label="Ordonnances 2025", older_than_5_years=False)
    assert (req.due_date, req.medical_record_old_due_date) == (date(2026, 3, 10), None)
    actions.set_medical_record_item(req, staff, label="Comptes rendus 2012-2015", older_than_5_years=True)
    assert req.medical_record_old_due_date == date(2026, 5, 4)  # 2 May is a Saturday → Monday 4 May
    assert req.due_date == date(2026, 3, 10)
    # Only old items: the two months from receipt bind, and the GDPR month (7 April) is earlier.
    recent = next(i for i in req.medical_record_items if not i.older_than_5_years)
    medical_record.set_item(req, staff, label=recent.label, older_than_5_years=True, item_id=recent.id)
    assert req.medical_info_older_than_5_years and req.due_date == date(2026, 4, 7)
    db.session.commit()
    events = db.session.scalars(sa.select(Event).where(Event.request_id == req.id,
                                                       Event.action == "medical_record_item_set")).all()
    assert len(events) == 3 and "Comptes rendus" not in str([e.details for e in events])  # no label in the trail


def test_the_requester_cannot_say_how_old_the_information_is(app, policy):
    req = patient_request(policy, email="p@example.test", medical_record=True)
    with pytest.raises(PermissionDenied):
        medical_record.set_item(req, Actor.for_requester(req), label="Tout", older_than_5_years=True)
    assert req.medical_record_items == [] and not req.medical_info_older_than_5_years


def test_staff_set_an_item_through_the_api_and_bad_input_is_a_4xx(client, app, policy):
    _, secret = make_key("staff")
    req = patient_request(policy, email="p@example.test", medical_record=True,
                          received_at=datetime(2026, 3, 2, 9, tzinfo=timezone.utc))
    not_medical = make_request(policy=policy, status="open")
    db.session.commit()
    url = f"/api/v1/requests/{req.reference}/actions"
    res = client.post(url, json={"action": "medical_record_item", "label": "Radiographies 2010",
                                 "older_than_5_years": True}, headers=bearer(secret))
    assert res.status_code == 200, res.get_json()
    got = res.get_json()
    # Received Monday 2 March 2026: 8 days → Tuesday 10 March; 2 months → 2 May (Saturday) → Monday 4 May.
    assert got["medical_record_old_due_date"] == "2026-05-04"
    empty = client.post(url, json={"action": "medical_record_item", "label": "  "}, headers=bearer(secret))
    assert empty.status_code == 422
    other = client.post(f"/api/v1/requests/{not_medical.reference}/actions",
                        json={"action": "medical_record_item", "label": "X", "older_than_5_years": False},
                        headers=bearer(secret))
    assert other.status_code == 422
    assert len(fresh(req.id).medical_record_items) == 1


def test_staff_set_an_item_in_the_back_office(app, policy):
    client, _ = signed_in_client(app, "agent")
    req = patient_request(policy, email="p@example.test", medical_record=True,
                          received_at=datetime(2026, 3, 2, 9, tzinfo=timezone.utc))
    db.session.commit()
    page = client.get(f"/backoffice/requests/{req.reference}").get_data(as_text=True)
    assert 'id="form-medical_item"' in page
    res = client.post(f"/backoffice/requests/{req.reference}/actions/medical_item",
                      data={"version": str(req.version), "label": "Bilans 2014", "older_than_5_years": "1"})
    assert res.status_code in (302, 303), res.get_data(as_text=True)[:500]
    page = client.get(f"/backoffice/requests/{req.reference}").get_data(as_text=True)
    assert 'id="medical-old-due-date">2026-05-04' in page and "Bilans 2014" in page


def test_the_professional_in_charge_sets_an_item_from_the_task_page(client, app, policy):
    pro = professional(first_name="Hélène", last_name="Garnier", email="dr.garnier@example.test")
    care_link(pro, email="camille@example.test")
    req = patient_request(policy, email="camille@example.test", medical_record=True,
                          received_at=datetime(2026, 3, 2, 9, tzinfo=timezone.utc))
    assert routing.auto_route(req, Actor.system()) == "routed_to_professional"
    db.session.commit()
    task = task_of(req)
    page = client.get(task_path(task)).get_data(as_text=True)
    assert "De quand datent les informations ?" in page
    res = client.post(task_path(task, "medical-item"), data={"label": "Courriers 2011", "older_than_5_years": "1"})
    assert res.status_code == 303
    req = fresh(req.id)
    assert [(i.label, i.older_than_5_years) for i in req.medical_record_items] == [("Courriers 2011", True)]
    assert req.medical_record_items[0].set_by.startswith("professional") or "Garnier" in req.medical_record_items[0].set_by
    assert req.medical_record_old_due_date == date(2026, 5, 4)
    bad = client.post(task_path(task, "medical-item"), data={"label": "", "older_than_5_years": "1"})
    assert bad.status_code == 422 and len(fresh(req.id).medical_record_items) == 1
