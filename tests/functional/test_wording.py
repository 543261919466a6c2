"""French and English wording (issue 18): agreement of counters, "Reçu le" for a document, dates written the
French way in the back-office, English emails give sizes in KB, French spacing before a colon."""
from __future__ import annotations

import html as html_lib
import io
import re

from dsar.extensions import db
from dsar.models.enums import Status
from dsar.services import actions
from backoffice_support import signed_in_client
from factories import make_request
from fulfilment_support import add_answer_files, new_request, staff_actor
from hostile_files import valid_pdf
from public_support import web_request


def _text(res) -> str:
    return html_lib.unescape(res.get_data(as_text=True))


def test_queue_counters_agree_and_back_office_dates_are_french(app, policy):
    req = make_request(policy=policy, status=Status.OPEN)
    db.session.commit()
    client, _ = signed_in_client(app, "dpo")
    page = _text(client.get("/backoffice/?lang=fr"))
    assert re.search(r'id="counter-open">1</strong> ouverte<', page)
    make_request(policy=policy, status=Status.OPEN)
    db.session.commit()
    assert re.search(r'id="counter-open">2</strong> ouvertes<', _text(client.get("/backoffice/")))
    detail = _text(client.get(f"/backoffice/requests/{req.reference}"))
    due = re.search(r'id="due-date">([^<]+)<', detail).group(1).strip()
    assert re.fullmatch(r"\d{1,2} [a-zéû]+\.? \d{4}", due), due          # "7 avr. 2026", not 2026-04-07
    english = _text(client.get(f"/backoffice/requests/{req.reference}?lang=en"))
    assert re.fullmatch(r"[A-Z][a-z]{2} \d{1,2}, \d{4}", re.search(r'id="due-date">([^<]+)<', english).group(1).strip())


def test_a_document_is_received_masculine_and_refusal_reasons_take_french_spacing(client):
    req, token = web_request()
    client.post(f"/status/{token}/document", data={"document": (io.BytesIO(valid_pdf()), "cni.pdf")},
                content_type="multipart/form-data")
    page = _text(client.get(f"/status/{token}?lang=fr"))
    table = re.search(r'<section id="documents".*?</section>', page, re.S).group(0)
    assert "Reçu le" in table and "Reçue le" not in table


def test_english_emails_give_sizes_in_kb(app, policy, mailbox, run_jobs):
    _, actor = staff_actor()
    req = new_request(policy, type="access", language="en")
    add_answer_files(req, actor, policy)
    actions.answer(req, actor, outcome="granted", message="Here is your data.")
    db.session.commit()
    run_jobs()
    mail = next(m for m in mailbox.wait_for(1) if m["To"] == req.requester.email)
    text = mailbox.text(mail)
    assert re.search(r"\(\d+ KB\)", text) and not re.search(r"\d+ Ko\b", text)


def test_the_stored_answer_is_labelled_with_a_noun(app, policy):
    """Issue 18: the answer on the request page read "Répondre" (a verb); it is "Réponse"."""
    req = make_request(policy=policy, status=Status.IN_PROGRESS)
    actions.answer(req, staff_actor()[1], outcome="no_data", message="Voici vos données.")
    db.session.commit()
    client, _ = signed_in_client(app, "dpo")
    page = _text(client.get(f"/backoffice/requests/{req.reference}?lang=fr"))
    assert re.search(r"<dt>Réponse</dt><dd class=\"pre\">Voici vos données.</dd>", page)
    assert "<dt>Répondre</dt>" not in page
