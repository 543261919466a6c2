"""Outbound webhooks: signed, delivered through the outbox with retries, verified by a real receiver on loopback."""
from __future__ import annotations

import json
import threading
import time
from datetime import timedelta

import pytest
import sqlalchemy as sa
import time_machine

from api_support import Receiver, bearer, fire_rq_retries, make_key
from dsar.extensions import db
from dsar.jobs.outbox import sweep_outbox
from dsar.models import Event, OutboxMessage, utcnow
from dsar.models.webhooks import WebhookEndpoint
from dsar.security import decrypt_secret
from dsar.services import webhooks
from dsar.services.webhooks import InvalidSignature, sign, verify
from waiting import holds
from factories import make_request, make_staff


class VerifyingReceiver(Receiver):
    """What a careful receiver does: check the signature over the raw body, refuse stale timestamps, ignore replays."""

    def __init__(self, secret: str, *, tolerance: int = 300, fail_first: int = 0):
        self.secret = secret
        self.tolerance = tolerance
        self.clock_offset = 0.0         # to simulate a delivery presented later
        self.fail_first = fail_first
        self.seen: set[str] = set()
        self.verdicts: list[str] = []
        self._lock = threading.Lock()
        super().__init__(self.handle)

    def handle(self, headers, body):
        try:
            verify(self.secret, headers, body, self.tolerance, now=time.time() + self.clock_offset)
        except InvalidSignature as exc:
            self.verdicts.append(f"refused: {exc.reason}")
            return 401
        delivery_id = json.loads(body)["id"]   # the id inside the signed body, not a header an attacker could change
        with self._lock:
            if self.fail_first > 0:
                self.fail_first -= 1
                self.verdicts.append("failed on purpose")
                return 503
            if delivery_id in self.seen:
                self.verdicts.append("refused: already processed")
                return 409
            self.seen.add(delivery_id)
        self.verdicts.append("accepted")
        return 204


def make_endpoint(url: str, events=None) -> str:
    _, secret = webhooks.create_endpoint(url=url, events=events, description="IDOMED application", created_by="tests")
    db.session.commit()
    return secret


def replay(url: str, headers: dict, body: bytes) -> int:
    import urllib.error
    import urllib.request

    keep = {k: v for k, v in headers.items() if k.lower().startswith("x-dsar-") or k.lower() == "content-type"}
    try:
        with urllib.request.urlopen(urllib.request.Request(url, data=body, headers=keep, method="POST"), timeout=5) as res:
            return res.status
    except urllib.error.HTTPError as exc:
        return exc.code


def webhook_rows():
    db.session.expire_all()
    return db.session.scalars(sa.select(OutboxMessage).where(OutboxMessage.kind == "webhook").order_by(OutboxMessage.id)).all()


# --- the signature itself ----------------------------------------------------------------------------------


def test_sign_and_verify():
    body = b'{"id":"whd_1","event":"request.status_changed"}'
    now = 1_780_000_000
    headers = {"X-DSAR-Timestamp": str(now), "X-DSAR-Signature": sign("s3cret", now, body)}
    assert headers["X-DSAR-Signature"].startswith("v1=") and len(headers["X-DSAR-Signature"]) == 3 + 64
    assert verify("s3cret", headers, body, now=now + 10) == now
    assert verify("s3cret", {k.lower(): v for k, v in headers.items()}, body, now=now) == now  # header case does not matter
    with pytest.raises(InvalidSignature, match="does not match"):
        verify("other", headers, body, now=now)
    with pytest.raises(InvalidSignature, match="does not match"):
        verify("s3cret", headers, body.replace(b"status", b"statut"), now=now)
    with pytest.raises(InvalidSignature, match="tolerance"):
        verify("s3cret", headers, body, now=now + 301)
    with pytest.raises(InvalidSignature, match="tolerance"):
        verify("s3cret", headers, body, now=now - 301)     # from the future: a clock skew or a forgery
    with pytest.raises(InvalidSignature, match="missing"):
        verify("s3cret", {"X-DSAR-Timestamp": str(now)}, body, now=now)
    # The timestamp is signed: moving it forward breaks the signature.
    moved = dict(headers, **{"X-DSAR-Timestamp": str(now + 400)})
    with pytest.raises(InvalidSignature, match="does not match"):
        verify("s3cret", moved, body, now=now + 400)
    # During a secret rotation a sender may give two signatures; one match is enough.
    both = dict(headers, **{"X-DSAR-Signature": sign("old", now, body) + "," + sign("s3cret", now, body)})
    assert verify("s3cret", both, body, now=now) == now


