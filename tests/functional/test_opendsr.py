"""The OpenDSR endpoint (OpenGDPR specification 0.1.x), checked against the specification's own examples.

The bodies below are the examples of the specification (§6.4 discovery, §7.2 request, §7.4 response, §8.4
status, §8.7 callback, §9.3 cancellation, §7.7 error), with our processor domain in ``extensions``
(§7.1.2) to carry the subject's name that French letters need.
"""
from __future__ import annotations

import base64
import copy
import json
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from api_support import Receiver, bearer, make_key, run_jobs_of, signing_material, verify_opendsr_signature
from dsar.deadlines import PARIS
from dsar.extensions import db
from dsar.models import DataRequest, Event
from dsar.models.webhooks import ApiSubmission

SPEC_REQUEST = {   # §7.2, as published (api_version 0.1), plus our own extension
    "subject_request_id": "a7551968-d5d6-44b2-9831-815ac9017798",
    "subject_request_type": "erasure",
    "submitted_time": "2018-10-02T15:00:00Z",
    "subject_identities": [
        {"identity_type": "email", "identity_value": "johndoe@example.com", "identity_format": "raw"},
    ],
    "api_version": "0.1",
    "status_callback_urls": ["https://examplecontroller.com/opengdpr_callbacks"],
    "extensions": {
        "example-processor.com": {"foo-processor-custom-id": 123456, "property_id": "123456"},
        "example-other-processor.com": {"foo-other-processor-custom-id": 654321},
        "localhost": {"first_name": "John", "last_name": "Doe", "subject_kind": "prospect", "language": "en"},
    },
}
CREATED_KEYS = {"controller_id", "expected_completion_time", "received_time", "encoded_request", "subject_request_id"}
STATUS_KEYS = {"controller_id", "expected_completion_time", "subject_request_id", "request_status"}
CALLBACK_KEYS = {"controller_id", "expected_completion_time", "status_callback_url", "subject_request_id", "request_status"}
CANCEL_KEYS = {"controller_id", "received_time", "subject_request_id"}
BASE = "/api/v1/opendsr"


@pytest.fixture
def signing(tmp_path):
    return signing_material(tmp_path / "opendsr")


@pytest.fixture
def odsr_app(make_app, signing):
    key_path, cert_path = signing
    app = make_app(DSAR_OPENDSR_SIGNING_KEY=str(key_path), DSAR_OPENDSR_CERTIFICATE=str(cert_path),
                   DSAR_OPENDSR_CALLBACK_HOSTS="127.0.0.1,examplecontroller.com")
    with app.app_context():
        yield app


@pytest.fixture
def odsr(odsr_app):
    return odsr_app.test_client()


def spec_request(**changes) -> dict:
    body = copy.deepcopy(SPEC_REQUEST)
    body.update(changes)
    return body


def rfc3339(text: str) -> datetime:
    assert text.endswith("Z"), text
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def check_signed(res, cert_pem: bytes) -> None:
    assert res.headers["X-OpenDSR-Processor-Domain"] == "localhost"
    assert res.headers["X-OpenGDPR-Processor-Domain"] == "localhost"          # the older names, spec §10.1 (1.0)
    assert res.headers["X-OpenGDPR-Signature"] == res.headers["X-OpenDSR-Signature"]
    verify_opendsr_signature(cert_pem, res.get_data(), res.headers["X-OpenDSR-Signature"])


def check_error_object(res, code: int) -> dict:
    """§7.6/§7.7: {"error": {"code": <int>, "message": <str>, "errors": [{"domain", "reason", "message"}]}}."""
    assert res.status_code == code
    body = res.get_json()
    assert set(body) == {"error"}
    err = body["error"]
    assert err["code"] == code and isinstance(err["message"], str) and err["message"]
    for detail in err["errors"]:
        assert set(detail) == {"domain", "reason", "message"}
    return err


