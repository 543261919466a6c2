"""POST/GET /api/v1/requests and the actions: the application's submissions and staff automation."""
from __future__ import annotations

from datetime import date

import sqlalchemy as sa

from api_support import account_request_body, bearer, make_key
from dsar.deadlines import legal_day
from dsar.extensions import db
from dsar.models import DataRequest, Event, OutboxMessage, utcnow
from dsar.models.webhooks import ApiSubmission
from factories import make_professional, make_request, make_staff


def events_of(reference: str) -> list[Event]:
    req = db.session.scalar(sa.select(DataRequest).where(DataRequest.reference == reference))
    return db.session.scalars(sa.select(Event).where(Event.request_id == req.id).order_by(Event.seq)).all()


# --- submitting --------------------------------------------------------------------------------------------


def test_a_request_from_a_signed_in_account_is_complete_on_receipt(client, app, mailbox, run_jobs):
    key, secret = make_key("submit", "read")
    res = client.post("/api/v1/requests", json=account_request_body(), headers=bearer(secret))
    assert res.status_code == 201, res.get_json()
    body = res.get_json()
    # Policy art. 8.1: no identity document through the account; deadline rule 1: the clock starts the day of receipt.
    today = legal_day(utcnow())
    assert body["status"] in ("open", "in_progress")
    assert body["identity_method"] == "account"
    assert body["clock_started_on"] == today.isoformat()
    assert date.fromisoformat(body["due_date"]) > today
    assert body["extended_due_date"] is None and body["outcome"] is None and body["paused"] is False
    assert body["channel"] == "account" and body["type"] == "access" and body["language"] == "fr"
    assert res.headers["Location"].endswith(f"/api/v1/requests/{body['reference']}")
    # No personal data in the resource.
    assert "Dupont" not in res.get_data(as_text=True) and "jeanne" not in res.get_data(as_text=True)
    received = events_of(body["reference"])[0]
    assert received.action == "received" and received.actor_type == "api" and received.actor_id == str(key.id)
    submission = db.session.scalar(sa.select(ApiSubmission))
    assert submission.protocol == "api" and submission.api_key_id == key.id
    again = client.get(f"/api/v1/requests/{body['reference']}", headers=bearer(secret))
    assert again.status_code == 200 and again.get_json() == body


def test_a_request_not_vouched_for_waits_for_an_identity_document(client, app, mailbox):
    _, secret = make_key("submit")
    body = account_request_body(channel="email", identity={"method": "document", "verified": False})
    res = client.post("/api/v1/requests", json=body, headers=bearer(secret))
    assert res.status_code == 201, res.get_json()
    assert res.get_json()["status"] == "awaiting_identity"
    assert res.get_json()["clock_started_on"] is None and res.get_json()["due_date"] is None


def test_an_account_identity_needs_the_account_channel(client, app):
    _, secret = make_key("submit")
    res = client.post("/api/v1/requests", headers=bearer(secret),
                      json=account_request_body(channel="email"))
    assert res.status_code == 422
    assert "identity.method" in res.get_json()["fields"]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(DataRequest)) == 0


def test_an_account_request_the_submitter_does_not_vouch_for_is_refused(client, app):
    _, secret = make_key("submit")
    res = client.post("/api/v1/requests", headers=bearer(secret),
                      json=account_request_body(identity={"method": "account", "verified": False}))
    assert res.status_code == 422
    assert "identity.verified" in res.get_json()["fields"]


def test_a_body_over_the_api_limit_is_a_413(client, app):
    _, secret = make_key("submit")
    body = account_request_body(details="x" * (2 * 1024 * 1024 + 10))
    res = client.post("/api/v1/requests", json=body, headers=bearer(secret))
    assert res.status_code == 413
    assert res.get_json()["error"] == "request_entity_too_large"
    assert db.session.scalar(sa.select(sa.func.count()).select_from(DataRequest)) == 0