# --- delivery --------------------------------------------------------------------------------------------


def test_a_status_change_is_delivered_signed_and_verified_and_a_replay_is_refused(client, app, policy, run_jobs, mailbox):
    with VerifyingReceiver(secret := "") as receiver:
        secret = make_endpoint(receiver.url)
        receiver.secret = secret
        _, key = make_key("staff")
        req = make_request(policy=policy, status="open", email="patient@example.test", first_name="Marie",
                           last_name="Curie", external_account_id="acct-1")
        db.session.commit()
        res = client.post(f"/api/v1/requests/{req.reference}/actions", headers=bearer(key),
                          json={"action": "clarify", "question": "Which of your accounts?"})
        assert res.status_code == 200, res.get_json()
        run_jobs()
        [(headers, body, status)] = receiver.wait_for(1)
        assert status == 204 and receiver.verdicts == ["accepted"]
        payload = json.loads(body)
        assert payload["event"] == "request.status_changed" == headers["X-DSAR-Event"]
        assert payload["id"] == headers["X-DSAR-Delivery"]
        assert payload["data"]["change"] == {"action": "ask_clarification", "from_status": "open",
                                             "to_status": "awaiting_requester"}
        resource = payload["data"]["request"]
        assert resource["reference"] == req.reference and resource["status"] == "awaiting_requester"
        assert resource["paused"] is True and resource["external_account_id"] == "acct-1"
        # References and statuses only: no name, no email, not the question asked.
        text = body.decode()
        for personal in ("patient@example.test", "Marie", "Curie", "Which of your accounts"):
            assert personal not in text
        [row] = webhook_rows()
        assert row.status == "sent" and row.response_status == 204 and row.attempts == 1
        assert row.message_id == payload["id"] and row.request_id == req.id

        # A captured delivery sent again at once: signature valid, but already processed.
        assert replay(receiver.url, headers, body) == 409
        # The same delivery presented ten minutes later: outside the window, refused before anything else.
        receiver.clock_offset = 600
        receiver.seen.clear()
        assert replay(receiver.url, headers, body) == 401
        assert receiver.verdicts[-2:] == ["refused: already processed",
                                          "refused: timestamp outside the tolerance window (replayed or delayed delivery)"]
        # A tampered body: refused.
        receiver.clock_offset = 0
        assert replay(receiver.url, headers, body.replace(b"awaiting_requester", b"closed")) == 401


def test_a_failing_receiver_is_retried_with_back_off_and_a_fresh_signature(client, app, policy, run_jobs, mailbox):
    with VerifyingReceiver("", fail_first=1) as receiver:
        receiver.secret = make_endpoint(receiver.url)
        _, key = make_key("staff")
        req = make_request(policy=policy, status="open")
        db.session.commit()
        client.post(f"/api/v1/requests/{req.reference}/actions", headers=bearer(key),
                    json={"action": "clarify", "question": "Which?"})
        run_jobs()
        receiver.wait_for(1)
        [row] = webhook_rows()
        assert row.status == "pending" and row.attempts == 1 and row.response_status == 503
        assert "HTTP 503" in row.last_error
        assert row.next_attempt_at > utcnow() + timedelta(seconds=50)   # the outbox's back-off
        assert sweep_outbox() == 0                                      # not before its time
        db.session.execute(sa.update(OutboxMessage).where(OutboxMessage.id == row.id)
                           .values(next_attempt_at=utcnow() - timedelta(seconds=1)))
        db.session.commit()
        with time_machine.travel(time.time() + 2, tick=True):   # a later attempt carries a later timestamp
            assert sweep_outbox() == 1
            fire_rq_retries(app)
            run_jobs()
            deliveries = receiver.wait_for(2)
        [row] = webhook_rows()
        assert row.status == "sent" and row.attempts == 2 and row.response_status == 204
        first, second = deliveries[0][0], deliveries[1][0]
        assert first["X-DSAR-Delivery"] == second["X-DSAR-Delivery"]       # the same delivery …
        assert int(second["X-DSAR-Timestamp"]) > int(first["X-DSAR-Timestamp"])   # … signed again at send time
        assert receiver.verdicts == ["failed on purpose", "accepted"]