def test_discovery_matches_the_specification(odsr, signing):
    _, cert_path = signing
    res = odsr.get(f"{BASE}/discovery")
    assert res.status_code == 200
    body = res.get_json()
    assert set(body) == {"api_version", "supported_identities", "supported_subject_request_types", "processor_certificate"}
    assert body["api_version"] == "0.1"
    assert {"identity_type": "email", "identity_format": "raw"} in body["supported_identities"]
    assert all(set(i) == {"identity_type", "identity_format"} for i in body["supported_identities"])
    assert body["supported_subject_request_types"] == ["access", "portability", "erasure"]
    cert = odsr.get(body["processor_certificate"].replace("http://localhost", ""))
    assert cert.status_code == 200 and cert.get_data() == cert_path.read_bytes()
    check_signed(res, cert.get_data())


def test_the_specification_example_request_is_accepted(odsr, odsr_app, signing, mailbox):
    _, cert_path = signing
    key, secret = make_key("submit")
    raw = json.dumps(SPEC_REQUEST).encode()
    res = odsr.post(f"{BASE}/opengdpr_requests", data=raw, headers=bearer(secret, **{"Content-Type": "application/json"}))
    assert res.status_code == 201, res.get_json()
    body = res.get_json()
    assert CREATED_KEYS <= set(body) and set(body) - CREATED_KEYS <= {"api_version"}
    assert body["subject_request_id"] == SPEC_REQUEST["subject_request_id"]
    assert base64.b64decode(body["encoded_request"]) == raw                      # §7.3: the entire body
    assert body["controller_id"] == f"key-{key.prefix}"
    received = rfc3339(body["received_time"])
    assert abs((datetime.now(timezone.utc) - received).total_seconds()) < 60
    assert rfc3339(body["expected_completion_time"]) > received + timedelta(days=27)
    check_signed(res, cert_path.read_bytes())

    submission = db.session.scalar(sa.select(ApiSubmission))
    req = db.session.get(DataRequest, submission.request_id)
    assert submission.protocol == "opendsr" and submission.callback_urls == SPEC_REQUEST["status_callback_urls"]
    assert req.type == "erasure" and req.subject.email == "johndoe@example.com"
    assert req.subject.first_name == "John" and req.language == "en" and req.subject_kind == "prospect"
    # Without the staff scope nobody vouched for the identity: a document is asked for (policy art. 8.1).
    assert req.status == "awaiting_identity" and req.clock_started_on is None


def test_the_status_answer_matches_the_specification(odsr, signing, mailbox):
    _, cert_path = signing
    _, secret = make_key("submit")
    odsr.post(f"{BASE}/opengdpr_requests", json=SPEC_REQUEST, headers=bearer(secret))
    res = odsr.get(f"{BASE}/opengdpr_requests/{SPEC_REQUEST['subject_request_id']}", headers=bearer(secret))
    assert res.status_code == 200
    body = res.get_json()
    assert STATUS_KEYS <= set(body) and set(body) - STATUS_KEYS <= {"api_version", "results_url"}
    assert body["request_status"] == "pending"
    assert body["subject_request_id"] == SPEC_REQUEST["subject_request_id"]
    rfc3339(body["expected_completion_time"])
    check_signed(res, cert_path.read_bytes())


def test_a_staff_key_vouches_and_the_clock_starts_on_the_submitted_day(odsr, mailbox):
    _, secret = make_key("staff")
    body = spec_request(subject_request_id="0f4e1c3a-5b6d-4e7f-8a9b-0c1d2e3f4a5b", subject_request_type="access",
                        submitted_time="2026-03-05T23:30:00Z", status_callback_urls=[])
    res = odsr.post(f"{BASE}/opengdpr_requests", json=body, headers=bearer(secret))
    assert res.status_code == 201, res.get_json()
    req = db.session.get(DataRequest, db.session.scalar(sa.select(ApiSubmission.request_id)))
    assert req.status in ("open", "in_progress") and req.identity_method == "vouched"
    # 23:30 UTC on 5 March is 6 March in Paris; due 6 April is Easter Monday 2026 → 7 April (Reg. 1182/71 art. 3(4)).
    assert req.clock_started_on.isoformat() == "2026-03-06" and req.due_date.isoformat() == "2026-04-07"
    expected = rfc3339(res.get_json()["expected_completion_time"]).astimezone(PARIS)
    assert expected.date().isoformat() == "2026-04-07" and (expected.hour, expected.minute) == (23, 59)