def test_only_a_staff_key_vouches_for_an_identity_checked_elsewhere(client, app):
    _, secret = make_key("submit")
    res = client.post("/api/v1/requests", headers=bearer(secret),
                      json=account_request_body(channel="email", identity={"method": "in_person", "verified": True}))
    assert res.status_code == 403
    assert res.get_json()["error"] == "forbidden"
    assert db.session.scalar(sa.select(sa.func.count()).select_from(DataRequest)) == 0


def test_only_a_staff_key_sets_the_date_of_receipt(client, app):
    _, secret = make_key("submit")
    res = client.post("/api/v1/requests", headers=bearer(secret),
                      json=account_request_body(received_at="2026-03-05T09:00:00+01:00"))
    assert res.status_code == 403
    assert "received_at" in res.get_json()["fields"]


def test_a_letter_logged_later_by_staff_counts_from_its_real_day_of_receipt(client, app, mailbox):
    _, secret = make_key("staff")
    body = account_request_body(channel="post", identity={"method": "in_person", "verified": True},
                                received_at="2026-03-05T23:30:00+00:00", external_account_id=None)
    res = client.post("/api/v1/requests", json=body, headers=bearer(secret))
    assert res.status_code == 201, res.get_json()
    got = res.get_json()
    # 23:30 UTC on 5 March is already 6 March in Paris (rule 1); one month → 6 April 2026, Easter Monday,
    # a French public holiday (Reg. 1182/71 art. 3(4)) → Tuesday 7 April.
    assert got["clock_started_on"] == "2026-03-06"
    assert got["due_date"] == "2026-04-07"
    assert got["received_at"].startswith("2026-03-05T23:30:00")
    assert got["identity_method"] == "in_person"


def test_the_same_client_reference_is_an_idempotent_retry(client, app, mailbox):
    _, secret = make_key("submit")
    body = account_request_body(client_reference="app-req-1")
    first = client.post("/api/v1/requests", json=body, headers=bearer(secret))
    second = client.post("/api/v1/requests", json=body, headers=bearer(secret))
    assert first.status_code == 201 and second.status_code == 200
    assert first.get_json()["reference"] == second.get_json()["reference"]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(DataRequest)) == 1
    other = client.post("/api/v1/requests", json=dict(body, type="erasure"), headers=bearer(secret))
    assert other.status_code == 409 and other.get_json()["error"] == "client_reference_reused"
    assert db.session.scalar(sa.select(sa.func.count()).select_from(DataRequest)) == 1


def test_unknown_fields_are_errors_with_their_path(client, app):
    _, secret = make_key("submit")
    body = account_request_body(colour="blue")
    body["subject"]["diagnosis"] = "flu"
    res = client.post("/api/v1/requests", json=body, headers=bearer(secret, **{"Accept-Language": "en"}))
    assert res.status_code == 422
    err = res.get_json()
    assert err["error"] == "invalid_input" and err["message"] == "Some fields are not valid."
    assert err["fields"]["colour"] == ["Unknown field."]
    assert err["fields"]["subject.diagnosis"] == ["Unknown field."]


def test_validation_messages_are_french_by_default(client, app):
    _, secret = make_key("submit")
    body = account_request_body()
    del body["subject"]["email"]
    body["type"] = "telepathy"
    res = client.post("/api/v1/requests", json=body, headers=bearer(secret))
    assert res.status_code == 422
    err = res.get_json()
    assert err["message"] == "Certains champs ne sont pas valides."
    assert err["fields"]["subject.email"] == ["Champ obligatoire manquant."]
    assert err["fields"]["type"][0].startswith("Doit être l’une des valeurs suivantes")


def test_the_service_reports_every_problem_at_once(client, app):
    _, secret = make_key("submit")
    # Well-formed, but the service refuses it: a rectification needs details; medical record only for access.
    body = account_request_body(type="rectification", medical_record=True)
    res = client.post("/api/v1/requests", json=body, headers=bearer(secret, **{"Accept-Language": "en"}))
    assert res.status_code == 422
    fields = res.get_json()["fields"]
    assert {"details", "medical_record"} <= set(fields)