def test_a_change_that_rolls_back_sends_nothing(app, policy, run_jobs):
    from dsar import lifecycle
    from dsar.actors import Actor

    with VerifyingReceiver("") as receiver:
        receiver.secret = make_endpoint(receiver.url)
        req = make_request(policy=policy, status="open")
        db.session.commit()
        lifecycle.ask_clarification(req, Actor.for_staff(make_staff("dpo")), "Which?", today=utcnow().date())
        db.session.rollback()
        run_jobs()
        holds(lambda: receiver.received == [], what="nothing delivered after the rollback")
        assert webhook_rows() == []


def test_status_changes_nobody_listens_to_cost_no_payload_and_one_lookup_per_commit(app, policy, monkeypatch):
    """Issue 19: the resource was serialised for every status change, receivers or not (8 % of a routed patient's
    submission); now the receivers are read once per commit and nothing is built when there are none."""
    from dsar import lifecycle
    from dsar.actors import Actor

    built, lookups = [], []
    real_payload, real_receivers = webhooks.request_payload, webhooks._receivers
    monkeypatch.setattr(webhooks, "request_payload", lambda req: built.append(req.id) or real_payload(req))
    monkeypatch.setattr(webhooks, "_receivers", lambda event: lookups.append(event) or real_receivers(event))
    staff = make_staff("dpo")
    first, second = make_request(policy=policy, status="open"), make_request(policy=policy, status="open")
    db.session.commit()
    for req in (first, second):
        lifecycle.ask_clarification(req, Actor.for_staff(staff), "Which?", today=utcnow().date())
    db.session.commit()
    assert built == [] and lookups == ["request.status_changed"] and webhook_rows() == []

    with VerifyingReceiver("") as receiver:
        receiver.secret = make_endpoint(receiver.url)
        lookups.clear()
        for req in (first, second):
            lifecycle.resume(req, Actor.for_staff(staff), policy, today=utcnow().date())
        db.session.commit()
    assert sorted(built) == sorted([first.id, second.id]) and lookups == ["request.status_changed"]
    assert len(webhook_rows()) == 2


def test_receivers_get_only_their_events_and_disabled_ones_nothing(app, policy, run_jobs):
    from dsar import lifecycle
    from dsar.actors import Actor

    with VerifyingReceiver("") as everything, VerifyingReceiver("") as accounts, VerifyingReceiver("") as disabled:
        everything.secret = make_endpoint(everything.url)
        accounts.secret = make_endpoint(accounts.url, events=["account.deactivation_requested"])
        disabled.secret = make_endpoint(disabled.url)
        db.session.scalar(sa.select(WebhookEndpoint).where(WebhookEndpoint.url == disabled.url)).active = False
        req = make_request(policy=policy, status="open", external_account_id="acct-9")
        db.session.commit()
        lifecycle.ask_clarification(req, Actor.for_staff(make_staff("dpo")), "Which?", today=utcnow().date())
        webhooks.queue_webhook("account.deactivation_requested",
                               {"reference": req.reference, "external_account_id": "acct-9"}, request=req)
        db.session.commit()
        run_jobs()
        everything.wait_for(2)
        accounts.wait_for(1)
        holds(lambda: len(everything.received) == 2 and len(accounts.received) == 1 and disabled.received == [],
              what="no delivery beyond the ones awaited")
        assert sorted(json.loads(b)["event"] for _, b, _ in everything.received) == [
            "account.deactivation_requested", "request.status_changed"]
        assert [json.loads(b)["event"] for _, b, _ in accounts.received] == ["account.deactivation_requested"]
        assert disabled.received == []
        assert set(everything.verdicts) == {"accepted"} and accounts.verdicts == ["accepted"]


def test_the_receiver_of_the_settings_is_used_too(make_app, policy, run_jobs):
    with VerifyingReceiver("from-settings-secret") as receiver:
        app = make_app(DSAR_WEBHOOK_URL=receiver.url, DSAR_WEBHOOK_SECRET="from-settings-secret")
        with app.app_context():
            from dsar import lifecycle
            from dsar.actors import Actor

            req = make_request(policy=app.extensions["dsar_policy"], status="open")
            db.session.commit()
            lifecycle.ask_clarification(req, Actor.for_staff(make_staff("dpo")), "Which?", today=utcnow().date())
            db.session.commit()
            if app.extensions["dsar_jobs"].name == "rq":
                from rq import SimpleWorker

                backend = app.extensions["dsar_jobs"]
                SimpleWorker([backend.queue()], connection=backend.redis).work(burst=True)
            receiver.wait_for(1)
            assert receiver.verdicts == ["accepted"]


