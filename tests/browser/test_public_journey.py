"""The requester's whole journey in headless Chromium: the form, the email actually received, the confirmation,
a refused and an accepted upload, the status page. A screenshot of each page is kept under
test-artifacts/screenshots/public-*.png."""
from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from dsar.extensions import db
from dsar.models import DataRequest, Document
from hostile_files import valid_jpeg

pytestmark = pytest.mark.browser


def _watch_console(page) -> list[str]:
    problems: list[str] = []
    # Script errors and CSP violations; not "Failed to load resource" (a 422 page is answered on purpose).
    page.on("console", lambda msg: problems.append(msg.text)
            if msg.type == "error" and not msg.text.startswith("Failed to load resource") else None)
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    return problems


def _email_link(mailbox, run_jobs, to: str, kind: str, count: int) -> str:
    run_jobs()
    mailbox.wait_for(count)
    mine = [m for m in mailbox.messages if m["To"] == to]
    found = re.search(r"(http://127\.0\.0\.1:\d+/%s/\S+)" % kind, mailbox.text(mine[-1]))
    assert found, f"no /{kind}/ link in the email"
    return found.group(1)


def test_a_person_makes_a_request_confirms_it_from_the_email_and_sends_an_identity_document(
        live_server, page, mailbox, run_jobs, artifacts, tmp_path):
    app, base = live_server()
    console = _watch_console(page)

    # Home page, French by default; the keyboard reaches the form.
    page.goto(base + "/")
    assert page.get_by_role("heading", level=1).inner_text() == "Exercez vos droits sur vos données personnelles"
    assert "31 août" in page.locator(".deadline-explained").inner_text()
    page.screenshot(path=str(artifacts / "public-01-home.png"), full_page=True)
    page.get_by_role("link", name="Faire une demande").focus()
    page.keyboard.press("Enter")
    page.wait_for_url(base + "/request/new")

    # The script hides what does not apply; choosing "someone else" brings the representative's fields back.
    representative = page.locator("#fieldset-requester")
    assert representative.is_hidden()
    page.get_by_label("Non, j'agis pour une autre personne").check()
    assert representative.is_visible()
    page.get_by_label("Oui, les données me concernent").check()
    assert representative.is_hidden()

    page.get_by_label("Droit d'accès").check()
    page.get_by_label("Patient", exact=True).check()
    assert page.locator("#fieldset-medical").is_visible()
    page.get_by_label("Prénom", exact=True).fill("Camille")
    page.get_by_label("Nom", exact=True).fill("Fontaine")
    page.get_by_label("Adresse e-mail", exact=True).fill("camille@")     # a mistake first
    page.get_by_label("Votre demande, avec vos mots (facultatif)").fill("Je souhaite une copie de mes données.")
    page.get_by_role("button", name="Envoyer ma demande").click()
    page.wait_for_load_state()

    # The errors: a summary linking to each field, and the message next to it.
    summary = page.locator(".error-summary")
    assert summary.is_visible() and "Veuillez corriger" in summary.inner_text()
    email = page.locator("#field-subject_email")
    assert email.get_attribute("aria-invalid") == "true"
    assert "nom@exemple.fr" in page.locator("#subject_email-error").inner_text()
    assert email.input_value() == "camille@"
    page.screenshot(path=str(artifacts / "public-02-form-errors.png"), full_page=True)
    summary.get_by_role("link", name=re.compile("adresse e-mail valide")).click()
    assert page.evaluate("document.activeElement.id") == "field-subject_email"

    email.fill("camille@example.test")
    page.get_by_label("Je confirme que ces informations sont exactes").check()
    page.screenshot(path=str(artifacts / "public-03-form-filled.png"), full_page=True)
    page.get_by_role("button", name="Envoyer ma demande").click()
    page.wait_for_url(base + "/request/sent")
    reference = page.locator("#reference").inner_text()
    assert re.fullmatch(r"DSAR-\d{4}-\d{6}", reference)
    page.screenshot(path=str(artifacts / "public-04-sent.png"), full_page=True)

    # The email actually received by the SMTP server carries the reference and the confirmation link.
    confirm = _email_link(mailbox, run_jobs, "camille@example.test", "confirm", 1)
    assert reference in mailbox.messages[0]["Subject"]
    page.goto(confirm)
    page.screenshot(path=str(artifacts / "public-05-confirm.png"), full_page=True)
    page.get_by_role("button", name="Confirmer mon adresse e-mail").focus()
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r".*/status/.*"))
    assert page.locator("#status-label").inner_text() == "En attente de votre justificatif d'identité"
    assert "Merci : votre adresse e-mail est confirmée" in page.locator(".flashes").inner_text()
    assert "camille@example.test" not in page.content() and "Fontaine" not in page.content()
    page.screenshot(path=str(artifacts / "public-06-status-awaiting-identity.png"), full_page=True)

    # A file that is not what it claims: refused next to the field, nothing stored.
    fake = tmp_path / "carte.png"
    fake.write_bytes(b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>')
    page.set_input_files("#field-document", str(fake))
    page.get_by_role("button", name="Envoyer le document").click()
    page.wait_for_load_state()
    assert "Ce type de fichier n'est pas accepté" in page.locator("#document-error").inner_text()
    assert page.locator("#field-document").get_attribute("aria-invalid") == "true"
    page.screenshot(path=str(artifacts / "public-07-upload-refused.png"), full_page=True)
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(Document.id))) == 0

    # A real scan goes through.
    scan = tmp_path / "cni.jpg"
    scan.write_bytes(valid_jpeg())
    page.set_input_files("#field-document", str(scan))
    page.get_by_role("button", name="Envoyer le document").click()
    page.wait_for_url(re.compile(r".*/status/.*#documents"))
    assert page.locator("#status-label").inner_text() == "Nous vérifions vos documents"
    assert "En attente de vérification" in page.locator("#documents").inner_text()
    assert page.locator("#documents a").count() == 0           # the document itself is never shown
    page.screenshot(path=str(artifacts / "public-08-status-identity-review.png"), full_page=True)
    with app.app_context():
        req = db.session.scalars(sa.select(DataRequest)).one()
        assert req.reference == reference and req.status == "identity_review"
        assert req.documents[0].mime == "image/jpeg"

    # The received email's link opens the same page; the English switch works there too.
    status_link = _email_link(mailbox, run_jobs, "camille@example.test", "status", 2)
    page.goto(status_link)
    assert page.locator("#status-label").inner_text() == "Nous vérifions vos documents"
    page.get_by_role("link", name="English").click()
    page.wait_for_load_state()
    assert page.locator("#status-label").inner_text() == "We are checking your documents"
    assert page.locator("html").get_attribute("lang") == "en"
    page.screenshot(path=str(artifacts / "public-09-status-english.png"), full_page=True)

    # Withdrawal is there, behind a box to tick.
    page.get_by_role("button", name="Withdraw my request").click()
    page.wait_for_load_state()
    assert "Tick the box" in page.locator("#confirm-error").inner_text()
    # On the page the email's link opened (its token is signed when the email is queued: it equals the one of
    # the confirmation's redirect only when both were signed in the same second).
    assert page.url.split("#")[0].startswith(status_link.split("#")[0].split("?")[0])
    assert console == [], console


def test_the_form_is_usable_on_a_phone(live_server, browser, artifacts):
    app, base = live_server()
    context = browser.new_context(viewport={"width": 375, "height": 740}, locale="fr-FR", is_mobile=True)
    page = context.new_page()
    try:
        page.goto(base + "/request/new")
        # Nothing wider than the screen: no sideways scrolling, no zooming out.
        assert page.evaluate("document.documentElement.scrollWidth") <= 375
        widest = page.evaluate("Math.max(...[...document.querySelectorAll('main *')]"
                               ".map(e => e.getBoundingClientRect().right))")
        assert widest <= 375
        button = page.get_by_role("button", name="Envoyer ma demande")
        assert button.bounding_box()["width"] >= 300
        page.screenshot(path=str(artifacts / "public-10-form-phone.png"), full_page=True)
    finally:
        context.close()
