"""The professional's journey in Chromium: from the email actually received to the answer (policy art. 8.2).

Each page is kept as a screenshot under test-artifacts/screenshots/professional-*.png.
"""
from __future__ import annotations

import re
from datetime import timedelta

import pytest

from dsar.actors import Actor
from dsar.extensions import db
from dsar.models import DataRequest, utcnow
from dsar.models.enums import Status, TaskStatus
from dsar.services import routing
from hostile_files import valid_pdf
from routing_support import care_link, patient_request, professional

pytestmark = pytest.mark.browser


def _route_a_request(app, *, email: str, pro_email: str, first_name: str, last_name: str, details: str,
                     title: str | None = None) -> int:
    with app.app_context():
        policy = app.extensions["dsar_policy"]
        pro = professional(first_name="Hélène", last_name="Garnier", email=pro_email, title=title)
        care_link(pro, email=email)
        req = patient_request(policy, email=email, first_name=first_name, last_name=last_name,
                              received_at=utcnow() - timedelta(days=3), details=details)
        assert routing.auto_route(req, Actor.system()) == routing.RoutingOutcome.ROUTED
        db.session.commit()
        return req.id


def _link_from_mail(mailbox, to: str, run_jobs) -> str:
    run_jobs()
    deadline_messages = mailbox.wait_for(1)
    mine = [m for m in mailbox.messages if m["To"] == to]
    assert mine, f"no email to {to}: {[m['To'] for m in deadline_messages]}"
    match = re.search(r"(http://127\.0\.0\.1:\d+/task/\S+)", mailbox.text(mine[-1]))
    assert match, "the email carries no task link"
    return match.group(1)


def _watch_console(page) -> list[str]:
    problems: list[str] = []
    # Script errors and CSP violations. Not "Failed to load resource": a 422 or a 410 page is answered on purpose.
    page.on("console", lambda msg: problems.append(msg.text)
            if msg.type == "error" and not msg.text.startswith("Failed to load resource") else None)
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    return problems


def test_a_professional_acknowledges_and_answers_from_the_email(live_server, page, mailbox, run_jobs, artifacts):
    app, base = live_server()
    request_id = _route_a_request(app, email="camille@example.test", pro_email="dr.garnier@example.test",
                                  first_name="Camille", last_name="Fontaine",
                                  details="Je souhaite une copie de mes données dans l'application.",
                                  title="Docteur")
    link = _link_from_mail(mailbox, "dr.garnier@example.test", run_jobs)
    assert link.startswith(base)
    # Greeted as a French letter would (issue 18): the directory's title and the family name.
    assert mailbox.text(mailbox.to("dr.garnier@example.test")[-1]).startswith("Bonjour Docteur Garnier,")
    console = _watch_console(page)

    page.goto(link)
    assert page.title().startswith("Demande DSAR-")
    assert page.get_by_role("heading", level=1).inner_text().startswith("Demande relative aux données personnelles")
    facts = page.locator("dl.facts").inner_text()
    assert "Camille Fontaine" in facts and "Droit d'accès" in facts and "Je souhaite une copie" in facts
    assert "camille@example.test" not in page.content()
    page.screenshot(path=str(artifacts / "professional-01-task-page.png"), full_page=True)

    # Keyboard only: reach the acknowledge button and press Enter.
    button = page.get_by_role("button", name="J'accuse réception de cette demande")
    button.focus()
    page.keyboard.press("Enter")
    page.wait_for_load_state()
    assert "IDOMED sait que vous prenez cette demande en charge" in page.locator(".flashes").inner_text()
    assert page.get_by_role("button", name="J'accuse réception de cette demande").count() == 0
    page.screenshot(path=str(artifacts / "professional-02-acknowledged.png"), full_page=True)

    # A refusal without reasons: the page comes back with the message next to the field.
    page.get_by_label("Refusée (indiquez les motifs)", exact=True).check()
    page.get_by_label("Votre réponse au demandeur").fill("Je ne peux pas donner suite.")
    page.get_by_role("button", name="Voir ma réponse avant l'envoi").click()
    page.wait_for_load_state()
    summary = page.get_by_role("alert")
    assert "Veuillez corriger les points suivants" in summary.first.inner_text()
    reasons = page.locator("#task-reasons")
    assert reasons.get_attribute("aria-invalid") == "true"
    assert "task-reasons-error" in reasons.get_attribute("aria-describedby")
    assert "Indiquez les motifs du refus" in page.locator("#task-reasons-error").inner_text()
    page.screenshot(path=str(artifacts / "professional-03-answer-error.png"), full_page=True)

    # The answer: granted, with the data gathered as a PDF.
    page.get_by_label("Acceptée : il est fait droit à la demande en totalité", exact=True).check()
    page.get_by_label("Votre réponse au demandeur").fill("Vous trouverez ci-joint la copie de vos données.")
    page.get_by_label("Motifs du refus, total ou partiel").fill("")
    page.set_input_files("#task-files", files=[{"name": "donnees.pdf", "mimeType": "application/pdf",
                                                "buffer": valid_pdf()}])
    page.screenshot(path=str(artifacts / "professional-04-answer-filled.png"), full_page=True)
    page.get_by_role("button", name="Voir ma réponse avant l'envoi").click()
    page.wait_for_load_state()
    # Step 1 of 2 (issue 18): the letter and the files as they will go; nothing sent or recorded yet.
    assert page.get_by_role("heading", level=1).inner_text() == "Vérifiez votre réponse avant son envoi"
    assert page.evaluate("document.activeElement.id") == "preview-title"
    page.locator("#preview-letter img").first.wait_for()
    assert page.locator("#preview-letter img").first.evaluate("img => img.complete && img.naturalWidth > 100")
    assert "donnees.pdf" in page.locator("#preview-files").inner_text()
    with app.app_context():
        assert db.session.get(DataRequest, request_id).status != Status.ANSWERED
    page.screenshot(path=str(artifacts / "professional-045-answer-preview.png"), full_page=True)
    page.get_by_role("button", name="Confirmer et envoyer ma réponse").click()
    page.wait_for_load_state()
    assert "Votre réponse a été enregistrée" in page.locator(".flashes").inner_text()
    assert "Vous avez répondu à cette demande" in page.locator("main").inner_text()
    assert "Camille" not in page.locator("main").inner_text()
    page.screenshot(path=str(artifacts / "professional-05-answered.png"), full_page=True)
    assert console == []

    # Staff are told (issue 18): the reference, the outcome and the day, never the answer nor its files.
    run_jobs()
    told = [m for m in mailbox.to("dpo@example.test") if "le professionnel a répondu" in m["Subject"]]
    assert len(told) == 1
    body = told[0]["Subject"] + mailbox.text(told[0]) + mailbox.html(told[0])
    assert "Accordée" in body and "Vous trouverez ci-joint la copie" not in body and "donnees.pdf" not in body

    with app.app_context():
        req = db.session.get(DataRequest, request_id)
        assert req.status == Status.ANSWERED and req.outcome == "granted"
        assert req.reference in body
        assert req.tasks[-1].status == TaskStatus.ANSWERED
        assert [d.mime for d in req.documents if d.kind == "answer"] == ["application/pdf"]