def test_control_characters_and_oversized_values_are_refused(client, app):
    _, secret = make_key("submit")
    body = account_request_body()
    body["subject"]["first_name"] = "Jea\x00nne"
    body["subject"]["last_name"] = "x" * 121
    res = client.post("/api/v1/requests", json=body, headers=bearer(secret))
    assert res.status_code == 422
    assert {"subject.first_name", "subject.last_name"} <= set(res.get_json()["fields"])


def test_a_body_that_is_not_json_is_a_clear_400(client, app):
    _, secret = make_key("submit")
    res = client.post("/api/v1/requests", data="{not json", headers=bearer(secret, **{"Content-Type": "application/json"}))
    assert res.status_code == 400
    assert res.get_json()["error"] == "bad_json"


# --- reading -----------------------------------------------------------------------------------------------


def test_an_unknown_reference_is_a_json_404(client, app):
    _, secret = make_key("read")
    res = client.get("/api/v1/requests/DSAR-2026-999999", headers=bearer(secret))
    assert res.status_code == 404
    assert res.get_json()["error"] == "not_found"


def test_the_list_filters_and_paginates(client, app, policy):
    _, secret = make_key("read")
    for status in ("open", "open", "open", "closed"):
        make_request(policy=policy, status=status, external_account_id="acct-7" if status == "closed" else None)
    db.session.commit()
    res = client.get("/api/v1/requests?status=open&per_page=2", headers=bearer(secret))
    assert res.status_code == 200, res.get_json()
    page = res.get_json()
    assert page["total"] == 3 and page["page"] == 1 and len(page["items"]) == 2
    assert {i["status"] for i in page["items"]} == {"open"}
    second = client.get("/api/v1/requests?status=open&per_page=2&page=2", headers=bearer(secret)).get_json()
    assert len(second["items"]) == 1
    assert {i["reference"] for i in page["items"]}.isdisjoint({i["reference"] for i in second["items"]})
    both = client.get("/api/v1/requests?status=open&status=closed", headers=bearer(secret)).get_json()
    assert both["total"] == 4
    mine = client.get("/api/v1/requests?external_account_id=acct-7", headers=bearer(secret)).get_json()
    assert [i["status"] for i in mine["items"]] == ["closed"]
    bad = client.get("/api/v1/requests?colour=blue", headers=bearer(secret))
    assert bad.status_code == 422 and "colour" in bad.get_json()["fields"]


def test_the_list_filters_by_paris_day_of_receipt(client, app, policy):
    from datetime import datetime, timezone

    _, secret = make_key("read")
    late = make_request(policy=policy, received_at=datetime(2026, 3, 5, 23, 30, tzinfo=timezone.utc))  # 6 March in Paris
    make_request(policy=policy, received_at=datetime(2026, 3, 5, 10, 0, tzinfo=timezone.utc))
    db.session.commit()
    res = client.get("/api/v1/requests?received_from=2026-03-06&received_to=2026-03-06", headers=bearer(secret))
    assert [i["reference"] for i in res.get_json()["items"]] == [late.reference]


# --- actions -----------------------------------------------------------------------------------------------


def act(client, secret, reference, **body):
    return client.post(f"/api/v1/requests/{reference}/actions", json=body, headers=bearer(secret))


