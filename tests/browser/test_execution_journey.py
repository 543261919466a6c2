"""Chromium, issue 17: the DPO computes the dry run of an erasure, reads what would be deleted and kept,
approves it, executes it, and answers; the letter states what was done in the systems, from the execution.
Screenshots under test-artifacts/screenshots/execution-*.png."""
from __future__ import annotations

import re

import pytest

from dsar.extensions import db
from dsar.models import DataRequest
from dsar.models.enums import RequestType, Status, SubjectKind
from tests.appdb import SYSTEMS_FILE, appdb  # noqa: F401 - the fixture
from tests.backoffice_support import staff_with_totp, totp_code
from tests.collection_support import run_jobs_of
from tests.factories import PASSWORD, make_request
from tests.fulfilment_support import pdf_text, read_stored

pytestmark = pytest.mark.browser


def _drain(app):
    with app.app_context():
        for _ in range(6):
            if not run_jobs_of(app):
                break


def test_dpo_reviews_approves_and_executes_an_erasure_and_the_letter_says_what_was_done(live_server, page, appdb,
                                                                                       artifacts):
    app, base = live_server(DSAR_SYSTEMS=str(SYSTEMS_FILE))
    with app.app_context():
        policy = app.extensions["dsar_policy"]
        dpo, secret = staff_with_totp("dpo", email="dpo.exec@example.test", name="Dana DPO")
        req = make_request(policy=policy, type=RequestType.ERASURE, subject_kind=SubjectKind.PROFESSIONAL,
                           status=Status.IN_PROGRESS, email="dr.martin@app.test", external_account_id="pro-martin",
                           first_name="Jeanne", last_name="Martin", assignee_id=dpo.id)
        db.session.commit()
        reference = req.reference
    devices_before = len(appdb.rows("devices"))

    page.goto(f"{base}/backoffice/login")
    page.fill("#email", "dpo.exec@example.test")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.fill("#code", totp_code(secret))
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r".*/backoffice/$"))
    page.goto(f"{base}/backoffice/requests/{reference}")

    # The dry run: what would be deleted, what is kept and on which ground; nothing changed yet.
    page.click("#dry-run-compute")
    page.wait_for_selector("#dry-run-lines")
    lines = page.locator("#dry-run-lines").inner_text()
    assert re.search(r"devices\s+Supprimer les lignes\s+1", lines), lines
    assert re.search(r"invoices\s+Conserver\s+2\s+preuve \(constatation, exercice ou défense de droits en justice\) \(RGPD art\. 17\(3\)\(e\)\)", lines), lines
    assert "en attente d'approbation" in page.locator("#dry-run-status").inner_text()
    page.screenshot(path=str(artifacts / "execution-01-dry-run.png"), full_page=True)
    assert len(appdb.rows("devices")) == devices_before

    page.click("#dry-run-approve")
    page.wait_for_selector("#dry-run-execute")
    assert "approuvée" in page.locator("#dry-run-status").inner_text()
    page.click("#dry-run-execute")
    page.wait_for_selector(".flash")
    _drain(app)
    page.goto(f"{base}/backoffice/requests/{reference}")
    assert "exécutée" in page.locator("#dry-run-status").inner_text()
    assert len(appdb.rows("devices")) == devices_before - 1
    page.screenshot(path=str(artifacts / "execution-02-executed.png"), full_page=True)

    # The answer: the letter says what was done, from the execution.
    page.select_option("#answer-outcome", "granted")
    page.fill("#answer-message", "Vos données ont été effacées, sauf ce que la loi nous oblige à conserver.")
    page.click("#form-answer button[type=submit]")
    page.wait_for_selector(".flash")
    with app.app_context():
        req = db.session.query(DataRequest).filter_by(reference=reference).one()
        letter = next(d for d in req.documents if d.kind == "letter")
        text = pdf_text(read_stored(letter))
    assert "Ce qui a été fait dans nos systèmes" in text
    assert "Effacé : 1 enregistrement(s)" in text          # the device, as executed
    assert "Conservé : 2 enregistrement(s)" in text        # the invoices, kept (evidence, 10 years)