def test_a_pending_request_can_be_cancelled_once(odsr, signing, mailbox):
    _, cert_path = signing
    _, secret = make_key("submit")
    odsr.post(f"{BASE}/opengdpr_requests", json=SPEC_REQUEST, headers=bearer(secret))
    url = f"{BASE}/opengdpr_requests/{SPEC_REQUEST['subject_request_id']}"
    res = odsr.delete(url, headers=bearer(secret))
    assert res.status_code == 202
    body = res.get_json()
    assert CANCEL_KEYS <= set(body) and set(body) - CANCEL_KEYS <= {"api_version", "encoded_request"}
    check_signed(res, cert_path.read_bytes())
    assert odsr.get(url, headers=bearer(secret)).get_json()["request_status"] == "cancelled"
    req = db.session.get(DataRequest, db.session.scalar(sa.select(ApiSubmission.request_id)))
    assert req.status == "withdrawn"
    withdrawn = db.session.scalar(sa.select(Event).where(Event.request_id == req.id, Event.action == "withdraw"))
    assert withdrawn.actor_type == "requester" and "OpenDSR" in withdrawn.actor_label
    again = odsr.delete(url, headers=bearer(secret))
    err = check_error_object(again, 409)
    assert "cancelled" in err["message"]


def test_a_request_being_worked_on_cannot_be_cancelled(odsr, policy, mailbox):
    _, secret = make_key("submit")
    odsr.post(f"{BASE}/opengdpr_requests", json=SPEC_REQUEST, headers=bearer(secret))
    req = db.session.get(DataRequest, db.session.scalar(sa.select(ApiSubmission.request_id)))
    req.status = "in_progress"
    db.session.commit()
    url = f"{BASE}/opengdpr_requests/{SPEC_REQUEST['subject_request_id']}"
    assert odsr.get(url, headers=bearer(secret)).get_json()["request_status"] == "in_progress"
    check_error_object(odsr.delete(url, headers=bearer(secret)), 409)
    db.session.expire_all()
    assert db.session.get(DataRequest, req.id).status == "in_progress"


@pytest.mark.parametrize("change, reason", [
    ({"subject_request_id": None}, "subject_request_id"),
    ({"subject_request_id": "A7551968-D5D6-44B2-9831-815AC9017798"}, "subject_request_id"),   # §1.1: lowercase
    ({"subject_request_id": "a7551968-d5d6-14b2-9831-815ac9017798"}, "subject_request_id"),   # not v4
    ({"subject_request_type": "rectification"}, "subject_request_type"),
    ({"submitted_time": "2018-10-02 15:00"}, "submitted_time"),
    ({"subject_identities": []}, "subject_identities"),
    ({"surprise": 1}, "surprise"),
])
def test_malformed_requests_are_400_with_the_specification_error_object(odsr, change, reason):
    _, secret = make_key("submit")
    body = spec_request(**change)
    if change.get("subject_request_id", "") is None:
        del body["subject_request_id"]
    err = check_error_object(odsr.post(f"{BASE}/opengdpr_requests", json=body, headers=bearer(secret)), 400)
    assert reason in {d["reason"] for d in err["errors"]}
    assert db.session.scalar(sa.select(sa.func.count()).select_from(DataRequest)) == 0


def test_what_we_cannot_answer_is_refused_clearly(odsr):
    _, secret = make_key("submit")
    hashed = spec_request(subject_identities=[{"identity_type": "email", "identity_format": "sha256",
                                               "identity_value": "a" * 64}])
    err = check_error_object(odsr.post(f"{BASE}/opengdpr_requests", json=hashed, headers=bearer(secret)), 400)
    assert err["errors"][0]["reason"] == "subject_identities"
    nameless = spec_request(extensions={})
    err = check_error_object(odsr.post(f"{BASE}/opengdpr_requests", json=nameless, headers=bearer(secret)), 400)
    assert err["errors"][0]["reason"] == "extensions"
    elsewhere = spec_request(status_callback_urls=["https://attacker.example/steal"])
    err = check_error_object(odsr.post(f"{BASE}/opengdpr_requests", json=elsewhere, headers=bearer(secret)), 400)
    assert err["errors"][0]["reason"] == "status_callback_urls"
    assert db.session.scalar(sa.select(sa.func.count()).select_from(DataRequest)) == 0


