"""Refusals through the API and the back-office (issue 13 items 9 and 10).

GDPR art. 12(4): the reasons for not acting are due within one month of receipt; the refusal date is kept
and a later refusal is flagged, even after an extension (art. 12(3) never gives a refusal more time).
GDPR art. 12(5): a manifestly unfounded or excessive request may be refused, the controller bearing the
burden of demonstrating it: the decision is recorded with its grounds.
"""
from __future__ import annotations

from datetime import datetime, timezone

import time_machine

from api_support import bearer, make_key
from backoffice_support import signed_in_client
from dsar.extensions import db
from dsar.models import DataRequest
from factories import make_request


def fresh(req_id) -> DataRequest:
    db.session.expire_all()
    return db.session.get(DataRequest, req_id)


def test_an_api_refusal_after_the_one_month_date_is_dated_and_flagged(client, app, policy):
    _, secret = make_key("staff")
    # Received Thursday 5 March 2026: one month → 5 April (Sunday), Easter Monday 6 → Tuesday 7 April.
    req = make_request(policy=policy, status="open", subject_kind="professional",
                       received_at=datetime(2026, 3, 5, 10, tzinfo=timezone.utc))
    db.session.commit()
    url = f"/api/v1/requests/{req.reference}/actions"
    with time_machine.travel(datetime(2026, 3, 20, 9, tzinfo=timezone.utc), tick=False):
        assert client.post(url, json={"action": "extend", "reason": "Archives à consulter."},
                           headers=bearer(secret)).status_code == 200
    with time_machine.travel(datetime(2026, 4, 8, 9, tzinfo=timezone.utc), tick=False):
        res = client.post(url, json={"action": "refuse", "reasons": "Données d'un tiers."}, headers=bearer(secret))
    assert res.status_code == 200, res.get_json()
    got = res.get_json()
    assert got["refusal_late"] is True and got["refused_at"].startswith("2026-04-08")
    assert got["extended_due_date"] == "2026-06-05"      # extended, and still late for a refusal
    assert got["unfounded_or_excessive"] is None


def test_an_api_art_12_5_refusal_needs_its_grounds(client, app, policy):
    _, secret = make_key("staff")
    req = make_request(policy=policy, status="open", subject_kind="professional")
    db.session.commit()
    url = f"/api/v1/requests/{req.reference}/actions"
    missing = client.post(url, json={"action": "refuse", "reasons": "Répétée.", "unfounded_or_excessive": "excessive"},
                          headers=bearer(secret))
    assert missing.status_code == 422 and "unfounded_or_excessive_grounds" in missing.get_json()["fields"]
    assert fresh(req.id).status == "open"
    wrong = client.post(url, json={"action": "refuse", "reasons": "R.", "unfounded_or_excessive": "annoying",
                                   "unfounded_or_excessive_grounds": "x"}, headers=bearer(secret))
    assert wrong.status_code == 422
    ok = client.post(url, json={"action": "refuse", "reasons": "Répétée.", "unfounded_or_excessive": "excessive",
                                "unfounded_or_excessive_grounds": "Douze demandes identiques en un mois."},
                     headers=bearer(secret))
    assert ok.status_code == 200 and ok.get_json()["unfounded_or_excessive"] == "excessive"
    req = fresh(req.id)
    assert req.unfounded_or_excessive_grounds == "Douze demandes identiques en un mois."


def test_the_back_office_shows_a_late_refusal_and_records_an_art_12_5_decision(app, policy):
    from datetime import timedelta

    from dsar.models import utcnow

    client, staff = signed_in_client(app, "dpo")
    # Received 45 days ago: the one-month date of GDPR art. 12(4) has passed (whatever the weekends).
    req = make_request(policy=policy, status="open", subject_kind="professional",
                       received_at=utcnow() - timedelta(days=45))
    db.session.commit()
    path = f"/backoffice/requests/{req.reference}"
    page = client.get(path).get_data(as_text=True)
    assert 'id="refusal-late-warning"' in page and req.one_month_due_date.isoformat() in page
    res = client.post(f"{path}/actions/refuse", data={
        "version": str(req.version), "reasons": "Demande répétée.", "unfounded_or_excessive": "manifestly_unfounded",
        "unfounded_or_excessive_grounds": "La personne n'a jamais été cliente ni prospecte."})
    assert res.status_code in (302, 303), res.get_data(as_text=True)[:300]
    page = client.get(path).get_data(as_text=True)
    assert 'id="refused-on"' in page and 'id="refusal-late"' in page
    assert 'id="unfounded-or-excessive"' in page and "jamais été cliente" in page
    req = fresh(req.id)
    assert req.refusal_late and req.unfounded_or_excessive == "manifestly_unfounded"
    assert staff.name in req.unfounded_or_excessive_by


def test_a_refusal_within_the_month_is_not_flagged_in_the_back_office(app, policy):
    client, _ = signed_in_client(app, "dpo")
    req = make_request(policy=policy, status="open", subject_kind="professional")  # received 5 March 2026
    db.session.commit()
    path = f"/backoffice/requests/{req.reference}"
    with time_machine.travel(datetime(2026, 3, 20, 9, tzinfo=timezone.utc), tick=False):
        from dsar.actors import Actor
        from dsar.services import actions
        from factories import make_staff

        actions.refuse(fresh(req.id), Actor.for_staff(make_staff("agent")), reasons="Données d'un tiers.")
        db.session.commit()
    page = client.get(path).get_data(as_text=True)
    assert 'id="refused-on"' in page and 'id="refusal-late"' not in page
