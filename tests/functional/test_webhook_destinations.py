"""Webhook receivers may not point inside (issue 12, item 6): refused when registered and again when sent.

No test sends anything to a non-loopback address: internal addresses are refused before any connection,
and the receivers that do answer listen on 127.0.0.1.
"""
from __future__ import annotations

import time

import pytest
import sqlalchemy as sa

from api_support import Receiver, bearer, make_key
from net_support import free_port
from dsar.errors import InvalidInput
from dsar.extensions import db
from dsar.models import OutboxMessage
from dsar.models.webhooks import WebhookEndpoint
from dsar.services import webhooks
from factories import make_request
from waiting import holds

INTERNAL = [
    "http://127.0.0.1:6379/", "http://localhost:5000/hook", "http://api.localhost/hook", "http://[::1]/hook",
    "http://10.0.0.7/hook", "http://172.16.3.4/hook", "http://192.168.1.1/admin", "http://100.64.0.1/hook",
    "http://169.254.169.254/latest/meta-data/", "http://[fe80::1]/hook", "http://[fd00::1]/hook",
    "http://[::ffff:169.254.169.254]/latest/meta-data/", "http://0.0.0.0:8080/", "http://224.0.0.1/",
    "http://240.0.0.1/", "http://2130706433/hook", "http://0x7f.1/hook", "http://0251.0376.0251.0376/",
    "https://10.1.2.3:8443/hook",
]


@pytest.fixture
def strict_app(make_app):
    """The production default: no network allowed besides the public internet."""
    app = make_app(DSAR_WEBHOOK_ALLOWED_NETWORKS="")
    with app.app_context():
        yield app


@pytest.mark.parametrize("url", INTERNAL)
def test_an_internal_receiver_is_refused_when_registered(strict_app, url):
    with pytest.raises(InvalidInput) as err:
        webhooks.create_endpoint(url=url, events=None, description=None, created_by="tests")
    assert err.value.field == "url" and err.value.code == "internal_address"
    db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(WebhookEndpoint)) == 0


@pytest.mark.parametrize("url", ["https://93.184.215.14/hook", "https://hooks.example.test/dsar",
                                 "https://[2606:4700::1111]/hook"])
def test_a_public_receiver_is_registered(strict_app, url):
    endpoint, _ = webhooks.create_endpoint(url=url, events=None, description=None, created_by="tests")
    assert endpoint.id is not None


def test_the_back_office_form_says_why_and_saves_nothing(strict_app):
    from backoffice_support import signed_in_client

    admin, _ = signed_in_client(strict_app, "admin")
    res = admin.post("/backoffice/webhooks/endpoints", data={"url": "http://169.254.169.254/latest/meta-data/"},
                     headers={"Accept-Language": "en"})
    assert res.status_code == 422
    assert "private network" in res.get_data(as_text=True) or "réseau privé" in res.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(WebhookEndpoint)) == 0


@pytest.mark.parametrize("url", ["http://169.254.169.254/latest/meta-data/", "http://10.0.0.7:9200/_search",
                                 "http://2130706433/hook"])
def test_sending_to_an_internal_address_is_refused_before_connecting(strict_app, url):
    """What was registered before the rule, or set in DSAR_WEBHOOK_URL: checked again at send time."""
    started = time.monotonic()
    with pytest.raises(webhooks.WebhookDeliveryError) as err:
        webhooks.post_json(url, b"{}", {})
    assert str(err.value) == webhooks.REFUSED_ADDRESS
    assert time.monotonic() - started < 1   # refused, not timed out trying to connect


def test_a_name_that_resolves_inside_is_refused_at_send_time_and_nothing_reaches_it(strict_app):
    """The name is resolved when sending and every address checked: localhost here, a rebinding name elsewhere."""
    with Receiver(lambda headers, body: 204) as receiver:
        url = receiver.url.replace("127.0.0.1", "localhost")
        with pytest.raises(webhooks.WebhookDeliveryError) as err:
            webhooks.post_json(url, b"{}", {})
        assert str(err.value) == webhooks.REFUSED_ADDRESS
        holds(lambda: receiver.received == [], 0.2, what="nothing reached the receiver")


def test_an_allowed_network_is_reached(make_app):
    app = make_app(DSAR_WEBHOOK_ALLOWED_NETWORKS="127.0.0.0/8")
    with app.app_context(), Receiver(lambda headers, body: 204) as receiver:
        assert webhooks.post_json(receiver.url.replace("127.0.0.1", "localhost"), b"{}", {}) == 204
        assert len(receiver.received) == 1


def test_the_delivery_log_shows_a_category_never_the_network_error(app, policy, run_jobs, mailbox):
    """The error class (ConnectionRefusedError, timeout …) told an admin which ports were open: a port scan."""
    closed = f"http://127.0.0.1:{free_port()}/hooks"
    webhooks.create_endpoint(url=closed, events=None, description=None, created_by="tests")
    _, key = make_key("staff")
    req = make_request(policy=policy, status="open")
    db.session.commit()
    app.test_client().post(f"/api/v1/requests/{req.reference}/actions", headers=bearer(key),
                           json={"action": "clarify", "question": "Which?"})
    run_jobs()
    db.session.expire_all()
    [row] = db.session.scalars(sa.select(OutboxMessage).where(OutboxMessage.kind == "webhook")).all()
    assert row.attempts == 1 and row.status == "pending"
    assert row.last_error == f"WebhookDeliveryError: {webhooks.UNREACHABLE}"
    from backoffice_support import signed_in_client

    admin, _ = signed_in_client(app, "admin")
    page = admin.get("/backoffice/webhooks").get_data(as_text=True)
    assert webhooks.UNREACHABLE in page
    for leak in ("ConnectionRefused", "Errno", "URLError", "timed out"):
        assert leak not in page