def test_not_my_patient_then_the_link_stops_working(live_server, page, mailbox, run_jobs, artifacts):
    app, base = live_server()
    request_id = _route_a_request(app, email="inconnu@example.test", pro_email="dr.lenoir@example.test",
                                  first_name="Jules", last_name="Inconnu", details="Accès à mes données.")
    link = _link_from_mail(mailbox, "dr.lenoir@example.test", run_jobs)
    console = _watch_console(page)
    page.goto(link)

    page.get_by_label("Commentaire pour IDOMED").fill("Je ne suis pas le médecin de cette personne.")
    page.get_by_label("Je confirme que cette personne n'est pas ma patiente ou mon patient").check()
    page.screenshot(path=str(artifacts / "professional-06-decline.png"), full_page=True)
    page.get_by_role("button", name="Ce n'est pas mon patient").click()
    page.wait_for_load_state()
    assert page.get_by_role("heading", level=1).inner_text() == "Merci"
    assert "IDOMED traitera elle-même cette demande" in page.locator("main").inner_text()
    page.screenshot(path=str(artifacts / "professional-07-declined.png"), full_page=True)

    response = page.goto(link)
    assert response.status == 410
    assert "Ce lien a été retiré." in page.locator("main").inner_text()
    assert "Jules" not in page.content()
    page.screenshot(path=str(artifacts / "professional-08-link-withdrawn.png"), full_page=True)
    assert console == []

    with app.app_context():
        req = db.session.get(DataRequest, request_id)
        assert req.status == Status.OPEN and req.handler == "staff"


def test_an_expired_link_offers_a_new_one_sent_to_the_address_on_file(live_server, page, mailbox, run_jobs, artifacts):
    app, base = live_server()
    request_id = _route_a_request(app, email="expire@example.test", pro_email="dr.vidal@example.test",
                                  first_name="Léa", last_name="Secret", details="Accès.")
    link = _link_from_mail(mailbox, "dr.vidal@example.test", run_jobs)
    with app.app_context():
        task = db.session.get(DataRequest, request_id).tasks[-1]
        task.expires_at = utcnow() - timedelta(hours=1)
        db.session.commit()

    response = page.goto(link)
    assert response.status == 410
    assert "Ce lien a expiré." in page.locator("main").inner_text() and "Léa" not in page.content()
    page.screenshot(path=str(artifacts / "professional-09-expired.png"), full_page=True)
    mailbox.clear()
    page.get_by_role("button", name="M'envoyer un nouveau lien").click()
    page.wait_for_load_state()
    assert page.get_by_role("heading", level=1).inner_text() == "Un nouveau lien vous a été envoyé"
    page.screenshot(path=str(artifacts / "professional-10-new-link-sent.png"), full_page=True)

    fresh = _link_from_mail(mailbox, "dr.vidal@example.test", run_jobs)
    assert fresh != link
    page.goto(fresh)
    assert "Léa Secret" in page.locator("dl.facts").inner_text()
