"""Chromium: a DPO enrols TOTP and signs in, takes a request from identity review to its answer,
and sees the queue's counters change. Screenshots are kept in the artefacts folder."""
from __future__ import annotations

import re

import pyotp
import pytest

from backoffice_support import add_identity_document, png_bytes
from dsar.extensions import db
from dsar.models.enums import Status
from factories import PASSWORD, make_request, make_staff

pytestmark = pytest.mark.browser


def _counter(page, name: str) -> int:
    return int(page.locator(f"#counter-{name}").inner_text())


def test_dpo_journey_from_identity_review_to_answer(live_server, page, artifacts, tmp_path):
    app, base = live_server()
    with app.app_context():
        policy = app.extensions["dsar_policy"]
        make_staff("dpo", email="dpo.browser@example.test", name="Dana DPO")
        req = make_request(policy=policy, status=Status.IDENTITY_REVIEW, subject_kind="professional",
                           activities=["client_file"], last_name="Navigateur")
        add_identity_document(req, policy)
        make_request(policy=policy, status=Status.OPEN)
        db.session.commit()
        reference = req.reference

    # Sign in: password, then TOTP enrolment (first sign-in of a DPO), with the QR code shown inline.
    page.goto(f"{base}/backoffice/login")
    page.fill("#email", "dpo.browser@example.test")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r".*/backoffice/login/enrol$"))
    assert page.locator(".qr svg").count() == 1
    page.screenshot(path=str(artifacts / "backoffice-01-totp-enrolment.png"), full_page=True)
    secret = page.locator("#totp-secret").inner_text().strip()
    page.fill("#code", pyotp.TOTP(secret).now())
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r".*/backoffice/$"))

    # The queue: one open request, one awaiting its identity check.
    assert _counter(page, "open") == 1 and _counter(page, "awaiting-identity") == 1
    page.screenshot(path=str(artifacts / "backoffice-02-queue-before.png"), full_page=True)

    # The request page: the identity document in a sandboxed frame; accept it.
    page.click(f"a:text('{reference}')")
    page.wait_for_url(re.compile(rf".*/backoffice/requests/{reference}$"))
    assert page.locator("iframe.document-viewer[sandbox]").count() == 1
    frame = page.frame_locator("iframe.document-viewer")
    frame.locator("img").wait_for()
    assert frame.locator("img").evaluate("img => img.complete && img.naturalWidth") == 64  # the PNG, decrypted
    page.screenshot(path=str(artifacts / "backoffice-03-identity-review.png"), full_page=True)
    page.click("#form-verify_identity button[type=submit]")
    page.wait_for_selector(".flash")
    assert "Identité acceptée" in page.locator(".flash").inner_text()

    page.goto(f"{base}/backoffice/")
    assert _counter(page, "open") == 2 and _counter(page, "awaiting-identity") == 0

    # Assign it to me, then record the answer with a file.
    page.goto(f"{base}/backoffice/requests/{reference}")
    page.select_option("#assign-assignee_id", label="Dana DPO")
    page.click("#form-assign button[type=submit]")
    page.wait_for_selector(".flash")
    # The checklist (policy request_types.access.steps, GDPR art. 15(4)): every step ticked before the answer.
    assert page.locator("#checklist tr.step-open").count() >= 1
    while page.locator("#checklist tr.step-open button[type=submit]").count():
        with page.expect_navigation():
            page.locator("#checklist tr.step-open button[type=submit]").first.click()
    assert "Étape marquée comme faite" in page.locator(".flash").inner_text()
    answer_file = tmp_path / "donnees.png"
    answer_file.write_bytes(png_bytes((10, 120, 10)))
    page.select_option("#answer-outcome", "granted")
    page.fill("#answer-message", "Vous trouverez ci-joint vos données.")
    page.set_input_files("#answer-files", str(answer_file))
    page.click("#form-answer button[type=submit]")
    page.wait_for_selector(".flash")
    assert page.locator("#request-status").inner_text().strip() == "répondue"
    page.screenshot(path=str(artifacts / "backoffice-04-answered.png"), full_page=True)

    # Answered: no longer counted as open.
    page.goto(f"{base}/backoffice/")
    assert _counter(page, "open") == 1
    page.screenshot(path=str(artifacts / "backoffice-05-queue-after.png"), full_page=True)


def test_keyboard_only_sign_in_and_wrong_code_message(live_server, page, artifacts):
    app, base = live_server()
    with app.app_context():
        make_staff("agent", email="agent.kb@example.test")
        db.session.commit()
    page.goto(f"{base}/backoffice/login")
    page.keyboard.press("Tab")  # skip link
    page.focus("#email")
    page.keyboard.type("agent.kb@example.test")
    page.keyboard.press("Tab")
    page.keyboard.type("not the password")
    page.keyboard.press("Enter")
    page.wait_for_selector(".field-error")
    assert "incorrect" in page.locator(".field-error").inner_text()
    page.screenshot(path=str(artifacts / "backoffice-06-login-refused.png"))
