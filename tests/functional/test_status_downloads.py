"""The requester's one secret (issue 18): the status page lists the answer's files and downloads them directly
while the status secret and the link are valid; the emailed link says what to do in a browser without it."""
from __future__ import annotations

import hashlib
import html as html_lib
import re
from datetime import timedelta

import sqlalchemy as sa

from dsar.extensions import db
from dsar.models import Event, utcnow
from dsar.models.fulfilment import Download, DownloadLink
from dsar.services import actions
from dsar.tokens import status_token
from fulfilment_support import add_answer_files, new_request, staff_actor

LINK = re.compile(r"http://localhost(/download/[A-Za-z0-9_.\-]+)")
FILE_LINK = re.compile(r'href="(/status/[^"]+/answer/\d+/\d+)"')


def _answered(policy, mailbox, run_jobs):
    _, actor = staff_actor()
    req = new_request(policy, type="access")
    add_answer_files(req, actor, policy)
    token = status_token(req)
    actions.answer(req, actor, outcome="granted", message="Voici vos données.")
    db.session.commit()
    run_jobs()
    mail = next(m for m in mailbox.wait_for(1) if m["To"] == req.requester.email)
    return req, token, mail


def test_the_status_page_lists_the_answer_files_and_downloads_them(app, client, policy, mailbox, run_jobs):
    req, token, mail = _answered(policy, mailbox, run_jobs)
    page = client.get(f"/status/{token}")
    html = html_lib.unescape(page.get_data(as_text=True))
    assert "Utilisez le lien de notre email" not in html
    assert "Téléchargez les fichiers depuis cette page jusqu'au" in html
    link = db.session.get(DownloadLink, req.download_links[0].id)
    hrefs = FILE_LINK.findall(html)
    assert len(hrefs) == len(link.files) >= 1
    # A fresh browser with only the status secret in the address downloads each file: no second secret needed.
    fresh = app.test_client()
    for href, entry in zip(hrefs, link.files):
        assert f"Télécharger {entry['name']}" in html
        got = fresh.get(href)
        assert got.status_code == 200, got.get_data(as_text=True)[:300]
        assert hashlib.sha256(got.data).hexdigest() == entry["sha256"]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Download)) == len(link.files)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Event)
                             .where(Event.action == "answer_downloaded", Event.request_id == req.id)) == len(link.files)
    # The email says the files are on the status page too, and what to do in a browser without the status link.
    text = mailbox.text(mail)
    assert "directement depuis votre page de suivi" in text and "demande de coller votre lien de suivi" in text


def test_status_page_downloads_stop_with_the_link_or_a_wrong_secret(app, client, policy, mailbox, run_jobs):
    req, token, _ = _answered(policy, mailbox, run_jobs)
    link = db.session.get(DownloadLink, req.download_links[0].id)
    href = f"/status/{token}/answer/{link.id}/{link.files[0]['document_id']}"
    other = new_request(policy, type="access")
    db.session.commit()
    # Another request's status secret does not open this answer's files.
    assert client.get(f"/status/{status_token(other)}/answer/{link.id}/{link.files[0]['document_id']}").status_code == 404
    assert client.get(f"/status/forged.token.sig/answer/{link.id}/{link.files[0]['document_id']}").status_code == 400
    link.expires_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    r = client.get(href)
    assert r.status_code == 410 and "a expiré" in html_lib.unescape(r.get_data(as_text=True))
    page = html_lib.unescape(client.get(f"/status/{token}").get_data(as_text=True))
    assert not FILE_LINK.search(page) and "Le lien a expiré" in page


def test_the_emailed_link_in_a_browser_without_the_status_secret_says_what_to_do(app, client, policy, mailbox, run_jobs):
    req, token, mail = _answered(policy, mailbox, run_jobs)
    path = LINK.search(mailbox.text(mail)).group(1)
    html = html_lib.unescape(app.test_client().get(path).get_data(as_text=True))
    assert "Ouvrez ce lien dans ce navigateur, ou collez-le ci-dessous" in html
    # The same link in the browser that opened the status page goes straight to the files.
    client.get(f"/status/{token}")
    html = html_lib.unescape(client.get(path).get_data(as_text=True))
    assert 'name="status_link"' not in html and "Télécharger" in html
