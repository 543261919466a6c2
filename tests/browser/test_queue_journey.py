"""Chromium (issue 18): the DPO sees the identity review first with how long it has waited, then selects two
requests of the queue and takes them with "assign to me"; the queue shows them assigned.
Screenshot: test-artifacts/screenshots/backoffice-queue-bulk.png."""
from __future__ import annotations

from datetime import timedelta

import pytest

from backoffice_support import add_identity_document, browser_sign_in, staff_with_totp
from dsar.extensions import db
from dsar.models import utcnow
from dsar.models.enums import Status
from factories import make_request

pytestmark = pytest.mark.browser


def test_identity_review_first_then_bulk_assign_to_me(live_server, page, artifacts):
    app, base = live_server()
    with app.app_context():
        policy = app.extensions["dsar_policy"]
        staff, secret = staff_with_totp("dpo", email="dpo.bulk@example.test", name="Dana Bulk")
        review = make_request(policy=policy, status=Status.IDENTITY_REVIEW)
        doc = add_identity_document(review, policy)
        doc.uploaded_at = utcnow() - timedelta(days=4, hours=1)
        a = make_request(policy=policy, status=Status.OPEN)
        b = make_request(policy=policy, status=Status.IN_PROGRESS)
        db.session.commit()
        refs = (review.reference, a.reference, b.reference)

    browser_sign_in(page, base, "dpo.bulk@example.test", secret)

    reviews = page.locator("#identity-reviews")
    assert reviews.is_visible() and refs[0] in reviews.inner_text() and "4 jours" in reviews.inner_text()
    assert reviews.bounding_box()["y"] < page.locator("table.queue").last.bounding_box()["y"]

    page.get_by_label(f"Sélectionner {refs[1]}").check()
    page.get_by_label(f"Sélectionner {refs[2]}").check()
    page.get_by_role("button", name="Me les attribuer").click()
    page.wait_for_selector(".flash")
    assert "2 demandes attribuées." in page.locator(".flash").first.inner_text()
    page.screenshot(path=str(artifacts / "backoffice-queue-bulk.png"), full_page=True)
    for ref in refs[1:]:
        assert "Dana Bulk" in page.locator(f'tr[data-reference="{ref}"]').last.inner_text()
