"""Identity reviews (issue 18): first in the queue with how long they have waited, the assignee or the DPO told when
a document arrives (reference and link only), and listed in the daily digest. GDPR art. 12(6), policy art. 8.3."""
from __future__ import annotations

import html as html_lib
import io
import re
from datetime import timedelta


from dsar.extensions import db
from dsar.models import DataRequest, OutboxMessage, utcnow
from backoffice_support import signed_in_client
from factories import make_staff
from hostile_files import valid_pdf
from public_support import web_request


def _person(email, last_name):
    return {"kind": "prospect", "first_name": "Jeanne", "last_name": last_name, "email": email}


def _age(req, by: timedelta):
    for doc in db.session.get(DataRequest, req.id).documents:
        doc.uploaded_at = utcnow() - by
    db.session.commit()


def _upload(client, token):
    r = client.post(f"/status/{token}/document", data={"document": (io.BytesIO(valid_pdf()), "cni.pdf")},
                    content_type="multipart/form-data")
    assert r.status_code == 303


def test_identity_reviews_come_first_with_their_age_and_the_dpo_is_told(app, client, mailbox, run_jobs):
    old, old_token = web_request(subject=_person("ancien@example.test", "Ancien"))
    _upload(client, old_token)
    _age(old, timedelta(days=3, hours=2))
    new, new_token = web_request(subject=_person("recent@example.test", "Recent"))
    _upload(client, new_token)
    run_jobs()
    told = [m for m in mailbox.wait_for(2) if m["To"] == "dpo@example.test"]
    assert len(told) == 2
    assert {old.reference, new.reference} == {re.search(r"DSAR-\d{4}-\d{6}", m["Subject"]).group(0) for m in told}
    body = mailbox.text(told[0])
    assert "/backoffice/requests/DSAR-" in body and "pièce d'identité" in body
    assert "Ancien" not in body and "ancien@example.test" not in body     # a reference, never the person

    staff_client, _ = signed_in_client(app, "dpo")
    page = html_lib.unescape(staff_client.get("/backoffice/?lang=fr").get_data(as_text=True))
    section = re.search(r'<section id="identity-reviews".*?</section>', page, re.S)
    assert section, "identity reviews are shown above the queue"
    text = section.group(0)
    assert "Pièces d'identité à vérifier (2)" in text
    assert text.index(old.reference) < text.index(new.reference)            # the longest-waiting first
    assert re.search(rf"{old.reference}.*?3 jours", text, re.S)
    assert page.index('id="identity-reviews"') < page.index('<table class="queue">\n  <caption')


def test_the_assignee_is_told_rather_than_the_dpo(app, client, mailbox, run_jobs):
    req, token = web_request()
    agent = make_staff("agent", email="agent.x@example.test")
    fresh = db.session.get(DataRequest, req.id)
    fresh.assignee_id = agent.id
    db.session.commit()
    _upload(client, token)
    run_jobs()
    [msg] = [m for m in mailbox.wait_for(1) if "DSAR-" in m["Subject"] and "vérifier" in m["Subject"]]
    assert msg["To"] == "agent.x@example.test" and req.reference in msg["Subject"]


def test_the_daily_digest_lists_waiting_identity_reviews(app, client, mailbox, run_jobs):
    from dsar.jobs.digest import send_dpo_digest

    req, token = web_request(subject=_person("s@example.test", "Secretnom"))
    _upload(client, token)
    _age(req, timedelta(days=2, hours=1))
    db.session.query(OutboxMessage).delete()
    db.session.commit()
    assert send_dpo_digest().startswith("sent")
    run_jobs()
    digest = [m for m in mailbox.wait_for(1) if "Récapitulatif" in m["Subject"] or "digest" in m["Subject"].lower()]
    body = mailbox.text(digest[-1])
    assert "Pièces d'identité à vérifier : 1" in body
    assert req.reference in body and "en attente depuis 2 jours" in body and "Secretnom" not in body