def test_a_retry_is_idempotent_and_a_reused_id_refused(odsr, mailbox):
    _, secret = make_key("submit")
    first = odsr.post(f"{BASE}/opengdpr_requests", json=SPEC_REQUEST, headers=bearer(secret))
    again = odsr.post(f"{BASE}/opengdpr_requests", json=SPEC_REQUEST, headers=bearer(secret))
    assert first.status_code == again.status_code == 201
    assert first.get_json()["received_time"] == again.get_json()["received_time"]
    other = odsr.post(f"{BASE}/opengdpr_requests", json=spec_request(subject_request_type="access"), headers=bearer(secret))
    check_error_object(other, 400)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(DataRequest)) == 1


def test_keys_see_their_own_requests_unless_they_may_read(odsr, mailbox):
    _, mine = make_key("submit", name="tool A")
    _, theirs = make_key("submit", name="tool B")
    _, reader = make_key("read", name="dashboard")
    odsr.post(f"{BASE}/opengdpr_requests", json=SPEC_REQUEST, headers=bearer(mine))
    url = f"{BASE}/opengdpr_requests/{SPEC_REQUEST['subject_request_id']}"
    check_error_object(odsr.get(url, headers=bearer(theirs)), 404)
    check_error_object(odsr.delete(url, headers=bearer(theirs)), 404)
    assert odsr.get(url, headers=bearer(reader)).status_code == 200
    check_error_object(odsr.delete(url, headers=bearer(reader)), 403)
    err = check_error_object(odsr.get(url), 401)
    assert "Authorization" in err["message"] or "clé" in err["message"]


def test_status_changes_call_the_callbacks_signed(odsr, odsr_app, signing, mailbox):
    _, cert_path = signing
    with Receiver(lambda headers, body: 200) as receiver:
        _, submit = make_key("submit")
        _, staff = make_key("staff")
        body = spec_request(status_callback_urls=[receiver.url])
        assert odsr.post(f"{BASE}/opengdpr_requests", json=body, headers=bearer(submit)).status_code == 201
        ref = db.session.get(DataRequest, db.session.scalar(sa.select(ApiSubmission.request_id))).reference
        # Staff check the identity in person: pending → still pending (open): no callback for a non-change.
        res = odsr.post(f"/api/v1/requests/{ref}/actions", json={"action": "verify_identity", "method": "in_person"},
                        headers=bearer(staff))
        assert res.status_code == 200, res.get_json()
        run_jobs_of(odsr_app)
        db.session.expire_all()
        req = db.session.scalar(sa.select(DataRequest).where(DataRequest.reference == ref))
        if req.status == "open":
            res = odsr.post(f"/api/v1/requests/{ref}/actions", json={"action": "clarify", "question": "Which?"},
                            headers=bearer(staff))
            assert res.status_code == 200, res.get_json()
            run_jobs_of(odsr_app)
        [(headers, raw, _)] = receiver.wait_for(1)
        callback = json.loads(raw)
        assert set(callback) == CALLBACK_KEYS
        assert callback["request_status"] == "in_progress"
        assert callback["status_callback_url"] == receiver.url
        assert callback["subject_request_id"] == SPEC_REQUEST["subject_request_id"]
        assert headers["X-OpenDSR-Processor-Domain"] == "localhost"
        verify_opendsr_signature(cert_path.read_bytes(), raw, headers["X-OpenDSR-Signature"])
        assert "johndoe" not in raw.decode()


def test_without_a_signing_key_the_endpoint_is_closed(make_app):
    app = make_app()   # no DSAR_OPENDSR_SIGNING_KEY
    with app.app_context():
        _, secret = make_key("submit")
        client = app.test_client()
        check_error_object(client.get(f"{BASE}/discovery"), 503)
        check_error_object(client.post(f"{BASE}/opengdpr_requests", json=SPEC_REQUEST, headers=bearer(secret)), 503)
        assert db.session.scalar(sa.select(sa.func.count()).select_from(DataRequest)) == 0
