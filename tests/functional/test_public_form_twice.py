"""The public form sent twice is one request and one email (issue 12, item 9), as the API's client_reference is."""
from __future__ import annotations

import re
import threading

import sqlalchemy as sa

from dsar.extensions import db
from dsar.models import DataRequest, OutboxMessage
from public_support import FORM
from waiting import holds


def form_nonce(client) -> str:
    found = re.search(r'name="submission" value="([^"]+)"', client.get("/request/new").get_data(as_text=True))
    assert found, "no submission nonce in the form"
    return found.group(1)


def requests_count() -> int:
    db.session.expire_all()
    return db.session.scalar(sa.select(sa.func.count()).select_from(DataRequest))


def test_a_double_submit_makes_one_request_and_sends_one_email(client, mailbox, run_jobs):
    nonce = form_nonce(client)
    first = client.post("/request/new", data=dict(FORM, submission=nonce))
    second = client.post("/request/new", data=dict(FORM, submission=nonce))
    assert first.status_code == second.status_code == 303
    assert first.headers["Location"] == second.headers["Location"]
    assert requests_count() == 1
    req = db.session.scalars(sa.select(DataRequest)).one()
    assert req.reference in client.get(second.headers["Location"]).get_data(as_text=True)
    run_jobs()
    mailbox.wait_for(1)
    holds(lambda: len(mailbox.messages) == 1, 0.5, what="one email, not two")
    assert db.session.scalar(sa.select(sa.func.count()).select_from(OutboxMessage)
                             .where(OutboxMessage.request_id == req.id)) == 1
    # Stored hashed: the nonce itself is nowhere in the row.
    assert re.fullmatch(r"[0-9a-f]{64}", req.form_submission_hash) and nonce not in req.form_submission_hash


def test_two_posts_of_the_same_form_at_once_make_one_request(make_app, mailbox, run_jobs):
    app = make_app()
    with app.app_context():
        nonce = form_nonce(app.test_client())
    barrier = threading.Barrier(2)
    statuses: list[int] = []

    def post():
        with app.app_context():
            client = app.test_client()
            barrier.wait()
            statuses.append(client.post("/request/new", data=dict(FORM, submission=nonce)).status_code)

    threads = [threading.Thread(target=post) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    with app.app_context():
        assert statuses == [303, 303]
        assert requests_count() == 1
        assert db.session.scalar(sa.select(sa.func.count()).select_from(OutboxMessage)) == 1


def test_the_same_form_changed_after_going_back_is_another_request(client):
    nonce = form_nonce(client)
    assert client.post("/request/new", data=dict(FORM, submission=nonce)).status_code == 303
    changed = dict(FORM, type="erasure", submission=nonce)
    assert client.post("/request/new", data=changed).status_code == 303
    assert requests_count() == 2


def test_each_form_gets_its_own_nonce_and_a_form_without_one_still_works(client):
    assert form_nonce(client) != form_nonce(client)
    assert client.post("/request/new", data=FORM).status_code == 303
    assert client.post("/request/new", data=dict(FORM, submission="not a nonce!")).status_code == 303
    assert requests_count() == 2


def test_a_form_with_errors_keeps_its_nonce(client):
    nonce = form_nonce(client)
    page = client.post("/request/new", data=dict(FORM, subject_email="", submission=nonce))
    assert page.status_code == 422
    assert f'name="submission" value="{nonce}"' in page.get_data(as_text=True)