def test_a_secret_is_stored_encrypted_and_rotation_signs_with_the_new_one(app):
    endpoint, secret = webhooks.create_endpoint(url="https://hooks.example.test/dsar", events=None,
                                                description=None, created_by="tests")
    db.session.commit()
    assert secret.startswith("whsec_") and secret not in endpoint.secret_encrypted
    assert decrypt_secret(endpoint.secret_encrypted) == secret
    new = webhooks.rotate_secret(endpoint)
    db.session.commit()
    assert new != secret and decrypt_secret(endpoint.secret_encrypted) == new
    assert endpoint.secret_rotated_at is not None


@pytest.mark.parametrize("url", ["ftp://example.test/x", "javascript:alert(1)", "https://exa mple.test", ""])
def test_a_receiver_address_must_be_http(app, url):
    from dsar.errors import InvalidInput

    with pytest.raises(InvalidInput):
        webhooks.create_endpoint(url=url, events=None, description=None, created_by="tests")


# --- the back-office delivery log -----------------------------------------------------------------------


def test_the_delivery_log_is_for_admins_and_the_dpo(app, policy, run_jobs):
    from backoffice_support import signed_in_client

    with VerifyingReceiver("", fail_first=99) as receiver:
        receiver.secret = make_endpoint(receiver.url)
        req = make_request(policy=policy, status="open")
        db.session.commit()
        from dsar import lifecycle
        from dsar.actors import Actor

        lifecycle.ask_clarification(req, Actor.for_staff(make_staff("dpo")), "Which?", today=utcnow().date())
        db.session.commit()
        run_jobs()
        receiver.wait_for(1)

        anonymous = app.test_client().get("/backoffice/webhooks")
        assert anonymous.status_code == 302 and "/backoffice/login" in anonymous.headers["Location"]
        agent, _ = signed_in_client(app, "agent")
        assert agent.get("/backoffice/webhooks").status_code == 403
        dpo, _ = signed_in_client(app, "dpo")
        page = dpo.get("/backoffice/webhooks")
        assert page.status_code == 200
        html = page.get_data(as_text=True)
        assert receiver.url in html and req.reference in html and "HTTP 503" in html
        assert "request.status_changed" in html
        # The DPO reads; only an admin adds receivers.
        assert dpo.post("/backoffice/webhooks/endpoints", data={"url": "https://x.example.test/h"}).status_code == 403

        admin, _ = signed_in_client(app, "admin")
        created = admin.post("/backoffice/webhooks/endpoints",
                             data={"url": "https://app.example.test/dsar-hooks", "events": ["request.status_changed"],
                                   "description": "Application"})
        assert created.status_code == 200
        endpoint = db.session.scalar(sa.select(WebhookEndpoint).where(WebhookEndpoint.url == "https://app.example.test/dsar-hooks"))
        shown = decrypt_secret(endpoint.secret_encrypted)
        assert shown in created.get_data(as_text=True)                  # shown once, in this answer …
        assert shown not in admin.get("/backoffice/webhooks").get_data(as_text=True)   # … and never again
        assert endpoint.events == ["request.status_changed"]
        duplicate = admin.post("/backoffice/webhooks/endpoints", data={"url": "https://app.example.test/dsar-hooks"})
        assert duplicate.status_code == 422 and 'aria-invalid="true"' in duplicate.get_data(as_text=True)
        assert db.session.scalar(sa.select(Event).where(Event.stream == "webhooks",
                                                         Event.action == "webhook_endpoint_created")) is not None

        # A delivery given up on can be tried again.
        [row] = webhook_rows()
        early = admin.post(f"/backoffice/webhooks/deliveries/{row.id}/retry")
        assert early.status_code == 409                                 # still being retried by the outbox
        row.status, row.attempts, row.max_attempts = "failed", 8, 8
        db.session.commit()
        receiver.fail_first = 0
        retried = admin.post(f"/backoffice/webhooks/deliveries/{row.id}/retry")
        assert retried.status_code == 302
        fire_rq_retries(app)
        run_jobs()
        receiver.wait_for(2)
        [row] = webhook_rows()
        assert row.status == "sent" and row.attempts == 9
