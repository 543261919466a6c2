"""The requester in Chromium (issue 18): the status page shows where the request stands and downloads the answer's
files directly (one secret, not two); the keyboard focus outline stands out from white at 3:1 or more
(WCAG 1.4.11). A screenshot is kept as test-artifacts/screenshots/public-status-answer.png."""
from __future__ import annotations

import hashlib

import pytest

from dsar.extensions import db
from dsar.services import actions
from dsar.tokens import status_token
from fulfilment_support import add_answer_files, new_request, staff_actor

pytestmark = pytest.mark.browser


def _luminance(rgb: tuple[int, int, int]) -> float:
    def channel(c: int) -> float:
        c = c / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4
    r, g, b = (channel(c) for c in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a, b) -> float:
    hi, lo = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def test_the_requester_sees_the_progress_and_downloads_from_the_status_page(live_server, page, artifacts):
    app, base = live_server()
    with app.app_context():
        policy = app.extensions["dsar_policy"]
        _, actor = staff_actor()
        req = new_request(policy, type="access")
        add_answer_files(req, actor, policy)
        token = status_token(req)
        actions.answer(req, actor, outcome="granted", message="Voici vos données.")
        db.session.commit()
        files = list(req.download_links[0].files)

    page.goto(f"{base}/status/{token}")
    progress = page.get_by_role("list", name="Avancement de votre demande")
    assert progress.locator("li").count() == 4
    assert "Réponse envoyée" in progress.inner_text()
    page.screenshot(path=str(artifacts / "public-status-answer.png"), full_page=True)

    for entry in files:
        link = page.get_by_role("link", name=f"Télécharger {entry['name']}")
        with page.expect_download() as info:
            link.click()
        path = info.value.path()
        with open(path, "rb") as fh:
            assert hashlib.sha256(fh.read()).hexdigest() == entry["sha256"]

    # The focus outline of the link a keyboard user lands on: 3:1 or more against the white page (WCAG 1.4.11).
    first = page.get_by_role("link", name=f"Télécharger {files[0]['name']}")
    first.focus()
    color = first.evaluate("e => getComputedStyle(e).outlineColor")
    width = first.evaluate("e => parseFloat(getComputedStyle(e).outlineWidth)")
    rgb = tuple(int(x) for x in color[color.index("(") + 1:color.index(")")].split(",")[:3])
    assert width >= 2 and contrast(rgb, (255, 255, 255)) >= 3, (color, width)