def test_staff_actions_follow_the_back_office_rules_and_leave_audit_events(client, app, policy, mailbox):
    key, secret = make_key("staff")
    req = make_request(policy=policy, status="awaiting_identity", channel="post")
    db.session.commit()
    ref = req.reference
    res = act(client, secret, ref, action="verify_identity", method="in_person")
    assert res.status_code == 200, res.get_json()
    got = res.get_json()
    assert got["status"] in ("open", "in_progress") and got["clock_started_on"] == legal_day(utcnow()).isoformat()
    verified = [e for e in events_of(ref) if e.action == "accept_identity"]
    assert verified and verified[0].actor_type == "api" and verified[0].actor_id == str(key.id)

    res = act(client, secret, ref, action="clarify", question="Which account do you mean?")
    assert res.status_code == 200, res.get_json()
    assert res.get_json()["status"] == "awaiting_requester" and res.get_json()["paused"] is True
    res = act(client, secret, ref, action="resume", answer="The one ending in 42.")
    assert res.status_code == 200 and res.get_json()["paused"] is False

    before = res.get_json()
    res = act(client, secret, ref, action="extend", reason="Many archives to search.", expected_version=before["version"])
    assert res.status_code == 200, res.get_json()
    extended = res.get_json()
    assert extended["extended_due_date"] is not None
    assert extended["extended_due_date"] > before["due_date"]


def test_an_illegal_transition_is_a_409_and_changes_nothing(client, app, policy):
    _, secret = make_key("staff")
    req = make_request(policy=policy, status="open")
    db.session.commit()
    events_before = len(events_of(req.reference))
    res = act(client, secret, req.reference, action="close")
    assert res.status_code == 409
    assert res.get_json()["error"] == "illegal_transition"
    db.session.expire_all()
    assert db.session.get(DataRequest, req.id).status == "open"
    assert len(events_of(req.reference)) == events_before


def test_a_stale_version_is_a_409(client, app, policy):
    _, secret = make_key("staff")
    req = make_request(policy=policy, status="open")
    db.session.commit()
    res = act(client, secret, req.reference, action="clarify", question="Which?", expected_version=req.version + 5)
    assert res.status_code == 409 and res.get_json()["error"] == "stale"


def test_a_field_that_does_not_belong_to_the_action_is_refused(client, app, policy):
    _, secret = make_key("staff")
    req = make_request(policy=policy, status="open")
    db.session.commit()
    res = act(client, secret, req.reference, action="close", reason="why not")
    assert res.status_code == 422
    assert "reason" in res.get_json()["fields"]
    unknown = act(client, secret, req.reference, action="teleport")
    assert unknown.status_code == 422 and "action" in unknown.get_json()["fields"]


def test_reopening_is_for_the_dpo_not_for_a_staff_key(client, app, policy):
    _, secret = make_key("staff")
    req = make_request(policy=policy, status="closed")
    db.session.commit()
    res = act(client, secret, req.reference, action="reopen", reason="new facts")
    assert res.status_code == 403


def test_route_to_a_professional_by_their_application_identifier(client, app, policy, mailbox):
    _, secret = make_key("staff")
    pro = make_professional(external_id="pro-ext-9")
    req = make_request(policy=policy, status="open")
    db.session.commit()
    res = act(client, secret, req.reference, action="route", professional_external_id="pro-ext-9")
    assert res.status_code == 200, res.get_json()
    assert res.get_json()["handler"] == "professional"
    missing = act(client, secret, req.reference, action="route", professional_external_id="nobody")
    assert missing.status_code == 422 and "professional_external_id" in missing.get_json()["fields"]
    assert pro.id


def test_assigning_and_answering_through_the_api(client, app, policy, mailbox):
    _, secret = make_key("staff")
    agent = make_staff("agent")
    req = make_request(policy=policy, status="open", subject_kind="prospect", activities=["client_file"])
    db.session.commit()
    res = act(client, secret, req.reference, action="assign", assignee_id=agent.id)
    assert res.status_code == 200, res.get_json()
    assert res.get_json()["status"] == "in_progress"
    res = act(client, secret, req.reference, action="answer", outcome="no_data",
              message="We hold no data about you.")
    assert res.status_code == 200, res.get_json()
    assert res.get_json()["status"] == "answered" and res.get_json()["outcome"] == "no_data"
    assert db.session.scalar(sa.select(sa.func.count()).select_from(OutboxMessage)) >= 1
