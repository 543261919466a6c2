"""Issue 12 item 2: the outbox keeps no usable secret at rest.

The service keeps only hashes of its bearer secrets (tokens.py); the emails carrying them went to the outbox
whole, so a database backup opened any requester's status page (valid three years), any task and any staff
password reset. Now the stored bodies have their links redacted, and the email as sent is sealed with the file
keys (not in the database) until it is sent, then erased, keeping its hash.
"""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from backoffice_support import sign_in, staff_with_totp
from dsar.actors import Actor
from dsar.extensions import db
from dsar.models import OutboxMessage, utcnow
from dsar.models.enums import OutboxStatus
from dsar.services import email_links, notifications, routing
from public_support import web_request
from routing_support import care_link, patient_request, professional

LINK = re.compile(r"http://localhost(/[^\s\"'<>]+)")
SECRET_ROUTES = ("/status/", "/confirm/", "/task/", "/backoffice/password/")


def _every_secret_link_kind(app):
    """Emails with each kind of bearer link: confirmation and status (requester), task (professional),
    password reset (staff)."""
    web_request(confirm=False, email="jeanne@example.test")              # confirmation link
    web_request(email="paul@example.test")                               # status link
    pro = professional(first_name="Hélène", last_name="Garnier", email="dr.garnier@example.test")
    care_link(pro, email="camille@example.test")
    routed = patient_request(app.extensions["dsar_policy"], email="camille@example.test",
                             received_at=utcnow() - timedelta(days=2))
    routing.auto_route(routed, Actor.system())                            # task link
    db.session.commit()
    admin, secret = staff_with_totp("admin")
    dpo, _ = staff_with_totp("dpo", email="dpo.reset@example.test")
    db.session.commit()
    admin_client = app.test_client()
    sign_in(admin_client, admin, secret)
    assert admin_client.post(f"/backoffice/admin/staff/{dpo.id}/reset").status_code == 302   # reset link


def _stored(message: OutboxMessage) -> str:
    return "\n".join(str(v) for v in (message.subject, message.body_text, message.body_html,
                                       message.sealed_body, message.body_sha256) if v)


def _opens(app_or_client, path: str) -> bool:
    client = app_or_client.test_client() if hasattr(app_or_client, "test_client") else app_or_client
    return client.get(path).status_code == 200


def test_once_sent_the_database_holds_no_link_that_opens_anything(app, mailbox, run_jobs):
    _every_secret_link_kind(app)
    run_jobs()
    emails = db.session.scalars(sa.select(OutboxMessage).where(OutboxMessage.kind == "email")).all()
    delivered = mailbox.wait_for(len(emails))
    assert len(emails) >= 5

    # What people received works: a link of each kind opens its page (a used confirmation link no longer does).
    sent_links = {p for m in delivered for p in LINK.findall(mailbox.text(m)) if p.startswith(SECRET_ROUTES)}
    for route in SECRET_ROUTES:
        assert any(_opens(app, p) for p in sent_links if p.startswith(route)), route

    db.session.expire_all()
    stored = "\n".join(_stored(m) for m in db.session.scalars(sa.select(OutboxMessage)))
    for path in sent_links:
        secret = path.rstrip("/").rsplit("/", 1)[-1]
        assert secret not in stored, path
    stored_links = [p for p in LINK.findall(stored) if p.startswith(SECRET_ROUTES)]
    assert stored_links and all("[redacted]" in p for p in stored_links)
    assert not any(_opens(app, p) for p in stored_links)

    # Sent: the seal is gone and the hash of what was sent stays.
    by_id = {m["Message-ID"]: m for m in delivered}
    for message in db.session.scalars(sa.select(OutboxMessage).where(OutboxMessage.kind == "email")):
        assert message.status == OutboxStatus.SENT and message.sealed_body is None
        got = by_id[message.message_id]
        assert message.body_sha256 == email_links.digest(mailbox.text(got), mailbox.html(got))


def test_before_it_is_sent_the_email_is_sealed_with_the_file_keys(make_app):
    """A message waiting to be sent (Redis down, SMTP failing) holds its links only encrypted."""
    from net_support import free_port

    app = make_app(MAIL_PORT=free_port())          # nobody listens there: every send fails and is retried later
    with app.app_context():
        web_request(email="waiting@example.test")
        pending = db.session.scalars(sa.select(OutboxMessage).where(OutboxMessage.status == OutboxStatus.PENDING)).all()
        assert {m.template for m in pending} == {"confirm_email", "request_received"}
        for message in pending:
            _, text, html = notifications.as_sent(message)   # what will be sent, rendered from its sealed context
            links = [p for p in LINK.findall(text) if p.startswith(SECRET_ROUTES)]
            assert links and all(p in html for p in links)
            for path in links:
                assert path.rsplit("/", 1)[-1] not in _stored(message)
                assert _opens(app.test_client(), path) or path.startswith("/confirm/")
            # Nothing is rendered before the delivery job does (issue 19 item 7): nothing readable is stored.
            assert message.body_text is None and message.body_html is None and message.subject is None
            assert "@example.test" not in message.sealed_body and "waiting" not in message.sealed_body


@pytest.mark.parametrize("body, kept", [
    ("Votre lien : http://localhost/status/abc.def-ghi_1 (3 ans)", "Votre lien : http://localhost/status/[redacted] (3 ans)"),
    ('<a href="http://localhost/task/xyz">ouvrir</a>', '<a href="http://localhost/task/[redacted]">ouvrir</a>'),
    ("http://localhost/backoffice/requests/DSAR-2026-0001", "http://localhost/backoffice/requests/DSAR-2026-0001"),
    ("http://localhost/no/such/route/secret", "http://localhost/[redacted]"),
    ("https://elsewhere.example/status/abc", "https://elsewhere.example/status/abc"),
])
def test_the_secret_part_of_the_services_own_links_is_redacted(app, body, kept):
    assert email_links.redact_links(body) == kept
