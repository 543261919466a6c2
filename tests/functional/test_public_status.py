"""Email confirmation, the requester's status page and what it offers, over HTTP; links that must not open."""
import html as html_lib
import re
from datetime import datetime, timedelta, timezone

import sqlalchemy as sa
import time_machine

from dsar.actors import Actor
from dsar.extensions import db
from dsar.models import DataRequest, Event, utcnow
from dsar.services import actions, intake
from dsar.tokens import make_token
from factories import make_staff
from public_support import FORM, Page, field_error, link_in, web_request


def text_of(res) -> str:
    return html_lib.unescape(res.get_data(as_text=True))


def fresh(req_id):
    db.session.expire_all()
    return db.session.get(DataRequest, req_id)


def status_label(res) -> str:
    return html_lib.unescape(re.search(r'id="status-label">([^<]*)<', res.get_data(as_text=True)).group(1))


def test_the_emailed_link_confirms_only_when_the_person_presses_the_button(client, mailbox, run_jobs):
    client.post("/request/new", data=FORM)
    run_jobs()
    confirm = link_in(mailbox.text(mailbox.wait_for(1)[0]), "confirm")
    req = db.session.scalars(sa.select(DataRequest)).one()
    page = client.get(confirm)                      # what a mail scanner does: nothing changes
    assert page.status_code == 200 and "Confirmer mon adresse e-mail" in text_of(page)
    assert fresh(req.id).status == "unconfirmed"
    res = client.post(confirm)
    assert res.status_code == 303 and "/status/" in res.headers["Location"]
    assert fresh(req.id).status == "awaiting_identity"
    status = client.get(res.headers["Location"])
    assert status.status_code == 200
    assert status_label(status) == "En attente de votre justificatif d'identité"
    assert "Merci : votre adresse e-mail est confirmée" in text_of(status)
    assert 'action="%s/document"' % res.headers["Location"] in status.get_data(as_text=True)
    # The status link comes by email, with what is expected next.
    run_jobs()
    received = mailbox.wait_for(2)[1]
    assert received["Subject"] == f"Nous avons bien reçu votre demande {req.reference}"
    assert intake.request_for_status_token(link_in(mailbox.text(received), "status").rsplit("/", 1)[1]).id == req.id
    assert "pièce d'identité" in mailbox.text(received)


def test_a_confirmation_link_clicked_twice_just_opens_the_status_page(client):
    req, _ = web_request(confirm=False)
    link = f"/confirm/{intake.confirmation_token(req)}"
    assert client.post(link).status_code == 303
    again = client.post(link)
    assert again.status_code == 303 and "/status/" in again.headers["Location"]
    assert "déjà confirmée" in text_of(client.get(again.headers["Location"]))
    assert client.get(link).status_code == 303
    assert [e.action for e in db.session.scalars(sa.select(Event).where(Event.request_id == req.id))] == [
        "received", "confirm_email"]


def test_an_expired_confirmation_link_says_so_and_offers_new_links(client):
    req, _ = web_request(confirm=False)
    link = f"/confirm/{intake.confirmation_token(req)}"
    with time_machine.travel(utcnow() + timedelta(hours=49), tick=False):
        res = client.post(link)
        assert client.get(link).status_code == 410
    assert res.status_code == 410
    page = text_of(res)
    assert "Ce lien a expiré." in page and 'href="/links"' in page
    assert fresh(req.id).status == "unconfirmed"


def test_tampered_wrong_purpose_and_unknown_links_get_the_same_answer(client):
    req, token = web_request()
    confirm = intake.confirmation_token(req)
    tampered = token[:-3] + ("abc" if not token.endswith("abc") else "xyz")
    gone = make_token("status", {"r": req.id + 1000, "k": req.status_link_salt})    # well signed, no such request
    bodies = set()
    for path in (f"/status/{tampered}", f"/status/{confirm}", f"/confirm/{token}", f"/status/{gone}",
                 f"/status/{req.reference}", "/status/x"):
        res = client.get(path)
        assert res.status_code == 400, path
        page = text_of(res)
        assert "Ce lien n'est pas valide." in page and req.reference not in page
        bodies.add(re.sub(r'value="[^"]*"', "", page))
    assert len(bodies) == 1              # nothing tells a missing request from a forged link
    for action in ("withdraw", "clarification", "document"):
        assert client.post(f"/status/{tampered}/{action}", data={"confirm": "1"}).status_code == 400
    assert fresh(req.id).status == "awaiting_identity"


