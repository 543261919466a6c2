"""Chromium, art. 8.2 sealed (issue 16): the DPO sees counts, not contents, of the patient's collected
conversations; the professional previews them, withholds one item and releases; the patient downloads a pack
without the withheld item. Screenshots under test-artifacts/screenshots/collection-*.png."""
from __future__ import annotations

import io
import json
import re
import zipfile
from datetime import date

import pytest

from dsar import lifecycle
from dsar.actors import Actor
from dsar.extensions import db
from dsar.models.enums import IdentityMethod, Status
from dsar.services import actions, checklist, routing
from dsar.tokens import status_token
from tests.appdb import SYSTEMS_FILE, appdb  # noqa: F401 - the fixture
from tests.backoffice_support import staff_with_totp, totp_code
from tests.collection_support import run_jobs_of
from tests.factories import PASSWORD, make_professional, make_request

pytestmark = pytest.mark.browser


def _drain(app):
    with app.app_context():
        for _ in range(6):
            if not run_jobs_of(app):
                break


def test_dpo_counts_only_professional_withholds_and_releases_patient_downloads(live_server, page, appdb, mailbox,
                                                                              artifacts):
    app, base = live_server(DSAR_SYSTEMS=str(SYSTEMS_FILE))
    with app.app_context():
        policy = app.extensions["dsar_policy"]
        dpo, secret = staff_with_totp("dpo", email="dpo.collect@example.test", name="Dana DPO")
        req = make_request(policy=policy, status=Status.IDENTITY_REVIEW, email="alice@app.test",
                           first_name="Alice", last_name="Aubert")
        pro = make_professional(email="dr.martin@example.test", first_name="Jeanne", last_name="Martin")
        db.session.commit()
        lifecycle.accept_identity(req, Actor.for_staff(dpo), policy, method=IdentityMethod.DOCUMENT,
                                  received_on=date(2026, 3, 5))
        routing.route_to_professional(req, Actor.system(), pro)
        db.session.commit()
        reference, request_id, dpo_id = req.reference, req.id, dpo.id
        task_link = f"{base}/task/{routing.task_token(routing.live_task(req))}"
    _drain(app)
    withheld_body = "martin→alice 1"

    # The DPO: the collection panel shows counts and categories; no message, no document name.
    page.goto(f"{base}/backoffice/login")
    page.fill("#email", "dpo.collect@example.test")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.fill("#code", totp_code(secret))
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r".*/backoffice/$"))
    page.goto(f"{base}/backoffice/requests/{reference}")
    panel = page.locator(".collection-panel")
    text = panel.inner_text()
    assert "messages: 5 lignes" in text and "documents: 2 lignes" in text
    assert "scellé : contenu de santé partagé, décomptes seulement" in text
    body = page.content()
    assert "alice→martin" not in body and withheld_body not in body and "alice-bilan" not in body
    page.screenshot(path=str(artifacts / "collection-01-dpo-counts-only.png"), full_page=True)

    # The professional: from the task page to the review; withhold one message with a reason; release.
    pro_page = page.context.browser.new_context(locale="fr-FR").new_page()
    pro_page.goto(task_link)
    pro_page.click("#review-collected")
    pro_page.wait_for_url(re.compile(r".*/systems/review/.*"))
    assert pro_page.get_by_text("alice→martin 1").count() == 1
    row = pro_page.locator("tr", has_text=withheld_body)
    row.get_by_label("Motif").fill("Données d'un tiers (RGPD art. 15(4))")
    row.get_by_role("button", name="Retenir").click()
    pro_page.wait_for_url(re.compile(r".*/systems/review/[^/]+$"))
    assert "Retenu" in pro_page.locator("tr", has_text=withheld_body).inner_text()
    pro_page.screenshot(path=str(artifacts / "collection-02-professional-withholds.png"), full_page=True)
    pro_page.get_by_role("button", name="Libérer pour le patient").click()
    pro_page.wait_for_selector("[role=status]")
    pro_page.context.close()
    _drain(app)

    # Staff answer (the pack is ready); the patient downloads it.
    with app.app_context():
        from dsar.models import DataRequest, Staff

        req = db.session.get(DataRequest, request_id)
        staff = Actor.for_staff(db.session.get(Staff, dpo_id))
        # The checklist opened with the identity (services/checklist.py, on the lifecycle signal): the DPO ticks the
        # third-party check (GDPR art. 15(4)) of what the pack holds besides the professional's review.
        checklist.complete_step_by_key(req, staff, "check_third_party_data", note="pack checked")
        actions.answer(req, staff, outcome="granted", message="Voici vos données.")
        db.session.commit()
        status_link = f"{base}/status/{status_token(req)}"
        db.session.commit()  # the status link's salt
    _drain(app)
    mail = next(m for m in mailbox.wait_for(2) if m["To"] == "alice@app.test" and "/download/" in mailbox.text(m))
    download = re.search(r"(http://127\.0\.0\.1:\d+/download/\S+)", mailbox.text(mail)).group(1)
    patient = page.context.browser.new_context(locale="fr-FR").new_page()
    patient.goto(download)
    patient.fill("#field-status_link", status_link)
    patient.locator(".download-unlock button[type=submit]").click()
    patient.wait_for_load_state()
    patient.screenshot(path=str(artifacts / "collection-03-patient-unlocked.png"), full_page=True)
    patient.wait_for_selector("a[download]")
    zip_link = patient.locator("a[download]", has_text=".zip").first
    href = zip_link.get_attribute("href")
    patient.screenshot(path=str(artifacts / "collection-03-patient-download.png"), full_page=True)
    got = patient.request.get(href if href.startswith("http") else base + href)
    assert got.status == 200
    zf = zipfile.ZipFile(io.BytesIO(got.body()))
    bodies = [m["body"] for m in json.loads(zf.read("data/conversations/application-messages.json"))]
    assert withheld_body not in bodies and "alice→martin 1" in bodies
    patient.context.close()
