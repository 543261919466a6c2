"""The DPO's queue (issue 18): search by first name and by a partial reference, an exact reference opens the
request, and several requests are assigned at once (or taken with "assign to me"), all or nothing."""
from __future__ import annotations

import html as html_lib
import re

import sqlalchemy as sa

from dsar.extensions import db
from dsar.models import DataRequest, Event
from dsar.models.enums import Status
from backoffice_support import signed_in_client
from factories import make_request, make_staff


def _search(client, q):
    r = client.post("/backoffice/search", data={"q": q})
    assert r.status_code in (302, 303)
    return r


def _listed(client, r) -> set[str]:
    page = client.get(r.headers["Location"]).get_data(as_text=True)
    return set(re.findall(r'data-reference="(DSAR-\d{4}-\d{6})"', page))


def test_search_by_first_name_and_partial_reference_and_exact_reference_opens(app, policy):
    bertille = make_request(policy=policy, first_name="Bertille", last_name="Martin")
    other = make_request(policy=policy, first_name="Jeanne", last_name="Bertin")
    third = make_request(policy=policy, first_name="Paul", last_name="Durand")
    db.session.commit()
    client, _ = signed_in_client(app, "agent")
    assert _listed(client, _search(client, "berti")) == {bertille.reference, other.reference}  # first or last name
    assert _listed(client, _search(client, "bertille")) == {bertille.reference}
    tail = third.reference.rsplit("-", 1)[1].lstrip("0")
    assert third.reference in _listed(client, _search(client, tail))                          # "123" finds …000123
    assert _listed(client, _search(client, third.reference[:-1])) >= {third.reference}       # the beginning
    # An exact reference opens the request itself (case and spaces do not matter).
    r = _search(client, f"  {third.reference.lower()} ")
    assert r.headers["Location"].endswith(f"/backoffice/requests/{third.reference}")
    # A reference that does not exist is a search that finds nothing, not an error.
    assert _listed(client, _search(client, "DSAR-1999-000001")) == set()


def test_bulk_assignment_and_assign_to_me_are_all_or_nothing(app, policy):
    a = make_request(policy=policy, status=Status.OPEN)
    b = make_request(policy=policy, status=Status.IN_PROGRESS)
    review = make_request(policy=policy, status=Status.IDENTITY_REVIEW)
    agent = make_staff("agent", name="Agathe Test")
    db.session.commit()
    client, dpo = signed_in_client(app, "dpo")
    page = client.get("/backoffice/").get_data(as_text=True)
    assert 'form="bulk-assign"' in page and f'value="{a.id}"' in page

    r = client.post("/backoffice/queue/assign", data={"request_id": [a.id, b.id], "assignee_id": agent.id})
    assert r.status_code == 302
    db.session.expire_all()
    assert [db.session.get(DataRequest, i).assignee_id for i in (a.id, b.id)] == [agent.id, agent.id]
    assert db.session.get(DataRequest, a.id).status == Status.IN_PROGRESS        # assigning starts the work
    assigned = db.session.scalars(sa.select(Event.request_id).where(Event.action == "assign")).all()
    assert sorted(assigned) == sorted([a.id, b.id])
    flashed = html_lib.unescape(client.get(r.headers["Location"]).get_data(as_text=True))
    assert "2 demandes attribuées." in flashed

    # A request whose status allows no assignment: nothing is assigned, and the page says which one.
    r = client.post("/backoffice/queue/assign", data={"request_id": [a.id, review.id], "to_me": "1"})
    db.session.expire_all()
    assert db.session.get(DataRequest, a.id).assignee_id == agent.id
    text = html_lib.unescape(client.get(r.headers["Location"]).get_data(as_text=True))
    assert review.reference in text and "Rien n'a été attribué." in text

    r = client.post("/backoffice/queue/assign", data={"request_id": [a.id, b.id], "to_me": "1"})
    db.session.expire_all()
    assert {db.session.get(DataRequest, i).assignee_id for i in (a.id, b.id)} == {dpo.id}

    # Bad input: nothing selected, an unknown assignee, a forged id — a message, never a 5xx.
    for data in ({"assignee_id": agent.id}, {"request_id": [a.id], "assignee_id": "x"},
                 {"request_id": ["99999999999999999999"], "assignee_id": agent.id},
                 {"request_id": [a.id], "assignee_id": 999999}):
        r = client.post("/backoffice/queue/assign", data=data)
        assert r.status_code == 302, data
    db.session.expire_all()
    assert db.session.get(DataRequest, a.id).assignee_id == dpo.id
    # Auditors read only.
    auditor, _ = signed_in_client(app, "auditor")
    assert auditor.post("/backoffice/queue/assign", data={"request_id": [a.id], "to_me": "1"}).status_code == 403


def test_a_second_open_request_of_the_same_type_from_the_same_person_is_flagged(app, policy):
    """Issue 18: flagged, never refused on that ground alone (GDPR art. 12(5))."""
    first = make_request(policy=policy, status=Status.OPEN, type="access", email="meme@example.test")
    second = make_request(policy=policy, status=Status.IDENTITY_REVIEW, type="access", email="meme@example.test")
    other_type = make_request(policy=policy, status=Status.OPEN, type="erasure", email="meme@example.test")
    closed = make_request(policy=policy, status=Status.CLOSED, type="access", email="autre@example.test")
    later = make_request(policy=policy, status=Status.OPEN, type="access", email="autre@example.test")
    db.session.commit()
    client, _ = signed_in_client(app, "agent")

    def flag(req):
        page = html_lib.unescape(client.get(f"/backoffice/requests/{req.reference}?lang=fr").get_data(as_text=True))
        found = re.search(r'<div class="notice" id="possible-duplicate".*?</div>', page, re.S)
        return found.group(0) if found else None

    assert second.reference in flag(first) and "Doublon possible." in flag(first)
    assert first.reference in flag(second)
    assert flag(other_type) is None                      # another right: not a duplicate
    assert flag(later) is None and flag(closed) is None  # the earlier one is closed: nothing open twice
