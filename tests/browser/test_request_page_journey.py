"""Chromium (issue 18): on the DPO's request page, a refused action comes back with its error in view and
focused, its form first under the error; the actions the status allows stand near the top of the page.
Screenshot: request-page-failed-action.png in the artefacts folder."""
from __future__ import annotations

import re

import pytest

from backoffice_support import browser_sign_in, staff_with_totp
from dsar.extensions import db
from dsar.models.enums import Status
from factories import make_request

pytestmark = pytest.mark.browser


def _in_viewport(page, selector: str) -> bool:
    return page.locator(selector).evaluate(
        "el => { const r = el.getBoundingClientRect();"
        " return r.top >= -1 && r.top < window.innerHeight && r.bottom > 0; }")


def _dpo_and_request(app, email: str) -> tuple[str, str]:
    """A DPO with TOTP and a request in progress; returns the TOTP secret and the request's reference."""
    with app.app_context():
        policy = app.extensions["dsar_policy"]
        _, secret = staff_with_totp("dpo", email=email, name="Dana Page")
        req = make_request(policy=policy, status=Status.IN_PROGRESS, subject_kind="professional",
                           activities=["client_file"])
        db.session.commit()
        return secret, req.reference


def test_a_refused_action_opens_on_its_error(live_server, page, artifacts):
    app, base = live_server()
    secret, reference = _dpo_and_request(app, "dpo.fail@example.test")
    browser_sign_in(page, base, "dpo.fail@example.test", secret)
    page.goto(f"{base}/backoffice/requests/{reference}")
    # The actions the status allows come before the record of the request (facts, documents, rights, timeline).
    actions_y = page.locator("#actions-title").bounding_box()["y"]
    assert actions_y < page.locator("#facts-title").bounding_box()["y"]
    assert actions_y < page.locator("#rights-title").bounding_box()["y"]

    # Refuse without reasons: refused by the service (the reasons are required, GDPR art. 12(4)).
    page.locator("#form-refuse button[type=submit]").click()
    page.wait_for_selector("#failed-action")
    assert re.search(rf"/requests/{reference}/actions/refuse#failed-action$", page.url)
    assert _in_viewport(page, "#failed-action")
    assert page.evaluate("document.activeElement && document.activeElement.id") == "failed-action"
    summary = page.locator("#failed-action").inner_text()
    assert "rien n'a été enregistré" in summary and "obligatoire" in summary.lower()
    # The refused form stands right under its error, in view too, with its field error.
    assert _in_viewport(page, "#form-refuse")
    assert page.locator("#form-refuse .field-error").count() >= 1
    page.screenshot(path=str(artifacts / "request-page-failed-action.png"))

    # The summary's link leads to the form.
    page.locator("#failed-action a").first.click()
    assert page.url.endswith("#form-refuse")
    assert _in_viewport(page, "#form-refuse")


def test_an_answer_starts_from_its_text_and_its_letter_is_seen_before_recording(live_server, page, artifacts):
    app, base = live_server()
    secret, reference = _dpo_and_request(app, "dpo.preview@example.test")
    browser_sign_in(page, base, "dpo.preview@example.test", secret)
    page.goto(f"{base}/backoffice/requests/{reference}")
    page.locator("#answer-templates a", has_text="Refusée").click()
    page.wait_for_url(re.compile(r".*answer_template=refused#form-answer$"))
    assert page.locator("#answer-outcome").input_value() == "refused"
    text = page.locator("#answer-message").input_value()
    assert reference in text and "Nous ne pouvons pas y donner suite" in text
    assert _in_viewport(page, "#form-answer")
    page.fill("#answer-reasons", "Motif vu dans l'aperçu.")

    # The preview opens the letter in a new tab: a PDF, inline; nothing is recorded.
    pdfs = []
    page.context.on("response", lambda r: pdfs.append(r) if "/answer/preview" in r.url else None)
    with page.context.expect_page() as opened:
        page.locator("#answer-preview").click()
    opened.value.wait_for_load_state()
    page.wait_for_timeout(500)
    assert pdfs and pdfs[0].status == 200 and pdfs[0].headers["content-type"] == "application/pdf"
    assert pdfs[0].headers["content-disposition"].startswith("inline")
    page.screenshot(path=str(artifacts / "request-page-answer-template.png"))
    page.reload()
    assert page.locator("#request-status").inner_text().strip() == "en cours de traitement"