def test_one_requesters_link_never_opens_another_request(client):
    a, token_a = web_request()
    b, token_b = web_request(email="paul@example.test", type="erasure")
    page_a, page_b = text_of(client.get(f"/status/{token_a}")), text_of(client.get(f"/status/{token_b}"))
    assert a.reference in page_a and b.reference not in page_a
    assert b.reference in page_b and a.reference not in page_b
    forged = make_token("status", {"r": b.id, "k": a.status_link_salt})
    assert client.get(f"/status/{forged}").status_code == 400
    assert client.post(f"/status/{forged}/withdraw", data={"confirm": "1"}).status_code == 400
    assert fresh(b.id).status == "awaiting_identity"


def test_the_status_page_shows_no_personal_data_and_is_never_cached(client):
    req, token = web_request()
    res = client.get(f"/status/{token}")
    page = text_of(res)
    assert res.headers["Cache-Control"] == "no-store"
    assert "Jeanne" not in page and "Dupont" not in page and "jeanne@example.test" not in page
    assert "Jeanne" not in token and "@" not in token


def test_the_status_page_speaks_the_language_of_the_request_unless_the_person_chooses(client):
    req, token = web_request(language="en")
    res = client.get(f"/status/{token}", headers={"Accept-Language": "fr"})
    assert 'lang="en"' in res.get_data(as_text=True) and status_label(res) == "Waiting for your identity document"
    res = client.get(f"/status/{token}?lang=fr")
    assert status_label(res) == "En attente de votre justificatif d'identité"


def test_the_requester_withdraws_after_ticking_the_box(client, mailbox, run_jobs):
    req, token = web_request()
    run_jobs()
    mailbox.wait_for(2)
    page = client.get(f"/status/{token}").get_data(as_text=True)
    version = re.search(r'name="version" value="(\d+)"', page).group(1)
    res = client.post(f"/status/{token}/withdraw", data={"version": version})
    assert res.status_code == 422
    assert field_error(res.get_data(as_text=True), "confirm").startswith("Cochez la case")
    assert fresh(req.id).status == "awaiting_identity"
    res = client.post(f"/status/{token}/withdraw", data={"version": version, "confirm": "1"})
    assert res.status_code == 303
    assert fresh(req.id).status == "withdrawn"
    after = client.get(res.headers["Location"])
    assert status_label(after) == "Retirée" and 'action="/status/%s/withdraw"' % token not in after.get_data(as_text=True)
    run_jobs()
    assert mailbox.wait_for(3)[-1]["Subject"] == f"Votre demande {req.reference} est retirée"
    again = client.post(f"/status/{token}/withdraw", data={"confirm": "1"})
    assert again.status_code == 409 and "n'est pas possible" in text_of(again)


def test_a_stale_page_cannot_withdraw(client):
    req, token = web_request()
    stale = fresh(req.id).version
    actions.refuse(fresh(req.id), Actor.for_staff(make_staff("dpo")), reasons="Manifestly unfounded")
    db.session.commit()
    res = client.post(f"/status/{token}/withdraw", data={"version": str(stale), "confirm": "1"})
    assert res.status_code == 409
    assert fresh(req.id).status == "refused"


def test_the_requester_answers_a_clarification_and_the_deadline_moves(client, mailbox, run_jobs, policy):
    staff = Actor.for_staff(make_staff("dpo"))
    req, token = web_request(channel="phone", identity_method="in_person", actor=staff,
                             received_at=datetime(2026, 3, 5, 9, tzinfo=timezone.utc), subject={
                                 "kind": "prospect", "first_name": "Jeanne", "last_name": "Dupont",
                                 "email": "jeanne@example.test"}, confirm=False)
    with time_machine.travel(datetime(2026, 3, 10, 9, tzinfo=timezone.utc), tick=False):
        # An identity question: the period is suspended (décret n° 2019-536 art. 77; policy deadlines.clarifications).
        actions.ask_clarification(fresh(req.id), staff, question="Which of your two addresses?", kind="identity")
        db.session.commit()
    run_jobs()
    asked = [m for m in mailbox.wait_for(2) if "Une question" in m["Subject"]][0]
    path = link_in(mailbox.text(asked), "status")
    assert intake.request_for_status_token(path.rsplit("/", 1)[1]).id == req.id
    assert "#clarification" in mailbox.text(asked)
    page = client.get(path)
    assert status_label(page) == "En attente de votre réponse" and "Which of your two addresses?" in text_of(page)
    assert "suspendu à compter du 10 mars 2026" in text_of(page) and "art. 77" in text_of(page)
    assert "suspendu à compter du 10 mars 2026" in mailbox.text(asked)
    empty = client.post(f"{path}/clarification", data={"answer": "  "})
    assert empty.status_code == 422 and field_error(empty.get_data(as_text=True), "answer") == "Écrivez votre réponse à notre question."
    with time_machine.travel(datetime(2026, 3, 20, 9, tzinfo=timezone.utc), tick=False):
        res = client.post(f"{path}/clarification", data={"answer": "The second one."})
    assert res.status_code == 303
    req = fresh(req.id)
    assert req.status == "in_progress" and req.pauses[-1].answer == "The second one."
    assert str(req.due_date) == "2026-04-15"            # rule 4: 10 paused days added to 5 April
    assert "15 avril 2026" in text_of(client.get(path))
    assert client.post(f"{path}/clarification", data={"answer": "again"}).status_code == 409


