"""Issue 19 item 7: an email is rendered by its delivery job, not by the change that queues it.

The web request or the sweep writes the template, the language and the sealed context (plain values and row ids);
the delivery job renders the email just before sending it and keeps what the outbox kept before: the subject, the
body with its secret links redacted and the hash of what it sent.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from flask import template_rendered
from flask_babel import lazy_gettext
from markupsafe import Markup

from dsar.extensions import db
from dsar.models import OutboxMessage
from dsar.models.enums import OutboxStatus, Status
from dsar.security import decrypt_secret
from dsar.services import email_context, email_links, intake, notifications, outbox
from factories import make_professional, make_request

NOTICE = {"title": "Le titre", "paragraphs": ["Premier paragraphe."], "link": "http://localhost/x"}


@pytest.fixture
def rendered_templates(app):
    names: list[str] = []

    def record(sender, template, context, **extra):
        names.append(template.name)

    template_rendered.connect(record, app)
    yield names
    template_rendered.disconnect(record, app)


def _row(message_id: int) -> OutboxMessage:
    db.session.expire_all()
    return db.session.get(OutboxMessage, message_id)


def test_queueing_an_email_renders_nothing_and_stores_nothing_readable(app, rendered_templates):
    msg = notifications.queue_email("someone@example.test", "notice", "fr", NOTICE)
    assert rendered_templates == []                              # no Jinja in the web request or the sweep
    assert msg.subject is None and msg.body_text is None and msg.body_html is None and msg.body_sha256 is None
    assert "Premier" not in msg.sealed_body                      # the context is encrypted with the file keys
    assert json.loads(decrypt_secret(msg.sealed_body))["v"] == email_context.VERSION

    subject, text, html = notifications.as_sent(msg)             # what the delivery job will do
    assert subject == "Le titre" and "Premier paragraphe." in text and "Premier paragraphe." in html
    assert "email/notice/body.txt" in rendered_templates


def test_the_delivery_job_renders_it_reads_its_rows_and_records_what_it_sent(app, mailbox, run_jobs):
    req = make_request(language="en")
    db.session.commit()
    status_url = "http://localhost/status/" + "s3cr3t-token"
    msg = notifications.queue_email(req.requester.email, "request_withdrawn", "en",
                                    {"reference": req.reference, "request": req, "status_url": status_url},
                                    request=req)
    db.session.commit()
    run_jobs()
    [got] = mailbox.wait_for(1)
    row = _row(msg.id)
    assert row.status == OutboxStatus.SENT and row.sealed_body is None
    assert req.reference in got["Subject"] and row.subject == got["Subject"]
    assert "withdrawn" in mailbox.text(got)                                 # in the language it was queued in
    assert row.body_sha256 == email_links.digest(mailbox.text(got), mailbox.html(got))
    assert row.body_text and "s3cr3t-token" not in (row.body_text + (row.body_html or ""))


def test_what_an_email_announces_is_what_was_true_when_it_was_queued(app):
    """The receipt says what the request needed at receipt, even if it changed before the job rendered it."""
    req = make_request(status=Status.AWAITING_IDENTITY, language="en")
    msg = notifications.email_requester(req, "request_received", intake._received_context(req))
    req.status, req.due_date = Status.OPEN, date(2026, 4, 7)      # identity accepted before the email went out
    db.session.flush()
    _, text, _ = notifications.as_sent(msg)
    assert "make sure we answer the right person" in text and "We will answer by" not in text


def test_an_email_about_a_row_that_is_gone_fails_at_once_and_keeps_no_seal(app, run_jobs):
    pro = make_professional()
    db.session.commit()
    msg = notifications.queue_email("someone@example.test", "notice", "fr", dict(NOTICE, professional=pro))
    db.session.delete(pro)
    db.session.commit()
    run_jobs()
    row = _row(msg.id)
    assert row.status == OutboxStatus.FAILED and row.attempts == 1        # no retry can bring the row back
    assert row.sealed_body is None and "RowGone" in row.last_error
    assert "example.test" not in row.last_error


def test_an_email_sealed_whole_before_this_version_is_still_sent_as_it_was(app, mailbox, run_jobs):
    text = "Ancien message : http://localhost/status/old-token"
    msg = outbox.queue(kind="email", template="notice", language="fr", recipient="old@example.test",
                       message_id="<old-1@dsar.local>", subject="Ancien", body_text=email_links.redact_links(text),
                       sealed_body=email_links.seal(text, None))
    db.session.commit()
    run_jobs()
    [got] = mailbox.wait_for(1)
    assert got["Subject"] == "Ancien" and "old-token" in mailbox.text(got)
    assert _row(msg.id).status == OutboxStatus.SENT


def test_a_value_no_json_carries_is_rendered_at_once_and_still_sent(app, mailbox, run_jobs):
    msg = notifications.queue_email("someone@example.test", "notice", "fr",
                                    dict(NOTICE, paragraphs=["Un.", "Deux."], extra=lambda: None))
    assert msg.subject == "Le titre" and "Deux." in msg.body_text      # the fallback: rendered when queued
    db.session.commit()
    run_jobs()
    [got] = mailbox.wait_for(1)
    assert "Deux." in mailbox.text(got)


@dataclass(frozen=True)
class _Authority:
    name: str
    url: str


def test_a_context_keeps_its_values_and_types_through_the_seal(app):
    pro = make_professional()
    when = datetime(2026, 3, 5, 10, 30, tzinfo=timezone.utc)
    context = {
        "day": date(2026, 4, 7), "when": when, "delay": timedelta(hours=48), "html": Markup("<b>gras</b>"),
        "authority": _Authority("CNIL", "https://www.cnil.fr"), "pair": ("a", 1), "flag": True, "none": None,
        "tricky": {"$row": "Staff", "id": [1]},                  # a plain dict shaped like a tag stays a dict
        "professional": pro, "rows": [pro, pro],
        "title": lazy_gettext("Hello,"),
    }
    thawed = email_context.thaw(email_context.unseal(email_context.seal(context, "fr")))
    assert thawed["day"] == date(2026, 4, 7) and thawed["when"] == when and thawed["delay"] == timedelta(hours=48)
    assert isinstance(thawed["html"], Markup) and thawed["html"] == Markup("<b>gras</b>")
    assert thawed["authority"] == {"name": "CNIL", "url": "https://www.cnil.fr"}
    assert thawed["pair"] == ["a", 1] and thawed["flag"] is True and thawed["none"] is None
    assert thawed["tricky"] == {"$row": "Staff", "id": [1]}
    assert thawed["professional"] is pro and thawed["rows"] == [pro, pro]
    assert thawed["title"] == "Bonjour,"                          # translated in the email's language, when queued


def test_a_row_not_inserted_yet_cannot_be_sealed(app):
    from dsar.models import Professional

    with pytest.raises(email_context.Unfreezable):
        email_context.seal({"professional": Professional(first_name="A", last_name="B", email="x@example.test")}, "fr")


def test_no_usable_secret_sits_in_the_outbox_of_a_queued_email(app):
    req = make_request()
    msg = notifications.email_requester(req, "request_withdrawn")
    db.session.flush()
    stored = db.session.execute(sa.select(OutboxMessage.sealed_body, OutboxMessage.body_text)
                                .where(OutboxMessage.id == msg.id)).one()
    token = notifications.status_url(req).rsplit("/", 1)[-1]
    assert token not in (stored.sealed_body or "") and stored.body_text is None


def test_a_row_added_with_its_id_taken_is_sealed_by_id_and_read_back_after_the_flush(app):
    """Issue 19: a new request is INSERTed by the transaction's one flush, after its email is queued. Its id is
    taken first (PostgreSQL), so the email carries the row by id rather than being rendered in the web request;
    where no id can be taken before the INSERT (SQLite), the row cannot be sealed and is rendered at once."""
    from dsar.models import Professional
    from dsar.models.base import take_id

    pro = Professional(external_id="pending-1", first_name="Ada", last_name="Pending", email="ada.pending@example.test")
    pro.id = take_id(db.session, Professional)
    db.session.add(pro)
    if pro.id is None:
        with pytest.raises(email_context.Unfreezable):
            email_context.seal({"professional": pro}, "fr")
        return
    sealed = email_context.seal({"professional": pro}, "fr")
    assert "Pending" not in sealed
    db.session.commit()
    db.session.expunge_all()
    assert email_context.thaw(email_context.unseal(sealed))["professional"].last_name == "Pending"
