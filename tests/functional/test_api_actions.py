"""POST /api/v1/requests/{reference}/actions: every action validates its own fields (422 naming the field), and
the documented ``note`` action works (issue 12, items 7 and 10)."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from api_support import bearer, make_key
from dsar.api.action_schemas import ACTION_SCHEMAS
from dsar.extensions import db
from dsar.models import DataRequest, Event, OutboxMessage
from dsar.services.actions import ACTIONS
from factories import make_request

COMMON = {"action", "expected_version"}
REQUIRED = [(name, field) for name, schema in ACTION_SCHEMAS.items()
            for field, f in schema._declared_fields.items() if f.required and field not in COMMON]
EVERY_FIELD = [(name, field) for name, schema in ACTION_SCHEMAS.items()
               for field in schema._declared_fields if field != "action"]
# A value of the right type for each field, so that a test leaves out or spoils only one field at a time.
GOOD = {"method": "in_person", "note": "n", "reason": "r", "assignee_id": 1, "professional_id": 1,
        "professional_external_id": "p", "to_staff": True, "question": "q", "answer": "a", "outcome": "no_data",
        "message": "m", "reasons": "r", "expected_version": 1, "kind": "scope",
        "unfounded_or_excessive": "excessive", "unfounded_or_excessive_grounds": "g", "label": "l",
        "older_than_5_years": True, "item_id": 1, "step_id": 1}


def act(client, secret, reference, body):
    return client.post(f"/api/v1/requests/{reference}/actions", json=body, headers=bearer(secret))


def required_body(name: str) -> dict:
    schema = ACTION_SCHEMAS[name]
    return {"action": name, **{f: GOOD[f] for f, spec in schema._declared_fields.items()
                               if spec.required and f not in COMMON}}


@pytest.fixture
def open_request(app, policy):
    _, secret = make_key("staff")
    req = make_request(policy=policy, status="open")
    db.session.commit()
    return req, secret


def test_the_api_actions_are_the_services_actions_with_the_same_fields():
    assert set(ACTION_SCHEMAS) == set(ACTIONS)
    for name, (_, params) in ACTIONS.items():
        fields = set(ACTION_SCHEMAS[name]._declared_fields) - COMMON - {"professional_external_id"}
        assert fields == params, name


@pytest.mark.parametrize("name,field", REQUIRED, ids=[f"{n}-{f}" for n, f in REQUIRED])
def test_an_action_without_a_required_field_is_a_422_naming_it(client, open_request, name, field):
    req, secret = open_request
    body = required_body(name)
    del body[field]
    res = act(client, secret, req.reference, body)
    assert res.status_code == 422, (res.status_code, res.get_json())
    assert res.get_json()["error"] == "invalid_input" and field in res.get_json()["fields"]
    db.session.expire_all()
    assert db.session.get(DataRequest, req.id).version == req.version


@pytest.mark.parametrize("name,field", EVERY_FIELD, ids=[f"{n}-{f}" for n, f in EVERY_FIELD])
def test_an_action_field_of_the_wrong_type_is_a_422_naming_it(client, open_request, name, field):
    req, secret = open_request
    body = dict(required_body(name), **{field: ["not", "a", "scalar"]})
    res = act(client, secret, req.reference, body)
    assert res.status_code == 422, (res.status_code, res.get_json())
    assert field in res.get_json()["fields"]


@pytest.mark.parametrize("action", [None, 7, "teleport", ["extend"]])
def test_a_missing_or_unknown_action_is_a_422_naming_action(client, open_request, action):
    req, secret = open_request
    res = act(client, secret, req.reference, {"reason": "x"} if action is None else {"action": action})
    assert res.status_code == 422 and list(res.get_json()["fields"]) == ["action"], res.get_json()


def test_route_needs_exactly_one_destination(client, open_request):
    req, secret = open_request
    for body in ({"action": "route"}, {"action": "route", "professional_id": 3, "to_staff": True}):
        res = act(client, secret, req.reference, body)
        assert res.status_code == 422 and res.get_json()["fields"], res.get_json()


def test_a_staff_note_through_the_api_is_recorded_in_the_audit_trail(client, app, policy):
    """The documented ``note`` action (it always answered 403): an audit event, no status change, nothing sent."""
    key, secret = make_key("staff")
    req = make_request(policy=policy, status="closed")
    db.session.commit()
    outbox_before = db.session.scalar(sa.select(sa.func.count()).select_from(OutboxMessage))
    res = act(client, secret, req.reference, {"action": "note", "note": "  Called the requester back.  ",
                                              "expected_version": req.version})
    assert res.status_code == 200, res.get_json()
    assert res.get_json()["status"] == "closed"
    notes = db.session.scalars(sa.select(Event).where(Event.request_id == req.id, Event.action == "note")).all()
    assert len(notes) == 1
    assert notes[0].details == {"note": "Called the requester back."}
    assert notes[0].actor_type == "api" and notes[0].actor_id == str(key.id)
    assert notes[0].from_status == notes[0].to_status == "closed"
    assert db.session.scalar(sa.select(sa.func.count()).select_from(OutboxMessage)) == outbox_before


def test_a_note_needs_the_staff_scope(client, app, policy):
    _, secret = make_key("read")
    req = make_request(policy=policy, status="open")
    db.session.commit()
    assert act(client, secret, req.reference, {"action": "note", "note": "x"}).status_code == 403
