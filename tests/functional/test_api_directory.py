"""Directory sync through the API: bulk, idempotent upserts of professionals and patient↔professional links."""
from __future__ import annotations

import sqlalchemy as sa

from api_support import bearer, make_key
from dsar.extensions import db
from dsar.models import CareLink, Professional

PROS = [
    {"external_id": "pro-1", "first_name": "Alice", "last_name": "Martin", "email": "Alice.Martin@Example.test",
     "rpps": "10001045367"},
    {"external_id": "pro-2", "first_name": "Paul", "last_name": "Bernard", "email": "paul@example.test", "language": "en"},
]


def sync_pros(client, secret, rows, **headers):
    return client.post("/api/v1/directory/professionals", json={"professionals": rows}, headers=bearer(secret, **headers))


def sync_links(client, secret, rows, **headers):
    return client.post("/api/v1/directory/care-links", json={"links": rows}, headers=bearer(secret, **headers))


def test_professionals_are_upserted_idempotently(client, app):
    _, secret = make_key("directory")
    first = sync_pros(client, secret, PROS)
    assert first.status_code == 200, first.get_json()
    assert first.get_json() | {"rejected": None} == {"kind": "professionals", "created": 2, "updated": 0, "unchanged": 0,
                                                    "accepted": 2, "withdrawn_tasks": 0, "rejected": None}
    again = sync_pros(client, secret, PROS).get_json()
    assert (again["created"], again["updated"], again["unchanged"]) == (0, 0, 2)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Professional)) == 2
    pro = db.session.scalar(sa.select(Professional).where(Professional.external_id == "pro-1"))
    assert pro.email == "alice.martin@example.test" and pro.rpps == "10001045367"


def test_a_field_left_out_keeps_its_value(client, app):
    _, secret = make_key("directory")
    sync_pros(client, secret, PROS)
    res = sync_pros(client, secret, [{"external_id": "pro-2", "active": False}]).get_json()
    assert res["updated"] == 1
    pro = db.session.scalar(sa.select(Professional).where(Professional.external_id == "pro-2"))
    db.session.refresh(pro)
    assert pro.active is False and pro.email == "paul@example.test" and pro.language == "en"


def test_a_row_breaking_a_rule_is_reported_and_the_others_applied(client, app):
    _, secret = make_key("directory")
    rows = PROS + [{"external_id": "pro-3", "first_name": "Eve", "last_name": "Roux", "email": "eve@example.test",
                    "rpps": "10001045368"}]   # 11 digits, but the Luhn key is wrong
    res = sync_pros(client, secret, rows, **{"Accept-Language": "en"})
    assert res.status_code == 200
    report = res.get_json()
    assert report["created"] == 2 and len(report["rejected"]) == 1
    rejected = report["rejected"][0]
    assert (rejected["index"], rejected["key"], rejected["field"], rejected["code"]) == (2, "pro-3", "rpps", "bad_rpps")
    assert "Luhn" in rejected["message"]
    assert db.session.scalar(sa.select(Professional.id).where(Professional.external_id == "pro-3")) is None


def test_a_malformed_body_is_refused_whole(client, app):
    _, secret = make_key("directory")
    rows = [dict(PROS[0]), dict(PROS[1], diagnosis="asthma")]     # no health data can slip in
    res = sync_pros(client, secret, rows)
    assert res.status_code == 422
    assert res.get_json()["fields"] == {"professionals.1.diagnosis": ["Champ inconnu."]}
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Professional)) == 0
    assert sync_pros(client, secret, []).status_code == 422       # at least one row
    too_many = [dict(PROS[0], external_id=f"p{i}") for i in range(1001)]
    assert sync_pros(client, secret, too_many).status_code == 422


def test_care_links_are_upserted_and_ended(client, app):
    _, secret = make_key("directory")
    sync_pros(client, secret, PROS)
    links = [
        {"professional_external_id": "pro-1", "patient_ref": "pat-1", "patient_email": "pat1@example.test"},
        {"professional_external_id": "pro-2", "patient_ref": "pat-1", "patient_email": "pat1@example.test"},
        {"professional_external_id": "pro-1", "patient_ref": "pat-2", "patient_phone": "06 12 34 56 78",
         "patient_birth_date": "1975-02-11"},
    ]
    res = sync_links(client, secret, links)
    assert res.status_code == 200, res.get_json()
    assert res.get_json()["created"] == 3 and res.get_json()["rejected"] == []
    assert sync_links(client, secret, links).get_json()["unchanged"] == 3
    ended = sync_links(client, secret, [{"professional_external_id": "pro-2", "patient_ref": "pat-1", "active": False,
                                         "ended_on": "2026-01-31"}]).get_json()
    assert ended["updated"] == 1
    link = db.session.scalar(sa.select(CareLink).join(Professional).where(Professional.external_id == "pro-2"))
    db.session.refresh(link)
    assert link.active is False and link.ended_on.isoformat() == "2026-01-31"
    unknown = sync_links(client, secret, [{"professional_external_id": "nobody", "patient_ref": "pat-9",
                                           "patient_email": "pat9@example.test"}]).get_json()
    assert unknown["created"] == 0 and len(unknown["rejected"]) == 1


def test_a_title_is_taken_and_greets_the_professional(client, app):
    """Issue 18: "Bonjour Docteur Martin," — the directory says how a letter greets a professional."""
    _, secret = make_key("directory")
    rows = [dict(PROS[0], title="Docteur"), PROS[1]]
    assert sync_pros(client, secret, rows).status_code == 200
    alice = db.session.scalar(sa.select(Professional).where(Professional.external_id == "pro-1"))
    paul = db.session.scalar(sa.select(Professional).where(Professional.external_id == "pro-2"))
    assert alice.title == "Docteur" and alice.greeting_name == "Docteur Martin"
    assert paul.title is None and paul.greeting_name == "Paul Bernard"
    too_long = sync_pros(client, secret, [{"external_id": "pro-2", "title": "D" * 41}])
    assert too_long.status_code in (200, 422) and paul.title is None
