"""The art. 21(3) suppression list: an answered objection to direct marketing lists the subject's hashed email
and phone, and the marketing tools read it through the API (``suppression`` scope) and the CSV export."""
from __future__ import annotations

import csv
import io

import sqlalchemy as sa

from api_support import bearer, make_key
from backoffice_support import signed_in_client
from dsar.extensions import db
from dsar.models import Event, SuppressionEntry
from dsar.protected import keyed_hash, normalise_phone
from dsar.services import actions, suppression
from fulfilment_support import new_request, staff_actor


def _objection(policy, *, email="Marie.Curie@Example.test", phone="06 12 34 56 78", activities=("client_file",)):
    req = new_request(policy, type="objection", subject_kind="prospect", activities=list(activities), email=email.lower())
    req.subject.phone = phone
    db.session.flush()
    return req


def test_an_answered_objection_to_prospecting_lists_the_hashed_email_and_phone_once(app, policy):
    """GDPR art. 21(3) and policy art. 8.1: no reason needed; once answered, never prospected again."""
    _, actor = staff_actor()
    req = _objection(policy)
    actions.answer(req, actor, outcome="granted", message="Vous ne recevrez plus de prospection.")
    db.session.commit()
    entries = db.session.scalars(sa.select(SuppressionEntry).order_by(SuppressionEntry.kind)).all()
    assert [(e.kind, e.value_hash) for e in entries] == [
        ("email", keyed_hash("marie.curie@example.test")), ("phone", keyed_hash("+33612345678"))]
    assert all(e.request_id == req.id for e in entries)
    # The normalised forms match what a marketing tool holds, whatever the spelling.
    assert suppression.is_suppressed(email="  MARIE.CURIE@example.test ")
    assert suppression.is_suppressed(phone="+33 6 12 34 56 78") and normalise_phone("0033612345678") == "+33612345678"
    assert not suppression.is_suppressed(email="someone.else@example.test")
    # No value in the database or the audit trail: hashes and kinds only.
    [ev] = db.session.scalars(sa.select(Event).filter_by(action="suppression_listed")).all()
    assert "curie" not in str(ev.details).lower() and ev.details["kinds"] == ["email", "phone"]
    # A second objection from the same person adds nothing.
    again = _objection(policy)
    actions.answer(again, actor, outcome="granted", message="Déjà fait.")
    db.session.commit()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(SuppressionEntry)) == 2


def test_an_objection_to_an_activity_without_prospecting_lists_nobody(app, policy):
    """Only an objection reaching a ``direct_marketing`` sub-purpose is absolute (art. 21(2)); the others are balanced."""
    _, actor = staff_actor()
    req = new_request(policy, type="objection", subject_kind="patient", activities=["application"])
    actions.answer(req, actor, outcome="granted", message="Accordé.")
    db.session.commit()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(SuppressionEntry)) == 0


def test_the_api_pages_the_hashes_and_refuses_keys_without_the_scope(app, policy):
    _, actor = staff_actor()
    for i in range(3):
        actions.answer(_objection(policy, email=f"p{i}@example.test", phone=None), actor, outcome="granted", message="Ok.")
    db.session.commit()
    _, secret = make_key("suppression", name="marketing tool")
    client = app.test_client()
    r = client.get("/api/v1/suppression?limit=2", headers=bearer(secret))
    assert r.status_code == 200, r.get_json()
    first = r.get_json()
    assert [e["hash"] for e in first["entries"]] == [keyed_hash("p0@example.test"), keyed_hash("p1@example.test")]
    assert first["next_after"] == first["entries"][-1]["id"]
    assert set(first["entries"][0]) == {"id", "kind", "hash", "added_at"}
    r = client.get(f"/api/v1/suppression?limit=2&after={first['next_after']}", headers=bearer(secret))
    second = r.get_json()
    assert [e["hash"] for e in second["entries"]] == [keyed_hash("p2@example.test")] and second["next_after"] is None
    assert "p0@example.test" not in r.get_data(as_text=True)
    # A bad cursor is a 422 naming the field; a key for other purposes is a 403.
    bad = client.get("/api/v1/suppression?after=-1", headers=bearer(secret))
    assert bad.status_code == 422 and "after" in bad.get_data(as_text=True)
    _, reader = make_key("read")
    assert client.get("/api/v1/suppression", headers=bearer(reader)).status_code == 403


def test_the_back_office_exports_the_list_as_csv(app, policy):
    _, actor = staff_actor()
    actions.answer(_objection(policy), actor, outcome="granted", message="Ok.")
    db.session.commit()
    client, _ = signed_in_client(app, "dpo")
    page = client.get("/backoffice/register")
    assert "suppression-download" in page.get_data(as_text=True)
    r = client.get("/backoffice/suppression.csv")
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(r.get_data(as_text=True))))
    assert rows[0] == ["kind", "hmac_sha256", "added_at"]
    assert ["email", keyed_hash("marie.curie@example.test")] == rows[1][:2]
    assert "marie" not in r.get_data(as_text=True)
    # An agent handles requests but does not hand lists to marketing.
    agent, _ = signed_in_client(app, "agent")
    assert agent.get("/backoffice/suppression.csv").status_code == 403