def test_a_refused_document_is_replaced_through_the_link_in_the_email(client, mailbox, run_jobs):
    import io

    from hostile_files import valid_jpeg, valid_png

    req, token = web_request()
    res = client.post(f"/status/{token}/document",
                      data={"kind": "identity", "document": (io.BytesIO(valid_jpeg()), "cni.jpg", "image/jpeg")},
                      content_type="multipart/form-data")
    assert res.status_code == 303 and fresh(req.id).status == "identity_review"
    actions.refuse_identity(fresh(req.id), Actor.for_staff(make_staff("dpo")), reason="Document expiré")
    db.session.commit()
    run_jobs()
    refused = [m for m in mailbox.wait_for(3) if "autre document" in m["Subject"]][0]
    path = link_in(mailbox.text(refused), "status")
    page = client.get(path)
    assert status_label(page) == "En attente de votre justificatif d'identité"
    assert "Document expiré" in text_of(page) and 'id="upload"' in page.get_data(as_text=True)
    res = client.post(f"{path}/document",
                      data={"kind": "identity", "document": (io.BytesIO(valid_png()), "cni.png", "image/png")},
                      content_type="multipart/form-data")
    assert res.status_code == 303 and fresh(req.id).status == "identity_review"
    rows = text_of(client.get(path))
    assert "Refusé le" in rows and "En attente de vérification" in rows


def test_lost_links_get_the_same_answer_whether_or_not_the_address_is_known(client, mailbox, run_jobs):
    req, _ = web_request()
    run_jobs()
    mailbox.wait_for(2)
    mailbox.clear()
    known = client.post("/links", data={"email": "Jeanne@example.test"})
    unknown = client.post("/links", data={"email": "nobody@example.test"})
    assert known.status_code == unknown.status_code == 200
    assert Page(known.get_data(as_text=True)).ids == Page(unknown.get_data(as_text=True)).ids
    assert text_of(known) == text_of(unknown)
    run_jobs()
    [msg] = mailbox.wait_for(1)
    assert msg["To"] == "jeanne@example.test"
    assert intake.request_for_status_token(link_in(mailbox.text(msg), "status").rsplit("/", 1)[1]).id == req.id
    bad = client.post("/links", data={"email": "not an address"})
    assert bad.status_code == 422 and field_error(bad.get_data(as_text=True), "email")


def test_the_status_page_follows_the_request_to_its_answer(client, policy, mailbox, run_jobs):
    req, token = web_request()
    import io

    from hostile_files import valid_pdf

    client.post(f"/status/{token}/document", data={"document": (io.BytesIO(valid_pdf()), "cni.pdf")},
                content_type="multipart/form-data")
    dpo = Actor.for_staff(make_staff("dpo"))
    actions.verify_identity(fresh(req.id), dpo)
    db.session.commit()
    page = client.get(f"/status/{token}")
    assert status_label(page) == "Reçue et complète"
    due = fresh(req.id).due_date
    assert f"{due.day} " in text_of(page) and str(due.year) in text_of(page)
    assert "Vérifié le" in text_of(page) and not Page(page.get_data(as_text=True)).links.count("/files")
    assert 'id="upload"' not in page.get_data(as_text=True)         # nothing more to send
    run_jobs()
    accepted = [m for m in mailbox.wait_for(3) if m["Subject"].startswith("Votre identité est vérifiée")][0]
    assert f"{due.day} " in mailbox.text(accepted) and "/status/" in mailbox.text(accepted)
    # A year and a day after the check, the copy is gone; the record of the check stays on the page.
    from datetime import timedelta

    assert intake.purge_identity_copies(due + timedelta(days=400)) == 1
    db.session.commit()
    later = text_of(client.get(f"/status/{token}"))
    assert "Vérifié le" in later and "Copie supprimée le" in later
